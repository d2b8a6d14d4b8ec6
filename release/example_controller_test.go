package release_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/release"
)

// A release started, then aborted by a person: every flag of the plan is
// back on its baseline in one change of the store, with the release id on
// it. In a service, Controller.Run drives the steps in between.
func ExampleController() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "release-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	store, _ := flagstore.New(db, dialect.SQLite)
	_, err = store.Import(ctx, []byte(`{"flags": {"checkout-v2": {"state": "ENABLED",
		"variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`),
		flagstore.Change{Actor: "setup", Reason: "the new checkout ships dark"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctl, err := release.NewController(db, dialect.SQLite, store, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := release.ParsePlan([]byte(`
id: checkout-v2
flags: [{key: checkout-v2, baseline: "off", canary: "on"}]
steps:
  - weights: {checkout-v2: 10}
  - weights: {checkout-v2: 100}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := ctl.Start(ctx, plan, "alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.State, "attempt", st.Attempt, "step", st.Step)

	if err := ctl.Abort(ctx, "checkout-v2", "bob", "pager went off"); err != nil {
		fmt.Println(err)
		return
	}
	st, _ = ctl.Status(ctx, "checkout-v2")
	fmt.Println(st.State, st.Outcome)
	recs, _ := store.History(ctx, flagstore.Filter{ReleaseID: "checkout-v2"})
	fmt.Println(len(recs), "change:", recs[0].Actor, recs[0].Keys)
	// Output:
	// Progressing attempt 1 step -1
	// RolledBack bob: pager went off
	// 1 change: bob [checkout-v2]
}
