package check_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate/check"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cleanDir is the clean fixture of each dialect.
var cleanDir = map[dialect.Dialect]string{
	dialect.SQLite:   "testdata/clean",
	dialect.Postgres: "testdata/postgres/clean",
	dialect.MySQL:    "testdata/mysql/clean",
}

var gooseDialect = map[dialect.Dialect]goose.Dialect{
	dialect.SQLite: goose.DialectSQLite3, dialect.Postgres: goose.DialectPostgres, dialect.MySQL: goose.DialectMySQL,
}

func inspect(t *testing.T, db *testdb.DB) *check.Snapshot {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	s, err := check.Inspect(ctx, conn, db.Dialect)
	require.NoError(t, err)
	return s
}

func exec(t *testing.T, db *testdb.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := db.ExecContext(context.Background(), s)
		require.NoError(t, err, s)
	}
}

// The canonical text of each dialect's clean schema, as a golden file.
func TestSnapshotGolden(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		p, err := goose.NewProvider(gooseDialect[db.Dialect], db.DB, os.DirFS(cleanDir[db.Dialect]))
		require.NoError(t, err)
		_, err = p.Up(context.Background())
		require.NoError(t, err)
		got := inspect(t, db).String()
		assert.NotContains(t, got, "goose_db_version")

		golden := filepath.Join("testdata", "golden", db.Dialect.String()+".txt")
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
			require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test -update to create it")
		assert.Equal(t, string(want), got)
	})
}

// Two schemas that differ only in names the database made up give equal
// snapshots.
func TestGeneratedNamesDoNotDiffer(t *testing.T) {
	build := map[dialect.Dialect][2][]string{
		dialect.SQLite: {
			{`CREATE TABLE p (id INTEGER PRIMARY KEY)`,
				`CREATE TABLE t (a TEXT UNIQUE, b TEXT UNIQUE, c INTEGER REFERENCES p (id), CHECK (a <> b))`},
			{`CREATE TABLE p (id INTEGER PRIMARY KEY)`,
				`CREATE TABLE t (a TEXT, b TEXT, c INTEGER, UNIQUE (b), UNIQUE (a), FOREIGN KEY (c) REFERENCES p (id), CHECK (a <> b))`},
		},
		dialect.Postgres: {
			{`CREATE TABLE p (id INTEGER PRIMARY KEY)`,
				`CREATE TABLE t (a TEXT UNIQUE, c INTEGER REFERENCES p (id), CHECK (a <> ''))`},
			{`CREATE TABLE p (id INTEGER, CONSTRAINT p_pkey PRIMARY KEY (id))`,
				`CREATE TABLE t (a TEXT, c INTEGER)`,
				`ALTER TABLE t ADD CONSTRAINT t_a_key1 UNIQUE (a)`,
				`ALTER TABLE t ADD CONSTRAINT t_c_fkey1 FOREIGN KEY (c) REFERENCES p (id)`,
				`ALTER TABLE t ADD CONSTRAINT t_a_check1 CHECK (a <> '')`},
		},
		dialect.MySQL: {
			{`CREATE TABLE p (id INT PRIMARY KEY)`,
				`CREATE TABLE t (a VARCHAR(10) UNIQUE, c INT, FOREIGN KEY (c) REFERENCES p (id), CHECK (a <> ''))`},
			{`CREATE TABLE p (id INT, PRIMARY KEY (id))`,
				`CREATE TABLE t (a VARCHAR(10), c INT)`,
				`ALTER TABLE t ADD UNIQUE (a)`,
				`ALTER TABLE t ADD FOREIGN KEY (c) REFERENCES p (id)`,
				`ALTER TABLE t ADD CHECK (a <> '')`},
		},
	}
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		other := testdb.New(t, db.Dialect)
		exec(t, db, build[db.Dialect][0]...)
		exec(t, other, build[db.Dialect][1]...)
		a, b := inspect(t, db), inspect(t, other)
		assert.Empty(t, check.Diff(a, b), "a:\n%s\nb:\n%s", a, b)
		require.NotNil(t, a.Table("t"))
		assert.Len(t, a.Table("t").ForeignKeys, 1)
		assert.Len(t, a.Table("t").Checks, 1)
	})
}

func TestColumnOrderIsAReorderOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		other := testdb.New(t, db.Dialect)
		exec(t, db, `CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER)`)
		exec(t, other, `CREATE TABLE t (a INTEGER, c INTEGER, b INTEGER)`)
		changes := check.Diff(inspect(t, db), inspect(t, other))
		require.Len(t, changes, 1)
		assert.Equal(t, check.Reordered, changes[0].Op)
		assert.Equal(t, "a, b, c", changes[0].Before)
		assert.Equal(t, "a, c, b", changes[0].After)
	})
}

// serverFixtures are checked on PostgreSQL and MySQL/MariaDB.
var serverFixtures = map[dialect.Dialect][]fixture{
	dialect.Postgres: {
		{dir: "postgres/clean", ok: true},
		{dir: "postgres/types", ok: true},
		{dir: "postgres/not_null_column", codes: map[int64][]check.Code{3: {check.CodeUpFailsWithData}}, irreversible: []int64{3},
			messageHas: `column "country" of relation "users" contains null values`},
		{dir: "postgres/index_left_behind", codes: map[int64][]check.Code{3: {check.CodeSchemaNotRestored}}, irreversible: []int64{3},
			messageHas: "index orders.orders_by_day: left behind by down"},
		{dir: "postgres/rows_lost_by_procedure", codes: map[int64][]check.Code{3: {check.CodeRowsLost}}, irreversible: []int64{3},
			messageHas: "00003_archive.sql: down lost 3 of 3 rows of table users"},
	},
	dialect.MySQL: {
		{dir: "mysql/clean", ok: true},
		{dir: "mysql/types", ok: true},
		{dir: "mysql/unique_on_default", codes: map[int64][]check.Code{3: {check.CodeUpFailsWithData}}, irreversible: []int64{3},
			messageHas: "Duplicate entry 'none'"},
		{dir: "mysql/index_left_behind", codes: map[int64][]check.Code{3: {check.CodeSchemaNotRestored, check.CodeReapplyFailed}}, irreversible: []int64{3},
			messageHas: "index orders.orders_by_total: left behind by down"},
	},
}

var reScratch = regexp.MustCompile(`created scratch database.* name=(rollsafe_check_[0-9a-f]+)`)

// On a server, the check works in a schema/database of its own and drops it.
func TestFixturesServer(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			admin := testdb.New(t, d)
			for _, fx := range serverFixtures[d] {
				t.Run(filepath.Base(fx.dir), func(t *testing.T) {
					var log bytes.Buffer
					logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
					rep, err := check.Run(context.Background(), os.DirFS(filepath.Join("testdata", fx.dir)),
						check.WithDatabase(d, admin.DSN), check.WithCompat(false), check.WithLogger(logger))
					require.NoError(t, err)
					assert.Equal(t, d, rep.Dialect)
					assertFixture(t, fx, rep)

					names := reScratch.FindAllStringSubmatch(log.String(), -1)
					require.NotEmpty(t, names, "the scratch database is logged")
					for _, n := range names {
						assert.False(t, schemaExists(t, admin, n[1]), "scratch %s was dropped", n[1])
					}
				})
			}
		})
	}
}

func schemaExists(t *testing.T, db *testdb.DB, name string) bool {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '`+name+`'`).Scan(&n)
	require.NoError(t, err)
	return n > 0
}

// A PostgreSQL CHECK added NOT VALID is marked so until it is validated.
func TestPostgresNotValidCheck(t *testing.T) {
	db := testdb.New(t, dialect.Postgres)
	exec(t, db, `CREATE TABLE t (a INTEGER)`, `ALTER TABLE t ADD CONSTRAINT a_positive CHECK (a > 0) NOT VALID`)
	before := inspect(t, db)
	require.Len(t, before.Table("t").Checks, 1)
	assert.True(t, before.Table("t").Checks[0].NotValid)
	assert.Contains(t, before.String(), "check a_positive ((a > 0)) not valid")

	exec(t, db, `ALTER TABLE t VALIDATE CONSTRAINT a_positive`)
	after := inspect(t, db)
	assert.False(t, after.Table("t").Checks[0].NotValid)
	changes := check.Diff(before, after)
	require.Len(t, changes, 1)
	assert.Equal(t, "check t.a_positive: changed from `a_positive ((a > 0)) not valid` to `a_positive ((a > 0))`", changes[0].String())
}

// Relations and types moved into a schema (ALTER ... SET SCHEMA) are part
// of its snapshot, as are those created there, and nothing left in the old
// schema is.
func TestPostgresObjectsMovedIntoSchema(t *testing.T) {
	db, other := testdb.New(t, dialect.Postgres), testdb.New(t, dialect.Postgres)
	exec(t, other, `CREATE TABLE moved (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 1)`,
		`CREATE SEQUENCE moved_numbers`, `CREATE VIEW moved_view AS SELECT id FROM moved`, `CREATE TABLE stays (id INTEGER)`)
	exec(t, other, `CREATE TYPE moved_mood AS ENUM ('calm', 'busy')`)
	exec(t, db, `CREATE TABLE here (id INTEGER)`, `CREATE TYPE here_mood AS ENUM ('up', 'down')`,
		`CREATE FUNCTION here_touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'`)
	exec(t, other, `ALTER TABLE moved SET SCHEMA `+db.Name, `ALTER SEQUENCE moved_numbers SET SCHEMA `+db.Name,
		`ALTER VIEW moved_view SET SCHEMA `+db.Name, `ALTER TYPE moved_mood SET SCHEMA `+db.Name)
	exec(t, db, `CREATE TRIGGER moved_touch BEFORE INSERT ON moved FOR EACH ROW EXECUTE FUNCTION here_touch()`)

	s := inspect(t, db)
	var tables, views, seqs []string
	for _, x := range s.Tables {
		tables = append(tables, x.Name)
	}
	for _, x := range s.Views {
		views = append(views, x.Name)
	}
	for _, x := range s.Sequences {
		seqs = append(seqs, x.Name)
	}
	assert.Equal(t, []string{"here", "moved"}, tables)
	assert.Equal(t, []string{"moved_view"}, views)
	assert.Equal(t, []string{"moved_numbers"}, seqs)
	require.Len(t, s.Enums, 2)
	assert.Equal(t, check.Enum{Name: "here_mood", Values: []string{"up", "down"}}, s.Enums[0])
	assert.Equal(t, check.Enum{Name: "moved_mood", Values: []string{"calm", "busy"}}, s.Enums[1])
	require.Len(t, s.Triggers, 1)
	assert.Equal(t, "moved", s.Triggers[0].Table)
	require.NotNil(t, s.Table("moved"))
	assert.Len(t, s.Table("moved").Columns, 2)
	assert.Empty(t, inspect(t, other).Views, "the view left the other schema")
}

// On PostgreSQL rows are seeded in one go when the first candidates fit,
// and row by row (each under a savepoint) when one is refused: a table whose
// CHECK only literals satisfy still gets its rows, and so do the tables
// seeded after it in the same transaction.
func TestPostgresSeedingFallsBackRowByRow(t *testing.T) {
	admin := testdb.New(t, dialect.Postgres)
	fsys := fstest.MapFS{
		"00001_kinds.sql": {Data: []byte(`-- +goose Up
CREATE TABLE kinds (name TEXT PRIMARY KEY CHECK (name IN ('alpha', 'beta', 'gamma', 'delta')));
CREATE TABLE plain (id INTEGER PRIMARY KEY, kind TEXT NOT NULL REFERENCES kinds (name));
-- +goose Down
DROP TABLE plain;
DROP TABLE kinds;
`)},
		"00002_purge.sql": {Data: []byte(`-- +goose Up
ALTER TABLE plain ADD COLUMN note TEXT;
-- +goose Down
DELETE FROM plain;
ALTER TABLE plain DROP COLUMN note;
`)},
	}
	rep, err := check.Run(context.Background(), fsys, check.WithDatabase(dialect.Postgres, admin.DSN), check.WithCompat(false))
	require.NoError(t, err)
	require.Len(t, rep.Migrations, 2)
	assert.Empty(t, rep.Migrations[0].Findings, "both tables got their rows")
	var codes []check.Code
	for _, f := range rep.Migrations[1].Findings {
		codes = append(codes, f.Code)
	}
	assert.Equal(t, []check.Code{check.CodeRowsLost}, codes, "the rows seeded into plain are there to be lost")
	assert.Contains(t, rep.Migrations[1].Findings[0].Message, "down lost 3 of 3 rows of table plain")
}
