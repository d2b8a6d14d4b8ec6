package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/dialect"
)

func heads(stmts []stmt) []string {
	out := []string{}
	for _, s := range stmts {
		out = append(out, s.text)
	}
	return out
}

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name    string
		dialect dialect.Dialect
		src     string
		want    []string
	}{
		{"plain", dialect.SQLite, "CREATE TABLE a (id int);\nDROP TABLE b;", []string{"CREATE TABLE a (id int)", "DROP TABLE b"}},
		{"several on a line, no final semicolon", dialect.Postgres, "SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"empty statements and comments", dialect.SQLite, ";;\n-- only a comment;\n/* block; */ ;", nil},
		{"semicolon in a string", dialect.Postgres, "INSERT INTO a VALUES ('x;y', 'it''s;');", []string{"INSERT INTO a VALUES ('x;y', 'it''s;')"}},
		{"semicolon in a quoted identifier", dialect.Postgres, `CREATE TABLE "a;b" (id int);`, []string{`CREATE TABLE "a;b" (id int)`}},
		{"line comment", dialect.SQLite, "SELECT 1 -- no; split\n;", []string{"SELECT 1 -- no; split"}},
		{"nested block comment on postgres", dialect.Postgres, "SELECT /* a /* b; */ c; */ 1;", []string{"SELECT /* a /* b; */ c; */ 1"}},
		{"block comments do not nest on mysql", dialect.MySQL, "SELECT /* a /* b */ 1; SELECT 2;", []string{"SELECT /* a /* b */ 1", "SELECT 2"}},
		{"dollar quoting", dialect.Postgres, "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT $$;$$;",
			[]string{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql", "SELECT $$;$$"}},
		{"E string with backslash", dialect.Postgres, `SELECT E'a\';b'; SELECT 2;`, []string{`SELECT E'a\';b'`, "SELECT 2"}},
		{"standard string keeps backslash", dialect.Postgres, `SELECT 'a\'; SELECT 2;`, []string{`SELECT 'a\'`, "SELECT 2"}},
		{"mysql backslash escape", dialect.MySQL, `SELECT 'a\';b'; SELECT "c;d";`, []string{`SELECT 'a\';b'`, `SELECT "c;d"`}},
		{"mysql hash comment", dialect.MySQL, "SELECT 1; # a; b\nSELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"sqlite trigger body", dialect.SQLite, "CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; DELETE FROM c; END;\nSELECT 1;",
			[]string{"CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; DELETE FROM c; END", "SELECT 1"}},
		{"mysql procedure with END IF and CASE", dialect.MySQL, "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT CASE WHEN 1 THEN 2 END; END IF; END;\nSELECT 3;",
			[]string{"CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT CASE WHEN 1 THEN 2 END; END IF; END", "SELECT 3"}},
		{"unterminated string runs to the end", dialect.SQLite, "SELECT 'abc; DROP TABLE x;", []string{"SELECT 'abc; DROP TABLE x;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitSQL(tt.src, tt.dialect)
			if tt.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tt.want, heads(got))
		})
	}
}

func TestTokens(t *testing.T) {
	s := splitSQL(`ALTER TABLE "Sch"."Orders" ADD COLUMN x int DEFAULT 'a''b' -- c`, dialect.Postgres)[0]
	kinds := []tokKind{}
	for _, tok := range s.toks {
		kinds = append(kinds, tok.kind)
	}
	assert.Equal(t, []tokKind{tokWord, tokWord, tokIdent, tokPunct, tokIdent, tokWord, tokWord, tokWord, tokWord, tokWord, tokString}, kinds)
	assert.Equal(t, "Orders", s.toks[4].name())
	assert.Equal(t, "a'b", s.toks[10].text)
	at, ok := readAlterTable(s)
	assert.True(t, ok)
	assert.Equal(t, "Orders", at.table)
}

func TestStatementRenames(t *testing.T) {
	stmts := splitSQL(`ALTER TABLE a RENAME TO b;
ALTER TABLE IF EXISTS ONLY s.c RENAME COLUMN x TO y;
ALTER TABLE d RENAME z TO w;
ALTER TABLE e CHANGE COLUMN p q int, RENAME INDEX i TO j;
ALTER TABLE f RENAME CONSTRAINT k TO l;
RENAME TABLE g TO h, i2 TO j2;
ALTER TABLE m RENAME n;`, dialect.MySQL)
	tables, columns := statementRenames(stmts)
	assert.Equal(t, []rename{{old: "a", new: "b"}, {old: "g", new: "h"}, {old: "i2", new: "j2"}, {old: "m", new: "n"}}, tables)
	assert.Equal(t, []rename{{table: "c", old: "x", new: "y"}, {table: "d", old: "z", new: "w"}, {table: "e", old: "p", new: "q"}}, columns)
	assert.Equal(t, []rename{{table: "mood", old: "a", new: "b"}}, enumRenames(splitSQL("ALTER TYPE public.mood RENAME VALUE 'a' TO 'b'", dialect.Postgres)))
}

func TestCompareTypes(t *testing.T) {
	pg := &Snapshot{Dialect: dialect.Postgres, Enums: []Enum{{Name: "mood", Values: []string{"happy", "sad"}}}}
	my := &Snapshot{Dialect: dialect.MySQL}
	lite := &Snapshot{Dialect: dialect.SQLite}
	tests := []struct {
		snap *Snapshot
		a, b string
		want typeVerdict
	}{
		{pg, "integer", "bigint", typeWidened},
		{pg, "bigint", "integer", typeNarrowed},
		{pg, "smallint", "integer", typeWidened},
		{pg, "varchar(10)", "varchar(20)", typeWidened},
		{pg, "varchar(20)", "varchar(10)", typeNarrowed},
		{pg, "varchar(20)", "text", typeWidened},
		{pg, "text", "varchar(20)", typeNarrowed},
		{pg, "numeric(10,2)", "numeric(12,2)", typeWidened},
		{pg, "numeric(10,2)", "numeric(10,3)", typeNarrowed}, // one digit fewer before the point
		{pg, "numeric(10,2)", "numeric(9,1)", typeNarrowed},
		{pg, "numeric(10,2)", "numeric", typeWidened},
		{pg, "integer", "numeric(12,0)", typeWidened},
		{pg, "bigint", "numeric(12,0)", typeNarrowed},
		{pg, "integer", "text", typeChanged},
		{pg, "text", "integer", typeChanged},
		{pg, "real", "double precision", typeWidened},
		{pg, "double precision", "real", typeNarrowed},
		{pg, "date", "timestamp", typeWidened},
		{pg, "timestamp", "date", typeNarrowed},
		{pg, "timestamp", "timestamptz", typeChanged},
		{pg, "timestamp(6)", "timestamp(3)", typeNarrowed},
		{pg, "json", "jsonb", typeSame},
		{pg, "mood", "text", typeWidened},
		{pg, "text", "mood", typeNarrowed},
		{pg, "uuid", "text", typeWidened},
		{pg, "integer[]", "bigint[]", typeWidened},
		{pg, "bigint[]", "integer[]", typeNarrowed},
		{pg, "boolean", "integer", typeChanged},
		{my, "int", "bigint", typeWidened},
		{my, "int", "int unsigned", typeNarrowed},
		{my, "int unsigned", "int", typeNarrowed},
		{my, "int unsigned", "bigint", typeWidened},
		{my, "tinyint(1)", "smallint", typeWidened},
		{my, "text", "mediumtext", typeWidened},
		{my, "longtext", "text", typeNarrowed},
		{my, "varchar(300)", "text", typeWidened},
		{my, "datetime", "timestamp", typeNarrowed},
		{my, "timestamp", "datetime", typeWidened},
		{my, "datetime(6)", "datetime", typeNarrowed},
		{my, "decimal(10,2)", "decimal(12,2)", typeWidened},
		{my, "enum('a','b')", "enum('a','b','c')", typeWidened},
		{my, "enum('a','b')", "enum('a')", typeNarrowed},
		{my, "enum('a','b')", "varchar(1)", typeWidened},
		{my, "enum('a','bb')", "varchar(1)", typeNarrowed},
		{my, "double", "float", typeNarrowed},
		{lite, "varchar(20)", "varchar(10)", typeSame}, // SQLite does not enforce lengths
		{lite, "int", "bigint", typeSame},
		{lite, "integer", "text", typeChanged},
		{lite, "text", "blob", typeChanged},
	}
	for _, tt := range tests {
		got := compareTypes(readType(tt.snap, tt.a), readType(tt.snap, tt.b))
		assert.Equal(t, tt.want, got, "%s: %s → %s", tt.snap.Dialect, tt.a, tt.b)
	}
}

func FuzzSplitSQL(f *testing.F) {
	f.Add("CREATE TABLE a (id int); SELECT 'x;y';", uint8(dialect.Postgres))
	f.Add("SELECT $a$ ; $a$; /* /* */ */ SELECT 1", uint8(dialect.Postgres))
	f.Add("CREATE TRIGGER t BEGIN SELECT CASE WHEN 1 THEN 2 END; END; SELECT 1", uint8(dialect.SQLite))
	f.Add("SELECT 'a\\'b'; # c\nSELECT `x;y`", uint8(dialect.MySQL))
	f.Add("ALTER TABLE t ADD COLUMN c int DEFAULT random(), ALTER COLUMN d TYPE text", uint8(dialect.Postgres))
	f.Fuzz(func(t *testing.T, src string, d uint8) {
		stmts := splitSQL(src, dialect.Dialect(d))
		for _, s := range stmts {
			if len(s.toks) == 0 {
				t.Fatalf("empty statement from %q", src)
			}
			if s.text == "" || strings.TrimSpace(s.text) != s.text {
				t.Fatalf("bad statement text %q from %q", s.text, src)
			}
			for _, tok := range s.toks {
				if tok.punct(';') && !isRoutine(s.toks) {
					t.Fatalf("statement %q holds a top-level semicolon", s.text)
				}
			}
			// The readers must never panic on any statement.
			readAlterTable(s)
			statementRenames([]stmt{s})
			enumRenames([]stmt{s})
			_ = s.head()
		}
		snap := &Snapshot{Dialect: dialect.Dialect(d), Tables: []Table{{Name: "t", Columns: []Column{{Name: "a", Type: "integer"}}}}}
		onlineFindings(stepInput{Dialect: dialect.Dialect(d), Before: snap, After: snap, UpSQL: src}, stmts, compatOptions{Timeouts: true})
		// The whole analysis, with a table and a column gone, so that the
		// renames the statements name are followed.
		before := &Snapshot{Dialect: dialect.Dialect(d), Tables: []Table{
			{Name: "t", Columns: []Column{{Name: "a", Type: "integer"}, {Name: "b", Type: "text", Nullable: true}},
				Indexes: []Index{{Name: "t_a", Parts: []string{"a"}, Unique: true}}},
			{Name: "u", Columns: []Column{{Name: "id", Type: "integer"}}},
		}, Views: []View{{Name: "v", Columns: []string{"a"}}}, Enums: []Enum{{Name: "e", Values: []string{"x", "y"}}}}
		after := &Snapshot{Dialect: dialect.Dialect(d), Tables: []Table{
			{Name: "t2", Columns: []Column{{Name: "a2", Type: "integer"}, {Name: "c", Type: "text"}},
				Indexes: []Index{{Name: "t_c", Parts: []string{"(lower(c))"}, Unique: true}},
				Checks:  []CheckConstraint{{Name: "c_ck", Expr: "(c <> a2)"}}},
		}, Enums: []Enum{{Name: "e", Values: []string{"y", "z"}}}}
		for _, f := range compatFindings(stepInput{Dialect: dialect.Dialect(d), Version: 2, Source: "x.sql", UpSQL: src,
			Before: before, After: after, Released: snap}, compatOptions{Since: 1, Timeouts: true}) {
			if f.Code == "" || !strings.HasPrefix(f.Message, "x.sql: ") {
				t.Fatalf("malformed finding %+v", f)
			}
		}
	})
}
