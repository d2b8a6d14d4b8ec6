package release_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/release"
)

// A service tracks each Switch whose flag a release may move, and runs the
// Recorder beside its work; here two explicit Flushes stand for two of
// Run's ticks.
func ExampleRecorder() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "recorder-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// The flag and the Switch that guards the new checkout.
	set, err := flags.Parse([]byte(`{"flags": {"new-checkout": {"state": "ENABLED",
	  "variants": {"on": true, "off": false}, "defaultVariant": "off",
	  "targeting": {"if": [{"in": [{"var": "country"}, ["NL", "BE"]]}, "on", "off"]}}}}`))
	if err != nil {
		log.Fatal(err)
	}
	provider, err := flags.NewProvider(flags.NewMemorySource(set))
	if err != nil {
		log.Fatal(err)
	}
	api := isolated.NewAPI()
	defer func() { _ = api.Shutdown(ctx) }()
	if err := api.SetProviderAndWait(ctx, provider); err != nil {
		log.Fatal(err)
	}
	checkout, err := flags.NewSwitch[string](api.NewClient(), "new-checkout")
	if err != nil {
		log.Fatal(err)
	}

	// In a service: the fleet membership's ID, and go rec.Run(ctx).
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec, err := release.NewRecorder(db, dialect.SQLite, "instance-1",
		release.WithRecorderClock(func() time.Time { return now }))
	if err != nil {
		log.Fatal(err)
	}
	if err := rec.Track(checkout); err != nil {
		log.Fatal(err)
	}
	if err := rec.Flush(ctx); err != nil { // creates the tables
		log.Fatal(err)
	}
	// What a Controller does when release "checkout-v2" starts.
	if _, err := db.ExecContext(ctx, `INSERT INTO rollsafe_release_flags (flag_key, release_id) VALUES ('new-checkout', 'checkout-v2')`); err != nil {
		log.Fatal(err)
	}
	if err := rec.Flush(ctx); err != nil { // the release's starting point
		log.Fatal(err)
	}

	newPath := func(context.Context) (string, error) { return "new checkout", nil }
	oldPath := func(context.Context) (string, error) { return "old checkout", nil }
	for _, country := range []string{"NL", "FR", "BE", "DE", "DE"} {
		evalCtx := openfeature.NewTargetlessEvaluationContext(map[string]any{"country": country})
		if _, err := checkout.Run(ctx, evalCtx, newPath, oldPath); err != nil {
			log.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	if err := rec.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	rows, err := db.QueryContext(ctx, `SELECT arm, calls, end_ms - start_ms FROM rollsafe_release_samples ORDER BY arm`)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var arm string
		var calls, ms int64
		if err := rows.Scan(&arm, &calls, &ms); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d calls in %d ms\n", arm, calls, ms)
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// baseline: 3 calls in 1000 ms
	// canary: 2 calls in 1000 ms
}
