package check_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing/fstest"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// Checking a directory of goose SQL migrations from a Go test or program.
func ExampleRun() {
	rep, err := check.Run(context.Background(), os.DirFS("testdata/clean"))
	if err != nil {
		fmt.Println("could not run:", err)
		return
	}
	for _, m := range rep.Migrations {
		fmt.Println(m.Source, "reversible:", m.Reversible, "findings:", len(m.Findings))
	}
	fmt.Println("ok:", rep.OK)
	// Output:
	// 00001_users.sql reversible: true findings: 0
	// 00002_orders.sql reversible: true findings: 0
	// 00003_add_phone.sql reversible: true findings: 0
	// 00004_view_and_trigger.sql reversible: true findings: 0
	// 00005_audit.sql reversible: true findings: 0
	// ok: true
}

// A down that forgets an index: the finding names the file and the index.
func ExampleRun_finding() {
	fsys := fstest.MapFS{
		"00001_orders.sql": {Data: []byte(`-- +goose Up
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);
-- +goose Down
DROP TABLE orders;
`)},
		"00002_index.sql": {Data: []byte(`-- +goose Up
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id);
-- +goose Down
SELECT 1;
`)},
	}
	rep, err := check.Run(context.Background(), fsys)
	if err != nil {
		fmt.Println("could not run:", err)
		return
	}
	for _, f := range rep.All() {
		fmt.Println(f.Severity, f.Code)
		fmt.Println(f.Message)
	}
	// Output:
	// error schema_not_restored
	// 00002_index.sql: down did not restore the schema: index orders.orders_by_user: left behind by down
}

// The canonical text of a snapshot, and a diff between two.
func ExampleDiff() {
	before := &check.Snapshot{Dialect: dialect.SQLite, Tables: []check.Table{{
		Name:    "users",
		Columns: []check.Column{{Name: "id", Type: "integer"}, {Name: "email", Type: "text"}},
	}}}
	after := &check.Snapshot{Dialect: dialect.SQLite, Tables: []check.Table{{
		Name:    "users",
		Columns: []check.Column{{Name: "id", Type: "integer"}, {Name: "email", Type: "text"}},
		Indexes: []check.Index{{Name: "users_by_email", Unique: true, Parts: []string{"email"}}},
	}}}
	fmt.Print(after)
	fmt.Print(check.DescribeDiff(check.Diff(before, after), "down"))
	// Output:
	// dialect sqlite
	// table users
	//   column id integer not null
	//   column email text not null
	//   index users_by_email unique (email)
	// index users.users_by_email: left behind by down
}

// On a PostgreSQL server: the check creates a schema of its own there and
// drops it at the end. The program imports the driver (pgx) itself.
func ExampleWithDatabase() {
	adminDSN := os.Getenv("ROLLSAFE_TEST_POSTGRES") // e.g. postgres://ci@db:5432/postgres
	if adminDSN == "" {
		return
	}
	rep, err := check.Run(context.Background(), os.DirFS("testdata/postgres/clean"),
		check.WithDatabase(dialect.Postgres, adminDSN))
	if err != nil {
		fmt.Println("could not run:", err)
		return
	}
	fmt.Println(rep.Dialect, rep.OK)
}

// The JSON form of a report, as "rollsafe migrate check --format json"
// prints it: the dialect and the codes are strings.
func ExampleReport() {
	fsys := fstest.MapFS{
		"00001_users.sql": {Data: []byte("-- +goose Up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\n-- +goose Down\n")},
	}
	rep, err := check.Run(context.Background(), fsys, check.WithCompat(false))
	if err != nil {
		fmt.Println("could not run:", err)
		return
	}
	out, err := json.Marshal(rep)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// {"ok":false,"dialect":"sqlite","migrations":[{"version":1,"source":"00001_users.sql","reversible":false,"findings":[{"code":"down_missing","severity":"error","message":"00001_users.sql: has an empty down section; mark it -- rollsafe:irreversible reason=\"...\" if it cannot be undone"}]}]}
}
