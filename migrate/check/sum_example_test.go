package check_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rollsafe/rollsafe/migrate/check"
)

// A release ships: its migrations are hashed into rollsafe.sum. Later, one of
// them is edited by mistake, and the check says so.
func ExampleVerifySums() {
	dir, err := os.MkdirTemp("", "migrations")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	up := "-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n"
	if err := os.WriteFile(filepath.Join(dir, "00001_users.sql"), []byte(up), 0o644); err != nil {
		panic(err)
	}

	n, err := check.WriteSums(dir)
	if err != nil {
		panic(err)
	}
	fmt.Println("hashed", n, "migration")

	edited := up + "CREATE INDEX users_by_id ON users (id);\n"
	if err := os.WriteFile(filepath.Join(dir, "00001_users.sql"), []byte(edited), 0o644); err != nil {
		panic(err)
	}
	findings, err := check.VerifySums(os.DirFS(dir))
	if err != nil {
		panic(err)
	}
	for _, f := range findings {
		fmt.Println(f.Severity, f.Code, f.Source)
	}
	// Output:
	// hashed 1 migration
	// error sum_changed 00001_users.sql
}
