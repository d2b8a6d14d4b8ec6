package pglisten_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"log/slog"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated" // the service's own driver for its *sql.DB

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/flagstore/pglisten"
)

// A service on PostgreSQL: the flag store in its own database, a Listener
// beside it so that a change reaches this instance the moment it is
// committed. (No output: it needs a server.)
func Example() {
	dsn := os.Getenv("DATABASE_URL")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	listener, err := pglisten.New(dsn, pglisten.WithLogger(slog.Default()))
	if err != nil {
		log.Fatal(err)
	}
	store, err := flagstore.New(db, dialect.Postgres, flagstore.WithNotifier(listener))
	if err != nil {
		log.Fatal(err)
	}
	provider, err := flags.NewProvider(store)
	if err != nil {
		log.Fatal(err)
	}
	// Registering the provider starts the store's watch, and with it the
	// listening connection; shutting the API down stops both.
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(context.Background(), provider); err != nil {
		log.Print(err) // it turns READY when the database answers
	}
	defer func() { _ = api.Shutdown(context.Background()) }()

	client := api.NewClient()
	on, _ := client.BooleanValue(context.Background(), "orders-summary-v2", false, openfeature.EvaluationContext{})
	fmt.Println("new path:", on)
}

// A connection string that does not parse is refused at once, and the
// error never shows its password.
func ExampleNew() {
	_, err := pglisten.New("postgres://app:s3cr3t-pw@db.internal:5432/app?sslmode=sometimes")
	fmt.Println(err)
	// Output:
	// pglisten: New: connection string postgres://app:xxxxx@db.internal:5432/app?sslmode=sometimes: cannot parse `postgres://app:xxxxx@db.internal:5432/app?sslmode=sometimes`: failed to configure TLS (sslmode is invalid)
}
