package flagstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/dbtx"
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
	// One instance creates them, under a lock of the database; the others
	// wait for it and find them made (see dbtx.Ensure).
	err := dbtx.Ensure(ctx, s.db, s.d, "rollsafe_flagstore", s.create)
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

// create runs the DDL and seeds the revision row of an empty store. A
// store whose revision row is gone while its audit trail is not (the row
// deleted by hand) is refused: seeding it at 0 would make every later write
// collide with a recorded revision.
func (s *Store) create(ctx context.Context, e dbtx.Execer) error {
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

func execAll(ctx context.Context, e dbtx.Execer, stmts []string) error {
	for _, q := range stmts {
		if _, err := e.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
