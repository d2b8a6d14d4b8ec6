package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// sqliteLocker takes the migration lock of a SQLite database by writing the
// row of a rollsafe_lock table and keeping that write transaction open for
// the whole call: SQLite lets one writer at a time, so every other locker
// waits (busy_timeout) until the transaction ends, and a process that dies
// releases it with its file locks.
//
// The table lives in a side file, DB.rollsafe-lock, attached to the lock's
// own connection: an open write transaction on the database itself would
// block the migrations it protects, which run on another connection. The
// lock's connection touches nothing of the main database while it holds the
// lock, so it holds no lock there either (with or without WAL).
//
// The connection's busy_timeout is lowered while waiting so that ctx is
// honoured within lockPollMillis, and restored afterwards.
type sqliteLocker struct {
	attached  bool
	inTx      bool
	busyPrev  int
	memory    bool
	restoreBT bool
}

const (
	sqliteLockSchema = "rollsafe_migrate_lock"
	sqliteLockSuffix = ".rollsafe-lock"
	lockPollMillis   = 100
	sqliteRetryPause = 5 * time.Millisecond
)

func (l *sqliteLocker) SessionLock(ctx context.Context, conn *sql.Conn) (err error) {
	file, err := sqliteMainFile(ctx, conn)
	if err != nil {
		return lockErr(ctx, "reading the database file name", err)
	}
	if file == "" {
		// An in-memory or temporary database: no other process can open
		// it, so there is nobody to exclude.
		l.memory = true
		return nil
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.release(context.WithoutCancel(ctx), conn))
		}
	}()
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&l.busyPrev); err != nil {
		return lockErr(ctx, "reading busy_timeout", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", lockPollMillis)); err != nil {
		return lockErr(ctx, "setting busy_timeout", err)
	}
	l.restoreBT = true
	owner := fmt.Sprintf("pid %d", os.Getpid())
	for {
		err := l.try(ctx, conn, file+sqliteLockSuffix, owner)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !sqliteBusy(err) {
			return lockErr(ctx, "taking the lock row in "+file+sqliteLockSuffix, err)
		}
		// Most attempts have already waited busy_timeout; a pause keeps
		// those that fail at once (SQLITE_LOCKED in shared-cache mode) from
		// spinning.
		pause := time.NewTimer(sqliteRetryPause)
		select {
		case <-ctx.Done():
			pause.Stop()
			return lockErr(ctx, "taking the lock row in "+file+sqliteLockSuffix, ctx.Err())
		case <-pause.C:
		}
	}
}

// try makes one attempt to write the lock row, leaving the transaction open
// when it succeeds.
func (l *sqliteLocker) try(ctx context.Context, conn *sql.Conn, lockFile, owner string) error {
	if !l.attached {
		// Attaching reads schemas, which a writer committing in
		// rollback-journal mode can make busy for a moment: retried too.
		if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS "+sqliteLockSchema, lockFile); err != nil {
			return err
		}
		l.attached = true
	}
	_, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+sqliteLockSchema+".rollsafe_lock ("+
		"id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, acquired_at TEXT NOT NULL)")
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	l.inTx = true
	_, err = conn.ExecContext(ctx, "INSERT OR REPLACE INTO "+sqliteLockSchema+".rollsafe_lock (id, owner, acquired_at) "+
		"VALUES (1, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", owner)
	if err != nil {
		_, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if rbErr == nil {
			l.inTx = false
		}
		return errors.Join(err, rbErr)
	}
	return nil
}

func (l *sqliteLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if l.memory {
		return nil
	}
	if !l.inTx {
		return errNotHeld
	}
	return l.release(ctx, conn)
}

// release ends the transaction (the row was never meant to be kept), detaches
// the side file and restores busy_timeout, as far as each was done.
func (l *sqliteLocker) release(ctx context.Context, conn *sql.Conn) error {
	var errs []error
	if l.inTx {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			errs = append(errs, fmt.Errorf("releasing the migration lock: %w", err))
		} else {
			l.inTx = false
		}
	}
	if l.attached {
		if _, err := conn.ExecContext(ctx, "DETACH DATABASE "+sqliteLockSchema); err != nil {
			errs = append(errs, fmt.Errorf("detaching the lock file: %w", err))
		} else {
			l.attached = false
		}
	}
	if l.restoreBT {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", l.busyPrev)); err != nil {
			errs = append(errs, fmt.Errorf("restoring busy_timeout: %w", err))
		} else {
			l.restoreBT = false
		}
	}
	if len(errs) > 0 {
		// Do not hand a connection in an unknown state back to the pool.
		errs = append(errs, discardConn(conn))
	}
	return errors.Join(errs...)
}

// sqliteMainFile returns the file of the connection's main database, "" for
// an in-memory or temporary one.
func sqliteMainFile(ctx context.Context, conn *sql.Conn) (string, error) {
	rows, err := conn.QueryContext(ctx, "PRAGMA database_list")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name string
		var file sql.NullString
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", err
		}
		if name == "main" {
			return file.String, rows.Close()
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no main database")
}

// sqliteBusy reports SQLITE_BUSY or SQLITE_LOCKED, from drivers that expose
// the result code (modernc.org/sqlite) or only the message.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		if c := coded.Code() & 0xff; c == 5 || c == 6 {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "database table is locked")
}
