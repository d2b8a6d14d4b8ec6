package check

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the embedded scratch database

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/dsn"
)

// ErrUnreachable is wrapped by Run's error when the scratch database cannot
// be created or reached.
var ErrUnreachable = errors.New("check: scratch database unreachable")

// scratch is a database that the check creates for itself and drops.
type scratch struct {
	dialect dialect.Dialect
	db      *sql.DB
	name    string // schema (PostgreSQL), database (MySQL) or file (SQLite)
	drop    func(context.Context) error
}

// sqliteScratchDSN turns off durability (the file is thrown away) and turns
// on foreign keys, as services using SQLite do. The benchmarks in bench/ open
// their bare goose database the same way (bench/migrate_check_test.go).
func sqliteScratchDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)"
}

func openScratch(ctx context.Context, c *config) (*scratch, error) {
	switch c.dialect {
	case dialect.SQLite:
		return openSQLiteScratch(ctx, c)
	case dialect.Postgres:
		return openServerScratch(ctx, c, "CREATE SCHEMA %s", "DROP SCHEMA IF EXISTS %s CASCADE", dsn.WithSearchPath)
	case dialect.MySQL:
		return openServerScratch(ctx, c, "CREATE DATABASE `%s`", "DROP DATABASE IF EXISTS `%s`", withDatabase)
	}
	return nil, fmt.Errorf("check: %w", c.dialect.Validate())
}

func openSQLiteScratch(ctx context.Context, c *config) (*scratch, error) {
	var path string
	var cleanup func() error
	if c.adminDSN != "" {
		path = strings.TrimPrefix(c.adminDSN, "file:")
		path, _, _ = strings.Cut(path, "?")
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("%w: sqlite scratch file: %v", ErrUnreachable, err)
		}
		f.Close()
		cleanup = func() error {
			return errors.Join(os.Remove(path), ignoreNotExist(os.Remove(path+"-wal")), ignoreNotExist(os.Remove(path+"-shm")))
		}
	} else {
		dir, err := os.MkdirTemp("", "rollsafe-check-")
		if err != nil {
			return nil, fmt.Errorf("%w: temporary directory: %v", ErrUnreachable, err)
		}
		path = filepath.Join(dir, "scratch.db")
		cleanup = func() error { return os.RemoveAll(dir) }
	}
	driver := c.driver
	if driver == "" {
		driver = dialect.SQLite.Driver()
	}
	db, err := sql.Open(driver, sqliteScratchDSN(path))
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, errors.Join(fmt.Errorf("%w: sqlite %s: %v", ErrUnreachable, path, err), cleanup())
	}
	// One connection runs everything: a SQLite connection re-reads the
	// whole schema after another connection changed it, which would cost
	// more than the migrations themselves. goose runs a Go migration
	// without transaction on the pool while it holds a connection, so
	// those need a second one.
	if !hasNoTxGo(c.goMigs) {
		db.SetMaxOpenConns(1)
	}
	return &scratch{dialect: dialect.SQLite, db: db, name: path, drop: func(context.Context) error {
		return errors.Join(db.Close(), cleanup())
	}}, nil
}

func openServerScratch(ctx context.Context, c *config, create, drop string, scoped func(base, name string) string) (*scratch, error) {
	driver := c.driver
	if driver == "" {
		driver = c.dialect.Driver()
	}
	redacted := dsn.Redact(c.adminDSN)
	admin, err := sql.Open(driver, c.adminDSN)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v (is the %q driver imported?)", ErrUnreachable, c.dialect, redacted, redactErr(err, c.adminDSN), driver)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := admin.PingContext(pingCtx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("%w: %s %s: %v", ErrUnreachable, c.dialect, redacted, redactErr(err, c.adminDSN))
	}
	name := scratchName()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(create, name)); err != nil {
		admin.Close()
		return nil, fmt.Errorf("%w: create scratch %s on %s: %v", ErrUnreachable, name, redacted, err)
	}
	dropAll := func(ctx context.Context) error {
		// The scratch is dropped even when the run's ctx has ended.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, err := admin.ExecContext(ctx, fmt.Sprintf(drop, name))
		if err != nil {
			err = fmt.Errorf("check: drop scratch %s: %w", name, err)
		}
		return errors.Join(err, admin.Close())
	}
	db, err := sql.Open(driver, scoped(c.adminDSN, name))
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, errors.Join(fmt.Errorf("%w: open scratch %s: %v", ErrUnreachable, name, redactErr(err, c.adminDSN)), dropAll(ctx))
	}
	c.logger.DebugContext(ctx, "created scratch database", "dialect", c.dialect.String(), "name", name)
	return &scratch{dialect: c.dialect, db: db, name: name, drop: func(ctx context.Context) error {
		err := errors.Join(db.Close(), dropAll(ctx))
		c.logger.DebugContext(ctx, "dropped scratch database", "dialect", c.dialect.String(), "name", name, "err", err)
		return err
	}}, nil
}

// redactErr removes the DSN's password from an error's text, for drivers
// that quote the DSN back.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, dsn.Redact(raw))
	}
	return msg
}

func scratchName() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "rollsafe_check_" + hex.EncodeToString(b[:])
}

// withDatabase returns a go-sql-driver/mysql DSN
// ([user[:pass]@][proto[(addr)]]/dbname[?params]) naming database db, with
// parseTime=true, which goose needs to read its version table.
func withDatabase(base, db string) string {
	head, params, _ := strings.Cut(base, "?")
	if i := strings.LastIndex(head, "/"); i >= 0 {
		head = head[:i]
	}
	if !strings.Contains("&"+params, "&parseTime=") {
		if params != "" {
			params += "&"
		}
		params += "parseTime=true"
	}
	return head + "/" + db + "?" + params
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func hasNoTxGo(ms []*goose.Migration) bool {
	for _, m := range ms {
		if m.UpFnNoTxContext != nil || m.DownFnNoTxContext != nil || m.UpFnNoTx != nil || m.DownFnNoTx != nil {
			return true
		}
	}
	return false
}
