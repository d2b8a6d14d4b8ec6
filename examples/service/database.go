package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the service chooses its drivers; rollsafe imports none
	_ "modernc.org/sqlite"

	"github.com/rollsafe/rollsafe/dialect"
)

// maxOpenConns bounds each instance's pool of database connections;
// requests beyond it wait for one.
const maxOpenConns = 16

// openDB opens and pings the service's database: the SQLite file of --db
// (a new one in tmp without it), or the PostgreSQL or MySQL server of --dsn.
// The DSN is never logged, and its password is cut from the driver's errors.
func openDB(ctx context.Context, cfg config, tmp string, logger *slog.Logger) (*sql.DB, error) {
	var source, password, name string
	switch cfg.dialect {
	case dialect.SQLite:
		path := cfg.dbPath
		if path == "" {
			path = filepath.Join(tmp, "orders.db")
		}
		// WAL and a busy timeout let several instances (and the rollsafe
		// CLI) share the file; _txlock=immediate takes the write lock when
		// a transaction begins, so that two writers queue on the busy
		// timeout instead of one failing when it upgrades a read.
		source = "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		name = path
	case dialect.Postgres:
		pc, err := pgconn.ParseConfig(cfg.dsn)
		if err != nil {
			return nil, errors.New("--dsn: not a PostgreSQL DSN") // the parser's message may quote the password
		}
		source, password, name = cfg.dsn, pc.Password, pc.Host+"/"+pc.Database
	case dialect.MySQL:
		mc, err := mysql.ParseDSN(cfg.dsn)
		if err != nil {
			return nil, errors.New("--dsn: not a MySQL DSN (user:password@tcp(host:3306)/db)")
		}
		mc.ParseTime = true // goose scans timestamps
		source, password, name = mc.FormatDSN(), mc.Passwd, mc.Addr+"/"+mc.DBName
	}
	db, err := sql.Open(cfg.dialect.Driver(), source)
	if err != nil {
		return nil, fmt.Errorf("database %s %s: %w", cfg.dialect, name, scrub(err, password))
	}
	// The database's connection limit is the whole fleet's (MySQL allows 151
	// by default, PostgreSQL 100): an unbounded pool lets a burst of slow
	// requests on a few instances take them all, and then every instance,
	// its flag store and its heartbeat included, is refused.
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := ping(pingCtx, db); err != nil {
		_ = db.Close() // the ping's error is the one to report
		return nil, fmt.Errorf("database %s %s: %w", cfg.dialect, name, scrub(err, password))
	}
	logger.Info("database opened", "dialect", cfg.dialect, "database", name)
	return db, nil
}

// ping pings db until it answers, ctx ends or it fails for another reason
// than a locked SQLite file: the first connection to a new file turns it
// to WAL, which takes the file's exclusive lock without waiting on the
// busy timeout, so instances started together on one new file can find it
// locked for a moment.
func ping(ctx context.Context, db *sql.DB) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// scrub returns err with password cut from its text; errors.Is and As
// still see err.
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return scrubbed{err: err, msg: strings.ReplaceAll(err.Error(), password, "xxxxx")}
}

type scrubbed struct {
	err error
	msg string
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }
