package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/rollsafe/rollsafe/dialect"
)

// The lockers below block until the lock is free or the context ends, and
// derive their lock id from the database (and schema) they are connected to,
// so that services sharing a server never wait for one another. goose's own
// lockers poll every few seconds with one fixed id, and it has none for
// SQLite.
//
// A Runner takes the lock on a connection of its own and lets goose work on
// another, so that the lock covers the whole call (goose reads the applied
// versions, decides, then applies) and Down can check for irreversible
// migrations under the same lock.
var (
	_ lock.SessionLocker = (*postgresLocker)(nil)
	_ lock.SessionLocker = (*mysqlLocker)(nil)
	_ lock.SessionLocker = (*sqliteLocker)(nil)
)

// unlockTimeout bounds a release, or the record of what a call did, that
// runs after the caller's context ended.
const unlockTimeout = 30 * time.Second

// bookkeeping is the context of what must be written after a migration
// whether or not the caller's context ended (the most common failure is a
// cancelled one: Ctrl-C, a deploy's timeout): ctx without its cancellation,
// bounded by unlockTimeout.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
}

// newLocker returns the locker for d. The lock follows the version table:
// a schema-qualified table ("app.goose_db_version") is locked in that schema
// (PostgreSQL) or database (MySQL), whatever the connection's default.
func newLocker(d dialect.Dialect, table string) lock.SessionLocker {
	qualifier, _, qualified := strings.Cut(table, ".")
	if !qualified {
		qualifier = ""
	}
	switch d {
	case dialect.Postgres:
		return &postgresLocker{schema: qualifier}
	case dialect.MySQL:
		return &mysqlLocker{database: qualifier}
	}
	return &sqliteLocker{}
}

// A Runner's statements run on goose's connection, not on the lock's. When a
// runner dies (SIGKILL), the server ends its idle lock session at once, but
// a statement still running on goose's session runs on until it completes:
// a second runner taking the lock then would run beside it. So goose's
// session holds a second lock, the "running" lock, while it migrates, and a
// runner that has taken the migration lock takes and releases the running
// lock before it reads anything: it waits until every session of an earlier
// holder has ended. SQLite needs none: a dead process's statements die with
// it.
const runningPurpose = "running"

// newRunningLocker returns the locker of the running lock, nil for SQLite.
func newRunningLocker(d dialect.Dialect, table string) runningLocker {
	qualifier, _, qualified := strings.Cut(table, ".")
	if !qualified {
		qualifier = ""
	}
	switch d {
	case dialect.Postgres:
		return &postgresLocker{schema: qualifier, purpose: runningPurpose}
	case dialect.MySQL:
		return &mysqlLocker{database: qualifier, purpose: runningPurpose}
	}
	return nil
}

// runningLocker is a SessionLocker that can also try without waiting.
type runningLocker interface {
	lock.SessionLocker
	// TryLock takes the lock if it is free and reports whether it did.
	TryLock(ctx context.Context, conn *sql.Conn) (bool, error)
}

// markKey carries, in the context of a locked call, the running lock that
// goose's session holds (see gooseMarker).
type markKey struct{}

type mark struct {
	d     dialect.Dialect
	table string
	held  runningLocker
}

// gooseMarker is the SessionLocker given to goose: on the connection goose
// migrates with, it takes the running lock, but only within a call that
// holds the migration lock (Status and Version, which goose also locks, do
// not wait for it).
type gooseMarker struct{}

func (gooseMarker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	m, ok := ctx.Value(markKey{}).(*mark)
	if !ok {
		return nil
	}
	l := newRunningLocker(m.d, m.table)
	if err := l.SessionLock(ctx, conn); err != nil {
		return err
	}
	m.held = l
	return nil
}

func (gooseMarker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	m, ok := ctx.Value(markKey{}).(*mark)
	if !ok || m.held == nil {
		return nil
	}
	l := m.held
	m.held = nil
	// goose returns conn to the pool whatever this returns: a lock left on
	// it would make every later runner wait for ever. Bound the release
	// (goose gives no deadline), and if it fails, close the session, which
	// releases every lock it holds.
	uctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := l.SessionUnlock(uctx, conn); err != nil {
		return errors.Join(err, discardConn(conn))
	}
	return nil
}

// waitForEarlierRunner takes and releases the running lock on conn: it
// returns once no session of an earlier runner runs statements.
func (r *Runner) waitForEarlierRunner(ctx context.Context, conn *sql.Conn) error {
	l := newRunningLocker(r.dialect, r.cfg.table)
	if l == nil {
		return nil
	}
	got, err := l.TryLock(ctx, conn)
	if err != nil {
		return err
	}
	if !got {
		r.cfg.log.InfoContext(ctx, "statements of an earlier migration session still run on the server; waiting for them to end")
		if err := l.SessionLock(ctx, conn); err != nil {
			return err
		}
	}
	return l.SessionUnlock(ctx, conn)
}

// lockKey hashes the names that identify a database (and schema).
func lockKey(parts ...string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("rollsafe/migrate")) // hash.Hash.Write never fails
	for _, p := range parts {
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(p))
	}
	return h.Sum64()
}

// lockErr turns a failed lock query into the context's error when the
// context ended, and into ErrLockUnavailable otherwise.
func lockErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for the migration lock: %w", context.Cause(ctx))
	}
	return fmt.Errorf("%w: %s: %w", ErrLockUnavailable, what, err)
}

// postgresLocker holds a session-level advisory lock whose key is derived
// from current_database() and current_schema(): one lock per schema, since
// goose's version table lives in the current schema.
type postgresLocker struct {
	schema  string // "" for current_schema()
	purpose string // "" for the migration lock
	key     int64
}

func (l *postgresLocker) setKey(ctx context.Context, conn *sql.Conn) error {
	var dbName, schema string
	err := conn.QueryRowContext(ctx, "SELECT current_database(), COALESCE(current_schema(), '')").Scan(&dbName, &schema)
	if err != nil {
		return lockErr(ctx, "reading the current database", err)
	}
	if l.schema != "" {
		schema = l.schema
	}
	parts := []string{"postgres", dbName, schema}
	if l.purpose != "" {
		parts = append(parts, l.purpose)
	}
	l.key = int64(lockKey(parts...))
	return nil
}

func (l *postgresLocker) TryLock(ctx context.Context, conn *sql.Conn) (bool, error) {
	if err := l.setKey(ctx, conn); err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		return false, lockErr(ctx, "pg_try_advisory_lock", err)
	}
	return got, nil
}

func (l *postgresLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if err := l.setKey(ctx, conn); err != nil {
		return err
	}
	// pg_advisory_lock waits in the server; the driver cancels the query
	// when ctx ends.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", l.key); err != nil {
		if ctx.Err() != nil {
			// The cancel may have raced with the grant: release in case.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			if _, uerr := conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", l.key); uerr != nil {
				// The lock may be held: end the session rather than let
				// the pool keep it.
				_ = discardConn(conn) // the lock's own error is the one to report
			}
			cancel()
		}
		return lockErr(ctx, "pg_advisory_lock", err)
	}
	return nil
}

func (l *postgresLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.key).Scan(&released); err != nil {
		return fmt.Errorf("releasing the migration lock: %w", err)
	}
	if !released {
		return fmt.Errorf("releasing the migration lock: advisory lock %d was not held", l.key)
	}
	return nil
}

// mysqlLocker holds a named lock (GET_LOCK) per database. GET_LOCK waits in
// the server for at most its timeout, so the locker asks again every second
// until the lock is granted or ctx ends.
type mysqlLocker struct {
	database string // "" for DATABASE()
	purpose  string // "" for the migration lock
	name     string
}

// mysqlLockNameMax is the longest lock name MySQL and MariaDB accept.
const mysqlLockNameMax = 64

func (l *mysqlLocker) setName(ctx context.Context, conn *sql.Conn) error {
	dbName := sql.NullString{String: l.database, Valid: l.database != ""}
	if !dbName.Valid {
		if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
			return lockErr(ctx, "reading the current database", err)
		}
	}
	prefix, parts := "rollsafe.migrate.", []string{"mysql", dbName.String}
	if l.purpose != "" {
		prefix = "rollsafe." + l.purpose + "."
		parts = append(parts, l.purpose)
	}
	l.name = prefix + dbName.String
	if len(l.name) > mysqlLockNameMax {
		l.name = prefix + strconv.FormatUint(lockKey(parts...), 16)
	}
	return nil
}

func (l *mysqlLocker) TryLock(ctx context.Context, conn *sql.Conn) (bool, error) {
	if err := l.setName(ctx, conn); err != nil {
		return false, err
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", l.name).Scan(&got); err != nil {
		return false, lockErr(ctx, "GET_LOCK", err)
	}
	if !got.Valid {
		return false, fmt.Errorf("%w: GET_LOCK(%q) returned NULL", ErrLockUnavailable, l.name)
	}
	return got.Int64 == 1, nil
}

func (l *mysqlLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if err := l.setName(ctx, conn); err != nil {
		return err
	}
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 1)", l.name).Scan(&got); err != nil {
			return lockErr(ctx, "GET_LOCK", err)
		}
		switch {
		case !got.Valid:
			return fmt.Errorf("%w: GET_LOCK(%q) returned NULL", ErrLockUnavailable, l.name)
		case got.Int64 == 1:
			return nil
		}
		if ctx.Err() != nil {
			return lockErr(ctx, "GET_LOCK", ctx.Err())
		}
	}
}

func (l *mysqlLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released); err != nil {
		return fmt.Errorf("releasing the migration lock: %w", err)
	}
	if !released.Valid || released.Int64 != 1 {
		return fmt.Errorf("releasing the migration lock: named lock %q was not held", l.name)
	}
	return nil
}

// errNotHeld reports an unlock without a lock.
var errNotHeld = errors.New("releasing the migration lock: not held")

// discardConn makes database/sql close the connection instead of returning
// it to the pool.
func discardConn(conn *sql.Conn) error {
	err := conn.Raw(func(any) error { return driver.ErrBadConn })
	if errors.Is(err, driver.ErrBadConn) {
		return nil
	}
	return err
}
