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

// exampleDB opens a SQLite database in a temporary directory; done removes it.
func exampleDB() (db *sql.DB, done func(), err error) {
	dir, err := os.MkdirTemp("", "rollsafe-example")
	if err != nil {
		return nil, nil, err
	}
	db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }, nil
}

// A migration that fails where its statements commit by themselves (here a
// NO TRANSACTION migration; on MySQL any migration with DDL) stays on record
// as failed: Up will not run it over what it left until it is repaired.
func ExampleRunner_Repair() {
	ctx := context.Background()
	db, done, err := exampleDB()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	broken := fstest.MapFS{
		"00001_accounts.sql": {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\n" +
			"CREATE TABLE accounts (id INTEGER PRIMARY KEY);\nINSERT INTO acounts VALUES (1);\n" +
			"-- +goose Down\nDROP TABLE accounts;\n")},
	}
	r, err := migrate.New(db, dialect.SQLite, broken)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = r.Up(ctx)
	var pe *migrate.PartialError
	fmt.Println("failed and recorded:", errors.As(err, &pe) && pe.Recorded)

	st, err := r.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st[0].Name(), st[0].State, st[0].Attempt.Statements)
	_, err = r.Up(ctx)
	fmt.Println("up again needs repair:", errors.Is(err, migrate.ErrNeedsRepair))

	// The operator undoes what ran, fixes the file, and marks it pending.
	if _, err := db.ExecContext(ctx, "DROP TABLE accounts"); err != nil {
		fmt.Println(err)
		return
	}
	fixed := fstest.MapFS{
		"00001_accounts.sql": {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\n" +
			"CREATE TABLE accounts (id INTEGER PRIMARY KEY);\nINSERT INTO accounts VALUES (1);\n" +
			"-- +goose Down\nDROP TABLE accounts;\n")},
	}
	if r, err = migrate.New(db, dialect.SQLite, fixed); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Repair(ctx, 1, migrate.Pending); err != nil {
		fmt.Println(err)
		return
	}
	applied, err := r.Up(ctx)
	fmt.Println("applied:", len(applied), err)
	// Output:
	// failed and recorded: true
	// 00001_accounts.sql failed [CREATE TABLE accounts (id INTEGER PRIMARY KEY); INSERT INTO acounts VALUES (1);]
	// up again needs repair: true
	// applied: 1 <nil>
}

// The Runner records the SHA-256 of every file it applies: a database
// migrated from other files is reported, and WithStrict refuses it.
func ExampleWithStrict() {
	ctx := context.Background()
	db, done, err := exampleDB()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	shipped := fstest.MapFS{"00001_users.sql": {Data: []byte("-- +goose Up\nCREATE TABLE users (id INTEGER);\n-- +goose Down\nDROP TABLE users;\n")}}
	r, err := migrate.New(db, dialect.SQLite, shipped)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := r.Up(ctx); err != nil {
		fmt.Println(err)
		return
	}

	edited := fstest.MapFS{"00001_users.sql": {Data: []byte("-- +goose Up\nCREATE TABLE users (id INTEGER, email TEXT);\n-- +goose Down\nDROP TABLE users;\n")}}
	strict, err := migrate.New(db, dialect.SQLite, edited, migrate.WithStrict())
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := strict.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st[0].Name(), st[0].State, "changed:", st[0].Changed)
	_, err = strict.Up(ctx)
	fmt.Println("refused:", errors.Is(err, migrate.ErrChanged))
	// Output:
	// 00001_users.sql applied changed: true
	// refused: true
}

// New's errors can be told apart with errors.Is.
func ExampleNew_errors() {
	db, done, err := exampleDB()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	bad := fstest.MapFS{"00001_x.sql": {Data: []byte("-- rollsafe:irreversible\n-- +goose Up\nSELECT 1;\n")}}
	_, err = migrate.New(db, dialect.SQLite, bad)
	fmt.Println("annotation:", errors.Is(err, migrate.ErrAnnotation))
	_, err = migrate.New(db, dialect.SQLite, fstest.MapFS{})
	fmt.Println("no migrations:", errors.Is(err, migrate.ErrNoMigrations))
	var none dialect.Dialect
	_, err = migrate.New(db, none, bad)
	fmt.Println("no dialect:", errors.Is(err, dialect.ErrUnknown))
	// Output:
	// annotation: true
	// no migrations: true
	// no dialect: true
}
