package flagstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/rollsafe/rollsafe/dialect"
)

// ensure creates the store's tables and the revision row unless an earlier
// call did. A failure is retried by the next call.
func (s *Store) ensure(ctx context.Context) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaOK {
		return nil
	}
	// Tables made by an earlier instance: one read says so, with no lock
	// and no DDL.
	var rev int64
	if s.db.QueryRowContext(ctx, `SELECT revision FROM `+tableRevision+` WHERE id = 1`).Scan(&rev) == nil {
		s.schemaOK = true
		return nil
	}
	var err error
	switch s.d {
	case dialect.Postgres:
		err = s.ensurePostgres(ctx)
	case dialect.MySQL:
		err = s.ensureMySQL(ctx)
	default:
		err = s.ensureSQLite(ctx)
	}
	if err != nil {
		return fmt.Errorf("flagstore: create tables: %w", err)
	}
	s.schemaOK = true
	return nil
}

// ddl returns the statements that create the tables, in order.
func (s *Store) ddl() []string {
	text, key := "TEXT", "VARCHAR("+strconv.Itoa(MaxKeyLen)+")"
	if s.d == dialect.MySQL {
		// MySQL's TEXT holds 64 KiB; its default collation would make
		// "Beta" and "beta" one key.
		text = "MEDIUMTEXT"
		key += " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + tableRevision + ` (
	id SMALLINT NOT NULL PRIMARY KEY,
	revision BIGINT NOT NULL,
	evaluators ` + text + ` NOT NULL,
	metadata ` + text + ` NOT NULL,
	updated_at BIGINT NOT NULL
)`,
		`CREATE TABLE IF NOT EXISTS ` + tableFlags + ` (
	flag_key ` + key + ` NOT NULL PRIMARY KEY,
	definition ` + text + ` NOT NULL,
	revision BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
)`,
		`CREATE TABLE IF NOT EXISTS ` + tableChanges + ` (
	revision BIGINT NOT NULL PRIMARY KEY,
	changed_at BIGINT NOT NULL,
	actor VARCHAR(` + strconv.Itoa(MaxActorLen) + `) NOT NULL,
	reason ` + text + ` NOT NULL,
	release_id VARCHAR(` + strconv.Itoa(MaxReleaseIDLen) + `) NOT NULL,
	flag_keys ` + text + ` NOT NULL,
	before_doc ` + text + ` NOT NULL,
	after_doc ` + text + ` NOT NULL
)`,
	}
}

// seed inserts the revision row of an empty store, leaving one that exists.
func (s *Store) seed() string {
	insert := "INSERT INTO " + tableRevision + " (id, revision, evaluators, metadata, updated_at) VALUES (1, 0, '{}', '{}', 0)"
	switch s.d {
	case dialect.Postgres:
		return insert + " ON CONFLICT (id) DO NOTHING"
	case dialect.MySQL:
		return "INSERT IGNORE" + insert[len("INSERT"):]
	}
	return "INSERT OR IGNORE" + insert[len("INSERT"):]
}

// ensurePostgres runs the DDL in one transaction under an advisory lock of
// the schema: CREATE TABLE IF NOT EXISTS alone races on the catalog when
// instances start together.
func (s *Store) ensurePostgres(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('rollsafe_flagstore.' || current_schema()))`); err != nil {
			return err
		}
		return s.create(ctx, tx)
	})
}

// ensureMySQL holds a named lock of the database on one connection while it
// runs the DDL there (MySQL commits DDL at once, so a transaction would not
// serialize it).
func (s *Store) ensureMySQL(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var got sql.NullInt64
	// A lock name holds 64 characters, a database name as many: hashed.
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT('rollsafe_flagstore.', SHA1(DATABASE())), 30)`).Scan(&got); err != nil {
		return err
	}
	if got.Int64 != 1 {
		return errors.New("another instance held the schema lock for 30s")
	}
	defer func() {
		if _, relErr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(CONCAT('rollsafe_flagstore.', SHA1(DATABASE())))`); relErr != nil && err == nil {
			err = relErr
		}
	}()
	return s.create(ctx, conn)
}

// ensureSQLite runs the DDL in one transaction: SQLite's DDL is
// transactional, and its write lock serializes instances.
// A transaction that read before it writes cannot wait for the write lock
// (SQLite answers SQLITE_BUSY at once, whatever the busy timeout), so a
// busy answer is retried.
func (s *Store) ensureSQLite(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error { return s.create(ctx, tx) })
		if err == nil || !isBusy(err) || attempt == busyAttempts {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// create runs the DDL and seeds the revision row of an empty store. A
// store whose revision row is gone while its audit trail is not (the row
// deleted by hand) is refused: seeding it at 0 would make every later write
// collide with a recorded revision.
func (s *Store) create(ctx context.Context, e execQuerier) error {
	if err := execAll(ctx, e, s.ddl()); err != nil {
		return err
	}
	var rows, changes int64
	if err := e.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tableRevision+` WHERE id = 1`).Scan(&rows); err != nil {
		return err
	}
	if rows == 0 {
		if err := e.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) FROM `+tableChanges).Scan(&changes); err != nil {
			return err
		}
		if changes > 0 {
			return fmt.Errorf("%s has no row while %s records revisions up to %d: the row was deleted by hand; restore it with that revision", tableRevision, tableChanges, changes)
		}
	}
	_, err := e.ExecContext(ctx, s.seed())
	return err
}

type execQuerier interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func execAll(ctx context.Context, e execer, stmts []string) error {
	for _, q := range stmts {
		if _, err := e.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
