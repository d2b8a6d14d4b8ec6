package check

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// The online rules claim to know when the server copies or rewrites a
// table. These tests ask the server itself and require the rules to agree,
// both ways: a warning for every statement that copies or rewrites, none for
// those that do not.

// TestMySQLCopyAgreesWithServer runs each ALTER TABLE first with
// ALGORITHM=INPLACE, which the server refuses exactly when it would copy the
// table, and requires table_copy to match the refusal.
func TestMySQLCopyAgreesWithServer(t *testing.T) {
	const setup = "DROP TABLE IF EXISTS t;\nDROP TABLE IF EXISTS p;\nCREATE TABLE p (id integer PRIMARY KEY);\n" +
		"CREATE TABLE t (id integer PRIMARY KEY, a integer, b varchar(100), k integer NOT NULL DEFAULT 0, m enum('a','b'))"
	alters := []string{
		// copies
		"ALTER TABLE t MODIFY a bigint",
		"ALTER TABLE t MODIFY a integer unsigned",
		"ALTER TABLE t MODIFY a text",
		"ALTER TABLE t MODIFY b varchar(10)",
		"ALTER TABLE t CHANGE a a2 bigint",
		"ALTER TABLE t MODIFY m enum('b','a')",
		"ALTER TABLE t MODIFY m enum('a')",
		"ALTER TABLE t DROP PRIMARY KEY",
		"ALTER TABLE t CONVERT TO CHARACTER SET latin1",
		"ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES p (id)",
		"ALTER TABLE t ADD CONSTRAINT t_ck CHECK (a > 0)",
		"ALTER TABLE t ADD COLUMN g integer AS (a * 2) STORED",
		// in place or instant
		"ALTER TABLE t ADD COLUMN c integer",
		"ALTER TABLE t ADD COLUMN c integer NOT NULL DEFAULT 0 FIRST",
		"ALTER TABLE t ADD COLUMN g integer AS (a * 2) VIRTUAL",
		"ALTER TABLE t DROP COLUMN a",
		"ALTER TABLE t MODIFY b varchar(30)",
		"ALTER TABLE t MODIFY b varchar(200)",
		"ALTER TABLE t MODIFY a integer NOT NULL",
		"ALTER TABLE t MODIFY m enum('a','b','c')",
		"ALTER TABLE t ALTER COLUMN k DROP DEFAULT",
		"ALTER TABLE t ALTER COLUMN a SET DEFAULT 5",
		"ALTER TABLE t RENAME COLUMN a TO a2",
		"ALTER TABLE t CHANGE a a2 integer",
		"ALTER TABLE t ADD INDEX t_b (b)",
		"ALTER TABLE t ADD UNIQUE t_a (a)",
		"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, k)",
	}
	db := testdb.New(t, dialect.MySQL)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, alter := range alters {
		t.Run(alter, func(t *testing.T) {
			execAll(t, conn, setup)
			before, err := Inspect(ctx, conn, dialect.MySQL)
			require.NoError(t, err)
			copies := false
			if _, err := conn.ExecContext(ctx, alter+", ALGORITHM=INPLACE"); err != nil {
				var me *mysql.MySQLError
				require.True(t, errors.As(err, &me), "%v", err)
				require.Contains(t, []uint16{1845, 1846}, me.Number, "%v", err) // ER_ALTER_OPERATION_NOT_SUPPORTED[_REASON]
				copies = true
				execAll(t, conn, alter)
			}
			after, err := Inspect(ctx, conn, dialect.MySQL)
			require.NoError(t, err)
			got := compatFindings(stepInput{Dialect: dialect.MySQL, Version: 1, Source: "00001_x.sql", UpSQL: alter, Before: before, After: after}, compatOptions{})
			assert.Equal(t, copies, slices.Contains(findingCodes(got), CodeTableCopy), "server copies: %v; findings: %v", copies, got)
		})
	}
}

// TestPostgresRewriteAgreesWithServer compares the table's relfilenode
// before and after each statement (a rewrite gives the table a new file)
// and requires table_rewrite or volatile_default to match.
func TestPostgresRewriteAgreesWithServer(t *testing.T) {
	const setup = "DROP TABLE IF EXISTS t;\nCREATE TABLE t (id integer PRIMARY KEY, a integer, b varchar(100), n numeric(10,2), k integer NOT NULL DEFAULT 0);\n" +
		"INSERT INTO t VALUES (1, 2, 'x', 1.5, 3)"
	stmts := []string{
		// rewrites
		"ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid()",
		"ALTER TABLE t ADD COLUMN r double precision DEFAULT random()",
		"ALTER TABLE t ADD COLUMN c timestamptz DEFAULT clock_timestamp()",
		"ALTER TABLE t ADD COLUMN s bigserial",
		"ALTER TABLE t ADD COLUMN i integer GENERATED ALWAYS AS IDENTITY",
		"ALTER TABLE t ADD COLUMN g integer GENERATED ALWAYS AS (a * 2) STORED",
		"ALTER TABLE t ALTER COLUMN a TYPE bigint",
		"ALTER TABLE t ALTER COLUMN a TYPE text",
		"ALTER TABLE t ALTER COLUMN b TYPE varchar(10)",
		"ALTER TABLE t ALTER COLUMN n TYPE numeric(10,3)",
		"ALTER TABLE t ALTER COLUMN n TYPE numeric(8,2)",
		// no rewrite
		"ALTER TABLE t ADD COLUMN c integer",
		"ALTER TABLE t ADD COLUMN c integer NOT NULL DEFAULT 0",
		"ALTER TABLE t ADD COLUMN c timestamptz NOT NULL DEFAULT now()",
		"ALTER TABLE t ADD COLUMN c text DEFAULT 'x' || 'y'",
		"ALTER TABLE t ALTER COLUMN b TYPE varchar(200)",
		"ALTER TABLE t ALTER COLUMN b TYPE text",
		"ALTER TABLE t ALTER COLUMN n TYPE numeric(12,2)",
		"ALTER TABLE t ALTER COLUMN n TYPE numeric",
		"ALTER TABLE t ALTER COLUMN a SET NOT NULL",
		"ALTER TABLE t ALTER COLUMN k DROP DEFAULT",
		"ALTER TABLE t DROP COLUMN a",
	}
	db := testdb.New(t, dialect.Postgres)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	relfile := func(t *testing.T) int64 {
		var n int64
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT relfilenode FROM pg_class WHERE oid = 't'::regclass").Scan(&n))
		return n
	}
	for _, stmt := range stmts {
		t.Run(stmt, func(t *testing.T) {
			execAll(t, conn, setup)
			before, err := Inspect(ctx, conn, dialect.Postgres)
			require.NoError(t, err)
			file := relfile(t)
			execAll(t, conn, stmt)
			rewrote := relfile(t) != file
			after, err := Inspect(ctx, conn, dialect.Postgres)
			require.NoError(t, err)
			got := findingCodes(compatFindings(stepInput{Dialect: dialect.Postgres, Version: 1, Source: "00001_x.sql", UpSQL: stmt, Before: before, After: after}, compatOptions{}))
			warned := slices.Contains(got, CodeTableRewrite) || slices.Contains(got, CodeVolatileDefault)
			assert.Equal(t, rewrote, warned, "server rewrote: %v; findings: %v", rewrote, got)
		})
	}
}
