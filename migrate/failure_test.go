package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

// A migration fails on its third statement, after creating a table and
// inserting into another.
func failingSet(noTx bool) fstest.MapFS {
	head := "-- +goose Up\n"
	if noTx {
		head = "-- +goose NO TRANSACTION\n" + head
	}
	return fstest.MapFS{
		"00001_base.sql": sqlFile("CREATE TABLE base (id INTEGER PRIMARY KEY);", "DROP TABLE base;"),
		"00002_broken.sql": &fstest.MapFile{Data: []byte(head +
			"CREATE TABLE half (id INTEGER PRIMARY KEY);\n" +
			"INSERT INTO base (id) VALUES (7);\n" +
			"INSERT INTO no_such_table (id) VALUES (1);\n" +
			"\n-- +goose Down\nDROP TABLE half;\n")},
		"00003_never.sql": sqlFile("CREATE TABLE never (id INTEGER PRIMARY KEY);", "DROP TABLE never;"),
	}
}

func TestPartialFailureInTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, failingSet(false))
		res, err := r.Up(ctx)
		require.Error(t, err)
		assert.Equal(t, []int64{1}, versions(res), "the results are what applied before the failure")

		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		var gpe *goose.PartialError
		require.ErrorAs(t, err, &gpe, "goose's error stays reachable")
		assert.Equal(t, "up", pe.Direction)
		assert.Equal(t, []int64{1}, versions(pe.Applied))
		assert.Equal(t, "00002_broken.sql", pe.Failed.Name())
		assert.True(t, pe.Transactional)
		require.Len(t, pe.Started, 3)
		assert.Contains(t, pe.Statement(), "no_such_table")
		assert.Len(t, pe.Ran(), 2)
		assert.ErrorContains(t, err, "migrate: up 00002_broken.sql failed")
		assert.ErrorContains(t, err, "applied before it: 00001_base.sql")
		assert.ErrorContains(t, err, "in statement 3: INSERT INTO no_such_table")

		v, verr := r.Version(ctx)
		require.NoError(t, verr)
		assert.Equal(t, int64(1), v)
		assert.False(t, tableExists(t, db.DB, "never"))

		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM base").Scan(&n))
		if db.Dialect == dialect.MySQL {
			// CREATE TABLE committed by itself, and with it the insert before
			// the failure: the error must say so.
			assert.False(t, pe.RolledBack())
			assert.True(t, tableExists(t, db.DB, "half"))
			assert.ErrorContains(t, err, "MySQL commits DDL, and what ran before it, by itself, so these 2 statements stay applied")
			assert.Equal(t, 1, n, "the insert after the implicit commit stays")
			return
		}
		assert.True(t, pe.RolledBack())
		assert.ErrorContains(t, err, "its transaction was rolled back")
		assert.False(t, tableExists(t, db.DB, "half"), "nothing of the failed migration remains")
		assert.Equal(t, 0, n, "nothing of the failed migration remains")
	})
}

func TestPartialFailureWithoutTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, failingSet(true))
		_, err := r.Up(ctx)
		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		assert.False(t, pe.Transactional)
		assert.False(t, pe.RolledBack())
		require.Len(t, pe.Ran(), 2)
		assert.Contains(t, pe.Ran()[0], "CREATE TABLE half")
		assert.Contains(t, pe.Ran()[1], "INSERT INTO base")
		assert.ErrorContains(t, err, "it ran without a transaction, so these 2 statements stay applied: [1] CREATE TABLE half")

		// What the error says ran is what the database holds.
		assert.True(t, tableExists(t, db.DB, "half"))
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM base WHERE id = 7").Scan(&n))
		assert.Equal(t, 1, n)
		v, verr := r.Version(ctx)
		require.NoError(t, verr)
		assert.Equal(t, int64(1), v, "the failed version is not recorded")
	})
}

func TestFailedDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		fsys := threeTables()
		fsys["00002_t2.sql"] = sqlFile("CREATE TABLE t2 (id INTEGER PRIMARY KEY);", "DROP TABLE no_such_table;")
		r := newRunner(t, db.DB, db.Dialect, fsys)
		_, err := r.Up(ctx)
		require.NoError(t, err)

		res, err := r.DownTo(ctx, 0)
		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "down", pe.Direction)
		assert.Equal(t, []int64{3}, versions(res))
		assert.Equal(t, int64(2), pe.Failed.Version)
		assert.ErrorContains(t, err, "migrate: down 00002_t2.sql failed")
		assert.ErrorContains(t, err, "applied before it: 00003_t3.sql")
		v, verr := r.Version(ctx)
		require.NoError(t, verr)
		assert.Equal(t, int64(2), v)
	})
}
