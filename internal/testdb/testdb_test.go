package testdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func TestFreshIsolatedDatabases(t *testing.T) {
	for _, d := range dialect.All() {
		t.Run(d.String(), func(t *testing.T) {
			ctx := context.Background()
			var first *testdb.DB
			t.Run("first", func(t *testing.T) {
				first = testdb.New(t, d)
				_, err := first.ExecContext(ctx, "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20))")
				require.NoError(t, err)
				_, err = first.ExecContext(ctx, "INSERT INTO items (id, name) VALUES (1, 'a')")
				require.NoError(t, err)

				// A second pool from the DSN sees the same schema.
				other := first.Open(t)
				var n int
				require.NoError(t, other.QueryRowContext(ctx, "SELECT COUNT(*) FROM items").Scan(&n))
				assert.Equal(t, 1, n)

				// A second fresh database does not.
				second := testdb.New(t, d)
				assert.NotEqual(t, first.Name, second.Name)
				_, err = second.ExecContext(ctx, "SELECT COUNT(*) FROM items")
				require.Error(t, err, "a fresh database must not see another test's tables")
			})
			if t.Skipped() || first == nil {
				return
			}
			// The subtest's cleanup has run: its schema/database is gone.
			assert.False(t, exists(t, first), "%s %s survived its test", d, first.Name)
		})
	}
}

// exists reports whether the schema/database of db is still there, asked
// through a new connection to the server.
func exists(t *testing.T, db *testdb.DB) bool {
	t.Helper()
	ctx := context.Background()
	switch db.Dialect {
	case dialect.SQLite:
		return false // t.TempDir is removed by the testing package itself
	case dialect.Postgres:
		pool, err := sql.Open("pgx", db.DSN)
		require.NoError(t, err)
		defer pool.Close()
		var n int
		require.NoError(t, pool.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1", db.Name).Scan(&n))
		return n > 0
	case dialect.MySQL:
		cfgDSN := strings.Replace(db.DSN, "/"+db.Name, "/", 1)
		pool, err := sql.Open("mysql", cfgDSN)
		require.NoError(t, err)
		defer pool.Close()
		var n int
		require.NoError(t, pool.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", db.Name).Scan(&n))
		return n > 0
	}
	t.Fatalf("unknown dialect %s", db.Dialect)
	return false
}

// recorder stands in for a test so that skip-or-fail can be observed.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

type stop struct{}

func (r *recorder) Helper()           {}
func (r *recorder) Cleanup(func())    {}
func (r *recorder) Skip(args ...any)  { r.skipped, r.msg = true, fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Fatal(args ...any) { r.failed, r.msg = true, fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Fatalf(f string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(f, args...)
	panic(stop{})
}

func run(r *recorder, fn func(testing.TB)) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stop); !ok {
				panic(v)
			}
		}
	}()
	fn(r)
}

func TestMissingDatabaseSkipsOrFails(t *testing.T) {
	cases := []struct {
		name     string
		env      string
		value    string
		require  string
		open     func(testing.TB) *testdb.DB
		wantSkip bool
	}{
		{"postgres unset", testdb.EnvPostgres, "", "", testdb.NewPostgres, true},
		{"postgres unset required", testdb.EnvPostgres, "", "1", testdb.NewPostgres, false},
		{"postgres unreachable", testdb.EnvPostgres, "postgres://postgres:hunter2@127.0.0.1:1/x?connect_timeout=2&sslmode=disable", "", testdb.NewPostgres, true},
		{"postgres unreachable required", testdb.EnvPostgres, "postgres://postgres:hunter2@127.0.0.1:1/x?connect_timeout=2&sslmode=disable", "1", testdb.NewPostgres, false},
		{"mysql unset", testdb.EnvMySQL, "", "0", testdb.NewMySQL, true},
		{"mysql unset required", testdb.EnvMySQL, "", "1", testdb.NewMySQL, false},
		{"mysql unreachable", testdb.EnvMySQL, "root:hunter2@tcp(127.0.0.1:1)/?timeout=2s", "", testdb.NewMySQL, true},
		{"mysql unreachable required", testdb.EnvMySQL, "root:hunter2@tcp(127.0.0.1:1)/?timeout=2s", "1", testdb.NewMySQL, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			t.Setenv(testdb.EnvRequireDBs, tc.require)
			r := &recorder{TB: t}
			run(r, func(tb testing.TB) { tc.open(tb) })
			assert.Equal(t, tc.wantSkip, r.skipped, "skipped: %s", r.msg)
			assert.Equal(t, !tc.wantSkip, r.failed, "failed: %s", r.msg)
			assert.NotContains(t, r.msg, "hunter2", "the password must not reach the test log")
			if !tc.wantSkip {
				assert.Contains(t, r.msg, testdb.EnvRequireDBs)
			}
		})
	}
}

func TestEachRunsEveryDialect(t *testing.T) {
	var seen []dialect.Dialect
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		seen = append(seen, db.Dialect)
		var one int
		require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&one))
		assert.Equal(t, 1, one)
	})
	require.NotEmpty(t, seen)
	assert.Equal(t, dialect.SQLite, seen[0])
	if testdb.Required() {
		assert.Equal(t, dialect.All(), seen)
	}
}
