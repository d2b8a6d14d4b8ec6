package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/dsn"
)

// Environment variables read by the harness.
const (
	EnvPostgres   = "ROLLSAFE_TEST_POSTGRES"
	EnvMySQL      = "ROLLSAFE_TEST_MYSQL"
	EnvRequireDBs = "ROLLSAFE_TEST_REQUIRE_DBS"
)

// DB is a fresh database that belongs to one test.
type DB struct {
	*sql.DB
	// Dialect is the database family.
	Dialect dialect.Dialect
	// Driver is the database/sql driver name: "sqlite", "pgx" or "mysql".
	Driver string
	// DSN opens further pools on the same database (and, for PostgreSQL, the
	// same schema).
	DSN string
	// Name is the schema (PostgreSQL) or database (MySQL) created for the
	// test, or the file path (SQLite).
	Name string
}

// Open returns a pool on the same database as d. The pool is closed at the
// end of the test.
func (d *DB) Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.Driver, d.DSN)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", dsn.Redact(d.DSN), err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// New returns a fresh database of the given dialect, or skips (fails under
// ROLLSAFE_TEST_REQUIRE_DBS=1) when that dialect is not configured.
func New(t testing.TB, d dialect.Dialect) *DB {
	t.Helper()
	switch d {
	case dialect.SQLite:
		return NewSQLite(t)
	case dialect.Postgres:
		return NewPostgres(t)
	case dialect.MySQL:
		return NewMySQL(t)
	}
	t.Fatalf("testdb: %v", d.Validate())
	return nil
}

// Each runs fn as a subtest per dialect ("sqlite", "postgres", "mysql"), each
// with its own fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			fn(t, New(t, d))
		})
	}
}

// NewSQLite returns a fresh SQLite database in a file under t.TempDir(), with
// foreign keys on and a 5 s busy timeout.
func NewSQLite(t testing.TB) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	d := &DB{Dialect: dialect.SQLite, Driver: dialect.SQLite.Driver(), DSN: SQLiteDSN(path), Name: path}
	d.DB = d.Open(t)
	if err := d.PingContext(context.Background()); err != nil {
		t.Fatalf("testdb: sqlite %s: %v", path, err)
	}
	return d
}

// SQLiteDSN is the DSN the harness uses for a SQLite file: foreign keys on,
// a 5 s busy timeout, WAL journal.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

// NewPostgres returns a pool on a fresh schema of the PostgreSQL server named by
// ROLLSAFE_TEST_POSTGRES.
func NewPostgres(t testing.TB) *DB {
	t.Helper()
	base := unavailable(t, EnvPostgres)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		missing(t, "postgres %s: %v", dsn.Redact(base), err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		missing(t, "postgres %s does not answer: %v", dsn.Redact(base), err)
	}
	name := uniqueName()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("testdb: create schema %s: %v", name, err)
	}
	t.Cleanup(func() { dropPostgres(t, base, name) })
	d := &DB{Dialect: dialect.Postgres, Driver: dialect.Postgres.Driver(), DSN: dsn.WithSearchPath(base, name), Name: name}
	d.DB = d.Open(t)
	return d
}

func dropPostgres(t testing.TB, base, name string) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Errorf("testdb: drop schema %s: %v", name, err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
		t.Errorf("testdb: drop schema %s: %v", name, err)
	}
}

// NewMySQL returns a pool on a fresh database of the MySQL/MariaDB server named
// by ROLLSAFE_TEST_MYSQL. The DSN always has parseTime=true.
func NewMySQL(t testing.TB) *DB {
	t.Helper()
	base := unavailable(t, EnvMySQL)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("testdb: %s: %v", EnvMySQL, err) // a malformed DSN is a setup error, never a skip
	}
	cfg.ParseTime = true
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		missing(t, "mysql %s: %v", dsn.Redact(base), err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		missing(t, "mysql %s does not answer: %v", dsn.Redact(base), err)
	}
	name := uniqueName()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	adminDSN := cfg.FormatDSN()
	t.Cleanup(func() { dropMySQL(t, adminDSN, name) })
	cfg.DBName = name
	d := &DB{Dialect: dialect.MySQL, Driver: dialect.MySQL.Driver(), DSN: cfg.FormatDSN(), Name: name}
	d.DB = d.Open(t)
	return d
}

func dropMySQL(t testing.TB, adminDSN, name string) {
	admin, err := sql.Open("mysql", adminDSN)
	if err != nil {
		t.Errorf("testdb: drop database %s: %v", name, err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Errorf("testdb: drop database %s: %v", name, err)
	}
}

// unavailable returns the DSN in env, or skips/fails the test when it is empty.
func unavailable(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		missing(t, "%s is not set", env)
	}
	return v
}

// Required reports whether ROLLSAFE_TEST_REQUIRE_DBS asks for every database.
func Required() bool {
	v := os.Getenv(EnvRequireDBs)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "testdb: " + fmt.Sprintf(format, args...)
	if Required() {
		t.Fatal(msg + " (" + EnvRequireDBs + " is set)")
	}
	t.Skip(msg)
}

// uniqueName returns an identifier that is valid unquoted on every dialect.
func uniqueName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return "rs_test_" + hex.EncodeToString(b[:])
}
