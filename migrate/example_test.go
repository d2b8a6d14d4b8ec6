package migrate_test

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the "sqlite" driver; the migrate package imports none

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate"
)

//go:embed testdata/runner/*.sql
var exampleMigrations embed.FS

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rollsafe-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	migrations, err := fs.Sub(exampleMigrations, "testdata/runner")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := migrate.New(db, dialect.SQLite, migrations)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ready before:", errors.Is(r.Ready(ctx), migrate.ErrPending))

	applied, err := r.Up(ctx) // under the lock: other instances wait, then find nothing to do
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, res := range applied {
		fmt.Println(res.Direction, res.Name())
	}
	v, err := r.Version(ctx)
	fmt.Println("version:", v, err)
	fmt.Println("ready after:", r.Ready(ctx))

	// A rollback stops above a migration marked irreversible.
	_, err = r.DownTo(ctx, 1)
	var irr *migrate.IrreversibleError
	if errors.As(err, &irr) {
		fmt.Println("refused:", irr.Migration.Name(), "-", irr.Migration.Irreversible)
	}
	// Output:
	// ready before: true
	// up 00001_create_users.sql
	// up 00002_add_users_name.sql
	// up 00003_purge_unverified.sql
	// version: 3 <nil>
	// ready after: <nil>
	// refused: 00003_purge_unverified.sql - deletes unverified sign-ups; a down cannot bring them back
}

func ExampleWithGoMigrations() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rollsafe-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	migrations := fstest.MapFS{
		"00001_plans.sql": {Data: []byte("-- +goose Up\nCREATE TABLE plans (name TEXT PRIMARY KEY, cents INTEGER NOT NULL);\n" +
			"-- +goose Down\nDROP TABLE plans;\n")},
	}
	seed := goose.NewGoMigration(2,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO plans VALUES ('free', 0), ('pro', 900)")
			return err
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM plans")
			return err
		}})
	r, err := migrate.New(db, dialect.SQLite, migrations, migrate.WithGoMigrations(seed))
	if err != nil {
		fmt.Println(err)
		return
	}
	applied, err := r.Up(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, res := range applied {
		fmt.Println(res.Direction, res.Type, res.Name())
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM plans").Scan(&n); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("plans:", n)
	// Output:
	// up sql 00001_plans.sql
	// up go version 2
	// plans: 2
}
