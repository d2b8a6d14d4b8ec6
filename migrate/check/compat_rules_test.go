package check

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

// byDialect holds SQL per dialect; the key anyDialect is for every dialect
// not named.
type byDialect map[dialect.Dialect]string

// anyDialect is byDialect's key for every dialect not named.
const anyDialect dialect.Dialect = 0

func (b byDialect) get(d dialect.Dialect) (string, bool) {
	if s, ok := b[d]; ok {
		return s, true
	}
	s, ok := b[anyDialect]
	return s, ok
}

// ruleCase is a migration applied on a real database: the analysis of its
// snapshots before and after must give exactly want (codes, in any order)
// on every dialect named in want.
type ruleCase struct {
	name  string
	setup byDialect
	up    byDialect
	noTx  bool
	opts  compatOptions
	// want maps each dialect the case runs on to the codes it must give.
	want map[dialect.Dialect][]Code
}

// all is the codes for every dialect.
func all(codes ...Code) map[dialect.Dialect][]Code {
	return map[dialect.Dialect][]Code{dialect.SQLite: codes, dialect.Postgres: codes, dialect.MySQL: codes}
}

const baseTable = "CREATE TABLE t (id integer PRIMARY KEY, a integer, b varchar(100), k integer NOT NULL DEFAULT 0)"

// sqliteRebuild is SQLite's way to change a column: build the new table,
// copy, drop, rename.
func sqliteRebuild(newTable, copyCols string) string {
	return strings.ReplaceAll(newTable, "CREATE TABLE t ", "CREATE TABLE t_new ") + ";\n" +
		"INSERT INTO t_new SELECT " + copyCols + " FROM t;\nDROP TABLE t;\nALTER TABLE t_new RENAME TO t"
}

var contractCases = []ruleCase{
	{name: "table dropped", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "DROP TABLE t"},
		want: all(CodeTableDropped)},
	{name: "column dropped", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "ALTER TABLE t DROP COLUMN a"},
		want: all(CodeColumnDropped)},
	{name: "table renamed by statement", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "ALTER TABLE t RENAME TO t2"},
		want: all(CodeTableRenamed)},
	{name: "mysql RENAME TABLE", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "RENAME TABLE t TO t2"},
		want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeTableRenamed}}},
	{name: "table renamed by copy", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{anyDialect: strings.ReplaceAll(baseTable, "TABLE t ", "TABLE t2 ") + ";\nINSERT INTO t2 SELECT * FROM t;\nDROP TABLE t"},
		want: all(CodeTableRenamed)},
	{name: "column renamed by statement", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "ALTER TABLE t RENAME COLUMN a TO a2"},
		want: all(CodeColumnRenamed)},
	{name: "mysql CHANGE renames", setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "ALTER TABLE t CHANGE a a2 integer"},
		want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeColumnRenamed}}},
	{name: "column renamed by rebuild", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a2 integer, b varchar(100), k integer NOT NULL DEFAULT 0)", "*")},
		want: map[dialect.Dialect][]Code{dialect.SQLite: {CodeColumnRenamed}}},
	{name: "column renamed by drop and add", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{anyDialect: "ALTER TABLE t ADD COLUMN a2 integer;\nALTER TABLE t DROP COLUMN a"},
		want: all(CodeColumnRenamed)},
	{name: "column dropped, another of another type added", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{anyDialect: "ALTER TABLE t ADD COLUMN a2 varchar(10);\nALTER TABLE t DROP COLUMN a"},
		want: all(CodeColumnDropped)},
	{name: "type narrowed", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN b TYPE varchar(10)", dialect.MySQL: "ALTER TABLE t MODIFY b varchar(10)"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeColumnTypeNarrowed, CodeTableRewrite}, dialect.MySQL: {CodeColumnTypeNarrowed, CodeTableCopy}}},
	{name: "integer narrowed", setup: byDialect{anyDialect: "CREATE TABLE t (id integer PRIMARY KEY, big bigint)"},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN big TYPE integer", dialect.MySQL: "ALTER TABLE t MODIFY big integer"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeColumnTypeNarrowed, CodeTableRewrite}, dialect.MySQL: {CodeColumnTypeNarrowed, CodeTableCopy}}},
	{name: "type changed kind", setup: byDialect{anyDialect: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a TYPE text", dialect.MySQL: "ALTER TABLE t MODIFY a text",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a text, b varchar(100), k integer NOT NULL DEFAULT 0)", "*")},
		want: map[dialect.Dialect][]Code{dialect.SQLite: {CodeColumnTypeChanged}, dialect.Postgres: {CodeColumnTypeChanged, CodeTableRewrite}, dialect.MySQL: {CodeColumnTypeChanged, CodeTableCopy}}},
	{name: "nullable to not null", setup: byDialect{anyDialect: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a SET NOT NULL", dialect.MySQL: "ALTER TABLE t MODIFY a integer NOT NULL",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a integer NOT NULL, b varchar(100), k integer NOT NULL DEFAULT 0)", "*")},
		want: map[dialect.Dialect][]Code{dialect.SQLite: {CodeColumnNotNull}, dialect.Postgres: {CodeColumnNotNull, CodeNotNullScan}, dialect.MySQL: {CodeColumnNotNull}}},
	{name: "not null after a check", setup: byDialect{dialect.Postgres: baseTable + ";\nALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL)"},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a SET NOT NULL"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeColumnNotNull}}},
	{name: "not null after a check not yet validated", setup: byDialect{dialect.Postgres: baseTable + ";\nALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID"},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a SET NOT NULL"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeColumnNotNull, CodeNotNullScan}}},
	{name: "not null after a check validated later", setup: byDialect{dialect.Postgres: baseTable + ";\nALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT a_nn"},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a SET NOT NULL"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeColumnNotNull}}},
	{name: "default dropped", setup: byDialect{anyDialect: baseTable},
		up: byDialect{anyDialect: "ALTER TABLE t ALTER COLUMN k DROP DEFAULT",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a integer, b varchar(100), k integer NOT NULL)", "*")},
		want: all(CodeColumnDefaultDropped)},
	{name: "not null column without default", setup: byDialect{anyDialect: baseTable},
		up: byDialect{anyDialect: "ALTER TABLE t ADD COLUMN c integer NOT NULL",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a integer, b varchar(100), k integer NOT NULL DEFAULT 0, c integer NOT NULL)", "*, 1")},
		want: all(CodeNotNullColumnAdded)},
	{name: "unique on existing column", setup: byDialect{anyDialect: baseTable},
		up: byDialect{anyDialect: "CREATE UNIQUE INDEX t_a ON t (a)", dialect.Postgres: "CREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a)"}, noTx: true,
		want: all(CodeUniqueAdded)},
	{name: "unique on a new column with a default", setup: byDialect{anyDialect: baseTable},
		up:   byDialect{anyDialect: "ALTER TABLE t ADD COLUMN slug varchar(20) DEFAULT 'x';\nCREATE UNIQUE INDEX t_slug ON t (slug)"},
		want: map[dialect.Dialect][]Code{dialect.SQLite: {CodeUniqueAdded}, dialect.MySQL: {CodeUniqueAdded}}},
	{name: "foreign key", setup: byDialect{anyDialect: "CREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ADD CONSTRAINT t_a_fk FOREIGN KEY (a) REFERENCES p (id) NOT VALID",
			dialect.MySQL:  "SET foreign_key_checks = 0;\nALTER TABLE t ADD CONSTRAINT t_a_fk FOREIGN KEY (a) REFERENCES p (id);\nSET foreign_key_checks = 1",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a integer REFERENCES p (id), b varchar(100), k integer NOT NULL DEFAULT 0)", "*")},
		want: all(CodeForeignKeyAdded)},
	{name: "check", setup: byDialect{anyDialect: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0) NOT VALID", dialect.MySQL: "ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0)",
			dialect.SQLite: sqliteRebuild("CREATE TABLE t (id integer PRIMARY KEY, a integer CHECK (a > 0), b varchar(100), k integer NOT NULL DEFAULT 0)", "*")},
		want: map[dialect.Dialect][]Code{dialect.SQLite: {CodeCheckAdded}, dialect.Postgres: {CodeCheckAdded}, dialect.MySQL: {CodeCheckAdded, CodeTableCopy}}},
	{name: "enum value removed",
		setup: byDialect{dialect.Postgres: "CREATE TYPE mood AS ENUM ('a', 'b', 'c');\nCREATE TABLE t (id integer PRIMARY KEY, m mood)",
			dialect.MySQL: "CREATE TABLE t (id integer PRIMARY KEY, m enum('a','b','c'))"},
		up: byDialect{dialect.Postgres: "ALTER TYPE mood RENAME TO mood_old;\nCREATE TYPE mood AS ENUM ('a', 'b');\nALTER TABLE t ALTER COLUMN m TYPE mood USING m::text::mood;\nDROP TYPE mood_old",
			dialect.MySQL: "ALTER TABLE t MODIFY m enum('a','b')"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeEnumValueRemoved, CodeTableRewrite}, dialect.MySQL: {CodeEnumValueRemoved, CodeTableCopy}}},
	{name: "enum value renamed",
		setup: byDialect{dialect.Postgres: "CREATE TYPE mood AS ENUM ('a', 'b', 'c');\nCREATE TABLE t (id integer PRIMARY KEY, m mood)",
			dialect.MySQL: "CREATE TABLE t (id integer PRIMARY KEY, m enum('a','b','c'))"},
		up:   byDialect{dialect.Postgres: "ALTER TYPE mood RENAME VALUE 'c' TO 'd'", dialect.MySQL: "ALTER TABLE t MODIFY m enum('a','b','d')"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeEnumValueRenamed}, dialect.MySQL: {CodeEnumValueRenamed, CodeTableCopy}}},
	{name: "view dropped", setup: byDialect{anyDialect: baseTable + ";\nCREATE VIEW v AS SELECT id, a FROM t"},
		up: byDialect{anyDialect: "DROP VIEW v"}, want: all(CodeViewDropped)},
	{name: "view lost a column", setup: byDialect{anyDialect: baseTable + ";\nCREATE VIEW v AS SELECT id, a FROM t"},
		up: byDialect{anyDialect: "DROP VIEW v;\nCREATE VIEW v AS SELECT id FROM t"}, want: all(CodeViewChanged)},
}

var onlineCases = []ruleCase{
	{name: "index without concurrently", setup: byDialect{dialect.Postgres: baseTable},
		up: byDialect{dialect.Postgres: "CREATE INDEX t_a ON t (a)"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeIndexNotConcurrent}}},
	{name: "drop index without concurrently", setup: byDialect{dialect.Postgres: baseTable + ";\nCREATE INDEX t_a ON t (a)"},
		up: byDialect{dialect.Postgres: "DROP INDEX t_a"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeIndexNotConcurrent}}},
	{name: "unique constraint without an index", setup: byDialect{dialect.Postgres: baseTable},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a)"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeIndexNotConcurrent, CodeUniqueAdded}}},
	{name: "concurrently in a transaction", setup: byDialect{dialect.Postgres: baseTable},
		up: byDialect{dialect.Postgres: "CREATE INDEX CONCURRENTLY t_a ON t (a)"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeConcurrentlyInTransaction}}},
	{name: "volatile default", setup: byDialect{dialect.Postgres: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid()"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeVolatileDefault}}},
	{name: "serial column", setup: byDialect{dialect.Postgres: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ADD COLUMN n bigserial"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeVolatileDefault}}},
	{name: "type change rewrites", setup: byDialect{dialect.Postgres: baseTable},
		up: byDialect{dialect.Postgres: "ALTER TABLE t ALTER COLUMN a TYPE bigint"}, want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeTableRewrite}}},
	{name: "stored generated column", setup: byDialect{dialect.Postgres: baseTable, dialect.MySQL: baseTable},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ADD COLUMN g integer GENERATED ALWAYS AS (a * 2) STORED", dialect.MySQL: "ALTER TABLE t ADD COLUMN g integer AS (a * 2) STORED"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeTableRewrite}, dialect.MySQL: {CodeTableCopy}}},
	{name: "foreign key validated at once", setup: byDialect{dialect.Postgres: "CREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable, dialect.MySQL: "CREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable},
		up:   byDialect{anyDialect: "ALTER TABLE t ADD CONSTRAINT t_a_fk FOREIGN KEY (a) REFERENCES p (id)"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeForeignKeyAdded, CodeConstraintValidation}, dialect.MySQL: {CodeForeignKeyAdded, CodeTableCopy}}},
	{name: "check validated at once", setup: byDialect{dialect.Postgres: baseTable},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0)"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeCheckAdded, CodeConstraintValidation}}},
	{name: "integer widened copies", setup: byDialect{dialect.MySQL: baseTable},
		up: byDialect{dialect.MySQL: "ALTER TABLE t MODIFY a bigint"}, want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeTableCopy}}},
	{name: "primary key dropped", setup: byDialect{dialect.MySQL: baseTable},
		up: byDialect{dialect.MySQL: "ALTER TABLE t DROP PRIMARY KEY"}, want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeTableCopy}}},
	{name: "charset converted", setup: byDialect{dialect.MySQL: baseTable},
		up: byDialect{dialect.MySQL: "ALTER TABLE t CONVERT TO CHARACTER SET latin1"}, want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeTableCopy}}},
	{name: "explicit copy", setup: byDialect{dialect.MySQL: baseTable},
		up: byDialect{dialect.MySQL: "ALTER TABLE t ADD COLUMN c integer, ALGORITHM=COPY"}, want: map[dialect.Dialect][]Code{dialect.MySQL: {CodeTableCopy}}},
	{name: "no lock timeout", setup: byDialect{dialect.Postgres: baseTable, dialect.MySQL: baseTable}, opts: compatOptions{Timeouts: true},
		up:   byDialect{anyDialect: "ALTER TABLE t ADD COLUMN c integer"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeTimeoutMissing}, dialect.MySQL: {CodeTimeoutMissing}}},
	{name: "lock timeout set", setup: byDialect{dialect.Postgres: baseTable, dialect.MySQL: baseTable}, opts: compatOptions{Timeouts: true},
		up: byDialect{dialect.Postgres: "SET lock_timeout = '2s';\nSET statement_timeout = '5min';\nALTER TABLE t ADD COLUMN c integer",
			dialect.MySQL: "SET SESSION lock_wait_timeout = 5;\nALTER TABLE t ADD COLUMN c integer"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {}, dialect.MySQL: {}}},
	{name: "timeout set too late", setup: byDialect{dialect.Postgres: baseTable}, opts: compatOptions{Timeouts: true},
		up:   byDialect{dialect.Postgres: "ALTER TABLE t ADD COLUMN c integer;\nSET lock_timeout = '2s';\nSET statement_timeout = '5min'"},
		want: map[dialect.Dialect][]Code{dialect.Postgres: {CodeTimeoutMissing}}},
}

// expandCases change the schema only in ways the previous release
// survives, done the online way: no finding at all, on every dialect.
var expandCases = []ruleCase{
	{name: "expand only",
		setup: byDialect{anyDialect: "CREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable + ";\nCREATE VIEW v AS SELECT id, a FROM t",
			dialect.Postgres: "CREATE TYPE mood AS ENUM ('a', 'b');\nCREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable + ";\nCREATE VIEW v AS SELECT id, a FROM t;\nCREATE TABLE e (id integer PRIMARY KEY, m mood)",
			dialect.MySQL:    "CREATE TABLE p (id integer PRIMARY KEY);\n" + baseTable + ";\nCREATE VIEW v AS SELECT id, a FROM t;\nCREATE TABLE e (id integer PRIMARY KEY, m enum('a','b'))"},
		up: byDialect{
			anyDialect: `CREATE TABLE orders (id integer PRIMARY KEY, t_id integer NOT NULL REFERENCES t (id), total numeric(10,2) NOT NULL DEFAULT 0, note text, UNIQUE (t_id, id));
ALTER TABLE t ADD COLUMN nick varchar(40);
ALTER TABLE t ADD COLUMN flags integer NOT NULL DEFAULT 0;
ALTER TABLE t ADD COLUMN label varchar(20) DEFAULT 'none';
ALTER TABLE t ADD COLUMN p_id integer REFERENCES p (id);
CREATE INDEX t_b ON t (b);
CREATE UNIQUE INDEX t_nick ON t (nick);
CREATE VIEW v2 AS SELECT id, b FROM t;
DROP VIEW v;
CREATE VIEW v AS SELECT id, a, b FROM t`,
			dialect.Postgres: `CREATE TABLE orders (id integer PRIMARY KEY, t_id integer NOT NULL REFERENCES t (id), total numeric(10,2) NOT NULL DEFAULT 0, note text, UNIQUE (t_id, id));
ALTER TABLE t ADD COLUMN nick varchar(40);
ALTER TABLE t ADD COLUMN flags integer NOT NULL DEFAULT 0;
ALTER TABLE t ADD COLUMN label varchar(20) DEFAULT 'none';
ALTER TABLE t ADD COLUMN created timestamptz NOT NULL DEFAULT now();
ALTER TABLE t ADD COLUMN p_id integer REFERENCES p (id);
ALTER TABLE t ALTER COLUMN b TYPE varchar(200);
ALTER TABLE t ALTER COLUMN k DROP NOT NULL;
ALTER TABLE t ALTER COLUMN a SET DEFAULT 5;
ALTER TYPE mood ADD VALUE 'c';
CREATE INDEX CONCURRENTLY t_b ON t (b);
CREATE UNIQUE INDEX CONCURRENTLY t_nick ON t (nick);
CREATE VIEW v2 AS SELECT id, b FROM t;
CREATE OR REPLACE VIEW v AS SELECT id, a, b FROM t`,
			dialect.MySQL: `CREATE TABLE orders (id integer PRIMARY KEY, t_id integer NOT NULL REFERENCES t (id), total numeric(10,2) NOT NULL DEFAULT 0, note text, UNIQUE (t_id, id));
ALTER TABLE t ADD COLUMN nick varchar(40);
ALTER TABLE t ADD COLUMN flags integer NOT NULL DEFAULT 0;
ALTER TABLE t ADD COLUMN label varchar(20) DEFAULT 'none';
ALTER TABLE t ADD COLUMN created timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE t ADD COLUMN p_id integer NULL;
ALTER TABLE t MODIFY b varchar(200);
ALTER TABLE t MODIFY k integer NULL DEFAULT 0;
ALTER TABLE t ALTER COLUMN a SET DEFAULT 5;
ALTER TABLE e MODIFY m enum('a','b','c');
CREATE INDEX t_b ON t (b);
CREATE UNIQUE INDEX t_nick ON t (nick);
CREATE VIEW v2 AS SELECT id, b FROM t;
CREATE OR REPLACE VIEW v AS SELECT id, a, b FROM t`,
		},
		noTx: true,
		want: all(),
	},
}

func TestCompatRules(t *testing.T) {
	for _, group := range [][]ruleCase{contractCases, onlineCases, expandCases} {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				for _, d := range dialect.All() {
					want, ok := tc.want[d]
					if !ok {
						continue
					}
					t.Run(d.String(), func(t *testing.T) {
						t.Parallel()
						got := runCase(t, testdb.New(t, d), tc)
						assert.ElementsMatch(t, want, findingCodes(got), "findings: %v", got)
						for _, f := range got {
							assert.True(t, strings.HasPrefix(f.Message, "00002_change.sql: "), f.Message)
							assert.Equal(t, int64(2), f.Version)
						}
					})
				}
			})
		}
	}
}

// runCase applies tc's setup, snapshots, applies its up, snapshots again
// and returns the analysis.
func runCase(t *testing.T, db *testdb.DB, tc ruleCase) []Finding {
	t.Helper()
	ctx := context.Background()
	d := db.Dialect
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	if setup, ok := tc.setup.get(d); ok {
		execAll(t, conn, setup)
	}
	before, err := Inspect(ctx, conn, d)
	require.NoError(t, err)
	up, ok := tc.up.get(d)
	require.True(t, ok, "no up for %s", d)
	execAll(t, conn, up)
	after, err := Inspect(ctx, conn, d)
	require.NoError(t, err)
	return compatFindings(stepInput{Dialect: d, Version: 2, Source: "00002_change.sql", UpSQL: up,
		Before: before, After: after, NoTransaction: tc.noTx}, tc.opts)
}

func execAll(t *testing.T, conn *sql.Conn, script string) {
	t.Helper()
	for _, s := range strings.Split(script, ";\n") {
		_, err := conn.ExecContext(context.Background(), s)
		require.NoError(t, err, s)
	}
}

func findingCodes(fs []Finding) []Code {
	out := []Code{}
	for _, f := range fs {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}

func TestCompatAcknowledgementAndSince(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	tc := ruleCase{setup: byDialect{anyDialect: baseTable}, up: byDialect{anyDialect: "ALTER TABLE t DROP COLUMN a;\nCREATE TABLE x (id integer)"}}
	base := runCase(t, db, tc)
	require.Len(t, base, 1)
	assert.Equal(t, SeverityError, base[0].Severity)

	ack := &migrate.Annotation{Reason: "a is unread since release 4", Line: 1}
	tests := []struct {
		name     string
		version  int64
		ann      *migrate.Annotation
		opts     compatOptions
		severity Severity
		says     string
	}{
		{"plain", 2, nil, compatOptions{}, SeverityError, "drops column t.a"},
		{"acknowledged", 2, ack, compatOptions{}, SeverityInfo, "acknowledged on line 1: a is unread since release 4"},
		{"shipped", 2, nil, compatOptions{Since: 2}, SeverityInfo, "at or before --since 2"},
		{"after since", 3, nil, compatOptions{Since: 2}, SeverityError, "drops column t.a"},
	}
	ctx := context.Background()
	conn, err := testdb.New(t, dialect.SQLite).Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	execAll(t, conn, baseTable)
	before, err := Inspect(ctx, conn, dialect.SQLite)
	require.NoError(t, err)
	execAll(t, conn, "ALTER TABLE t DROP COLUMN a")
	after, err := Inspect(ctx, conn, dialect.SQLite)
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compatFindings(stepInput{Dialect: dialect.SQLite, Version: tt.version, Source: "00002_change.sql",
				UpSQL: "ALTER TABLE t DROP COLUMN a", Contract: tt.ann, Before: before, After: after}, tt.opts)
			require.Len(t, got, 1)
			assert.Equal(t, CodeColumnDropped, got[0].Code)
			assert.Equal(t, tt.severity, got[0].Severity)
			assert.Contains(t, got[0].Message, tt.says)
		})
	}
	assert.Nil(t, compatFindings(stepInput{Dialect: dialect.SQLite, Before: before, After: after}, compatOptions{Disabled: true}))
}

func TestCompatOnlineWarningsStayWarnings(t *testing.T) {
	ack := &migrate.Annotation{Reason: "x", Line: 1}
	before := &Snapshot{Dialect: dialect.Postgres, Tables: []Table{{Name: "t", Columns: []Column{{Name: "id", Type: "integer"}, {Name: "a", Type: "integer", Nullable: true}}}}}
	after := &Snapshot{Dialect: dialect.Postgres, Tables: []Table{{Name: "t", Columns: []Column{{Name: "id", Type: "integer"}}, Indexes: []Index{{Name: "t_id", Parts: []string{"id"}}}}}}
	got := compatFindings(stepInput{Dialect: dialect.Postgres, Version: 1, Source: "00001_x.sql", Contract: ack, Before: before, After: after,
		UpSQL: "ALTER TABLE t DROP COLUMN a; CREATE INDEX t_id ON t (id);"}, compatOptions{Since: 5})
	require.Len(t, got, 2)
	assert.Equal(t, CodeColumnDropped, got[0].Code)
	assert.Equal(t, SeverityInfo, got[0].Severity)
	assert.Equal(t, CodeIndexNotConcurrent, got[1].Code)
	assert.Equal(t, SeverityWarning, got[1].Severity)
}

// With the released schema known (WithSince, a migration after it), what the
// upcoming release added itself is judged by what the previous release's
// INSERTs leave out, not by what it names.
func TestCompatAgainstReleasedSchema(t *testing.T) {
	str := func(s string) *string { return &s }
	released := &Snapshot{Dialect: dialect.SQLite, Tables: []Table{{Name: "t", Columns: []Column{
		{Name: "id", Type: "integer"}, {Name: "a", Type: "integer", Nullable: true}}}}}
	// Before this migration, the upcoming release already added n and d.
	before := &Snapshot{Dialect: dialect.SQLite, Tables: []Table{{Name: "t", Columns: []Column{
		{Name: "id", Type: "integer"}, {Name: "a", Type: "integer", Nullable: true},
		{Name: "n", Type: "integer", Nullable: true}, {Name: "d", Type: "integer", Nullable: true}}}}}
	tests := []struct {
		name   string
		change func(t *Table)
		want   []Code
	}{
		{"new column made NOT NULL with a default", func(t *Table) {
			t.Columns[2].Nullable, t.Columns[2].Default = false, str("0")
		}, []Code{}},
		{"new column made NOT NULL without a default", func(t *Table) {
			t.Columns[2].Nullable = false
		}, []Code{CodeColumnNotNull}},
		{"new column changes type", func(t *Table) { t.Columns[2].Type = "text" }, []Code{}},
		{"released column changes type", func(t *Table) { t.Columns[1].Type = "text" }, []Code{CodeColumnTypeChanged}},
		{"check over a new column", func(t *Table) {
			t.Checks = []CheckConstraint{{Name: "n_pos", Expr: "(n > 0)"}}
		}, []Code{}},
		{"check over a released column", func(t *Table) {
			t.Checks = []CheckConstraint{{Name: "a_pos", Expr: "(a > 0)"}}
		}, []Code{CodeCheckAdded}},
		{"new column dropped", func(t *Table) { t.Columns = t.Columns[:3] }, []Code{}},
		{"released column dropped", func(t *Table) {
			t.Columns = []Column{t.Columns[0], t.Columns[2], t.Columns[3]}
		}, []Code{CodeColumnDropped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := &Snapshot{Dialect: dialect.SQLite, Tables: []Table{{Name: "t", Columns: slices.Clone(before.Tables[0].Columns)}}}
			tt.change(&after.Tables[0])
			in := stepInput{Dialect: dialect.SQLite, Version: 3, Source: "00003_x.sql", Before: before, After: after, Released: released}
			assert.Equal(t, tt.want, findingCodes(compatFindings(in, compatOptions{Since: 1})), "with the released schema")
			if len(tt.want) == 0 {
				// Without WithSince the previous release is the schema
				// before this migration: the same change is a contract.
				assert.NotEmpty(t, compatFindings(in, compatOptions{}), "without --since")
			}
		})
	}
}

// Every rule fires in some case above on every dialect where it applies;
// the README says which do not.
func TestCompatRulesCoverEveryCode(t *testing.T) {
	where := map[Code][]dialect.Dialect{}
	add := func(codes []Code, dialects ...dialect.Dialect) {
		for _, c := range codes {
			where[c] = dialects
		}
	}
	add([]Code{CodeTableDropped, CodeColumnDropped, CodeTableRenamed, CodeColumnRenamed, CodeColumnTypeChanged,
		CodeColumnNotNull, CodeColumnDefaultDropped, CodeNotNullColumnAdded, CodeUniqueAdded, CodeForeignKeyAdded,
		CodeCheckAdded, CodeViewDropped, CodeViewChanged}, dialect.SQLite, dialect.Postgres, dialect.MySQL)
	add([]Code{CodeColumnTypeNarrowed, CodeEnumValueRemoved, CodeEnumValueRenamed, CodeTimeoutMissing}, dialect.Postgres, dialect.MySQL)
	add([]Code{CodeIndexNotConcurrent, CodeConcurrentlyInTransaction, CodeVolatileDefault, CodeTableRewrite,
		CodeNotNullScan, CodeConstraintValidation}, dialect.Postgres)
	add([]Code{CodeTableCopy}, dialect.MySQL)

	fired := map[Code]map[dialect.Dialect]bool{}
	for _, tc := range append(append([]ruleCase{}, contractCases...), onlineCases...) {
		for d, codes := range tc.want {
			for _, c := range codes {
				if fired[c] == nil {
					fired[c] = map[dialect.Dialect]bool{}
				}
				fired[c][d] = true
			}
		}
	}
	for code, dialects := range where {
		for _, d := range dialects {
			assert.True(t, fired[code][d], "no case makes %s fire on %s", code, d)
		}
	}
	for code := range fired {
		_, listed := where[code]
		assert.True(t, listed, "code %s fires but is not listed here", code)
	}
	for _, code := range []Code{CodeTableDropped, CodeColumnDropped, CodeTableRenamed, CodeColumnRenamed,
		CodeColumnTypeNarrowed, CodeColumnTypeChanged, CodeColumnNotNull, CodeColumnDefaultDropped,
		CodeNotNullColumnAdded, CodeUniqueAdded, CodeForeignKeyAdded, CodeCheckAdded, CodeEnumValueRemoved,
		CodeEnumValueRenamed, CodeViewDropped, CodeViewChanged} {
		assert.True(t, IsContract(code), code)
		assert.Contains(t, where, code)
	}
}

// An enum value the upcoming release added itself may go again; one the
// previous release knows may not.
func TestCompatEnumAgainstReleasedSchema(t *testing.T) {
	pg := func(values ...string) *Snapshot {
		return &Snapshot{Dialect: dialect.Postgres, Enums: []Enum{{Name: "mood", Values: values}},
			Tables: []Table{{Name: "t", Columns: []Column{{Name: "id", Type: "integer"}, {Name: "m", Type: "mood", Nullable: true}}}}}
	}
	my := func(typ string) *Snapshot {
		return &Snapshot{Dialect: dialect.MySQL, Tables: []Table{{Name: "t", Columns: []Column{{Name: "id", Type: "int"}, {Name: "m", Type: typ, Nullable: true}}}}}
	}
	tests := []struct {
		name                    string
		released, before, after *Snapshot
		withSince, withoutSince []Code
	}{
		{"postgres: a new value removed", pg("a", "b"), pg("a", "b", "c"), pg("a", "b"), []Code{}, []Code{CodeEnumValueRemoved}},
		{"postgres: a released value removed", pg("a", "b"), pg("a", "b", "c"), pg("a", "c"), []Code{CodeEnumValueRemoved}, []Code{CodeEnumValueRemoved}},
		{"mysql: a new value removed", my("enum('a','b')"), my("enum('a','b','c')"), my("enum('a','b')"), []Code{}, []Code{CodeEnumValueRemoved}},
		{"mysql: a released value renamed", my("enum('a','b')"), my("enum('a','b','c')"), my("enum('a','x','c')"), []Code{CodeEnumValueRenamed}, []Code{CodeEnumValueRenamed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := stepInput{Dialect: tt.before.Dialect, Version: 3, Source: "00003_x.sql", Before: tt.before, After: tt.after, Released: tt.released}
			assert.Equal(t, tt.withSince, findingCodes(contractFindings(in, nil, tt.released)), "against the released schema")
			assert.Equal(t, tt.withoutSince, findingCodes(contractFindings(in, nil, nil)), "against the schema before")
		})
	}
}
