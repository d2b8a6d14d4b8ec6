// Package dbtx holds what every package that owns tables does the same way:
// create them once under a lock of the database, run a transaction, and try
// again when SQLite says it is busy.
package dbtx

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// Execer runs statements: a *sql.DB, *sql.Tx or *sql.Conn.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// BusyAttempts is how many times RetryBusy runs fn on SQLite.
const BusyAttempts = 20

// Ensure runs create (the DDL of a package's tables, idempotent) so that
// instances starting together do not race on the catalog: in one
// transaction under an advisory lock on PostgreSQL, on one connection under
// a named lock on MySQL (its DDL commits at once), in one transaction on
// SQLite, whose write lock serializes instances, retried while busy. name
// names the lock; it is qualified by the schema or database.
func Ensure(ctx context.Context, db *sql.DB, d dialect.Dialect, name string, create func(context.Context, Execer) error) error {
	switch d {
	case dialect.Postgres:
		return InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || '.' || current_schema()))`, name); err != nil {
				return err
			}
			return create(ctx, tx)
		})
	case dialect.MySQL:
		return ensureMySQL(ctx, db, name, create)
	}
	return RetryBusy(ctx, d, func() error {
		return InTx(ctx, db, func(tx *sql.Tx) error { return create(ctx, tx) })
	})
}

func ensureMySQL(ctx context.Context, db *sql.DB, name string, create func(context.Context, Execer) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	// A lock name holds 64 characters, a database name as many: hashed.
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT(?, '.', SHA1(DATABASE())), 30)`, name).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return errors.New("another instance held the schema lock " + name + " for 30s")
	}
	defer func() {
		if _, relErr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(CONCAT(?, '.', SHA1(DATABASE())))`, name); relErr != nil && err == nil {
			err = relErr
		}
	}()
	return create(ctx, conn)
}

// InTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// RetryBusy runs fn until it succeeds, fails with anything but SQLite's
// busy error, or has run BusyAttempts times; on other dialects it runs fn
// once. A SQLite transaction that read before it writes cannot wait for the
// write lock (SQLite answers busy at once, whatever the busy timeout), so
// its caller tries again.
func RetryBusy(ctx context.Context, d dialect.Dialect, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || d != dialect.SQLite || !IsBusy(err) || attempt == BusyAttempts {
			return err
		}
		if Pause(ctx, attempt) != nil {
			return err
		}
	}
}

// Pause waits a little longer at each attempt, or until ctx ends.
func Pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsBusy says whether err is SQLite's "database is locked".
func IsBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}
