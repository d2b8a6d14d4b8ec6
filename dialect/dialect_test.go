package dialect_test

import (
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]dialect.Dialect{
		"sqlite": dialect.SQLite, "sqlite3": dialect.SQLite, " SQLite ": dialect.SQLite,
		"postgres": dialect.Postgres, "postgresql": dialect.Postgres, "pgx": dialect.Postgres, "PostgreSQL": dialect.Postgres,
		"mysql": dialect.MySQL, "mariadb": dialect.MySQL, "MariaDB": dialect.MySQL,
	} {
		got, err := dialect.Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "oracle", "sqlserver", "postgres9"} {
		_, err := dialect.Parse(in)
		require.Error(t, err, in)
		assert.True(t, errors.Is(err, dialect.ErrUnknown), in)
		assert.Contains(t, err.Error(), `"`+in+`"`)
		assert.Contains(t, err.Error(), "want sqlite, postgres or mysql")
	}
}

func TestParseBoundsTheNameInItsError(t *testing.T) {
	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'x'
	}
	_, err := dialect.Parse(string(long))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 200)

	// A cut never splits a character.
	_, err = dialect.Parse(strings.Repeat("é", 100))
	require.Error(t, err)
	assert.True(t, utf8.ValidString(err.Error()), err.Error())
}

func TestStringRoundTrips(t *testing.T) {
	for _, d := range dialect.All() {
		require.NoError(t, d.Validate())
		back, err := dialect.Parse(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, back)
		assert.NotEmpty(t, d.Driver())
	}
	assert.Equal(t, []string{"sqlite", "pgx", "mysql"},
		[]string{dialect.SQLite.Driver(), dialect.Postgres.Driver(), dialect.MySQL.Driver()})
}

func TestZeroAndOutOfRangeAreRefused(t *testing.T) {
	var zero dialect.Dialect
	err := zero.Validate()
	require.ErrorIs(t, err, dialect.ErrUnknown)
	assert.Contains(t, err.Error(), "none given")
	require.ErrorIs(t, dialect.Dialect(9).Validate(), dialect.ErrUnknown)
	assert.Equal(t, "dialect(9)", dialect.Dialect(9).String())
	assert.Empty(t, zero.Driver())
	_, err = json.Marshal(zero)
	require.Error(t, err)
}

func TestJSONAndFlag(t *testing.T) {
	var v struct {
		D dialect.Dialect `json:"dialect"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"dialect":"mariadb"}`), &v))
	assert.Equal(t, dialect.MySQL, v.D)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"dialect":"mysql"}`, string(out))
	require.ErrorIs(t, json.Unmarshal([]byte(`{"dialect":"db2"}`), &v), dialect.ErrUnknown)

	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	d := dialect.SQLite
	fs.Var(&d, "dialect", "database")
	require.NoError(t, fs.Parse([]string{"--dialect", "pgx"}))
	assert.Equal(t, dialect.Postgres, d)
}

func TestPlaceholderAndQuote(t *testing.T) {
	assert.Equal(t, "$3", dialect.Postgres.Placeholder(3))
	assert.Equal(t, "?", dialect.MySQL.Placeholder(3))
	assert.Equal(t, "?", dialect.SQLite.Placeholder(1))
	assert.Equal(t, "`a``b`", dialect.MySQL.QuoteIdent("a`b"))
	assert.Equal(t, `"a""b"`, dialect.Postgres.QuoteIdent(`a"b`))
	assert.Equal(t, `"t"`, dialect.SQLite.QuoteIdent("t"))
}

func TestRebind(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"UPDATE t SET a = ? WHERE id = ?", "UPDATE t SET a = $1 WHERE id = $2"},
		{"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{`SELECT "we?ird" FROM t WHERE a = ?`, `SELECT "we?ird" FROM t WHERE a = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"SELECT j ?? 'k', ?", "SELECT j ? 'k', $1"},
		{"SELECT 'unclosed ?", "SELECT 'unclosed ?"},
		{"SELECT ? /* unclosed ?", "SELECT $1 /* unclosed ?"},
		{"SELECT ? -- tail ?", "SELECT $1 -- tail ?"},
		{"SELECT `a?` , ?", "SELECT `a$1` , $2"}, // a backquote is no quote on PostgreSQL
	}
	for _, c := range cases {
		assert.Equal(t, c.want, dialect.Postgres.Rebind(c.in), c.in)
		assert.Equal(t, c.in, dialect.MySQL.Rebind(c.in), c.in)
		assert.Equal(t, c.in, dialect.SQLite.Rebind(c.in), c.in)
	}
}

func FuzzRebind(f *testing.F) {
	for _, s := range []string{"?", "a = ? AND b = '?'", "/*", "--", `"`, "??"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := dialect.Postgres.Rebind(q)
		if dialect.MySQL.Rebind(q) != q {
			t.Fatalf("mysql changed %q", q)
		}
		// Placeholders only ever add digits; nothing else of the query is lost.
		if len(out) < len(q)-countPairs(q) {
			t.Fatalf("rebind lost text: %q -> %q", q, out)
		}
	})
}

func countPairs(s string) int {
	n := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '?' && s[i+1] == '?' {
			n++
			i++
		}
	}
	return n
}
