package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/annotation"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

// sqlFile is a goose SQL migration with the given up and down statements.
func sqlFile(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n\n-- +goose Down\n" + down + "\n")}
}

// threeTables creates t1, t2 and t3, one per migration.
func threeTables() fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= 3; i++ {
		fsys[fmt.Sprintf("%05d_t%d.sql", i, i)] = sqlFile(
			fmt.Sprintf("CREATE TABLE t%d (id INTEGER PRIMARY KEY, name VARCHAR(50));", i),
			fmt.Sprintf("DROP TABLE t%d;", i))
	}
	return fsys
}

func newRunner(t *testing.T, db *sql.DB, d dialect.Dialect, fsys fstest.MapFS, opts ...migrate.Option) *migrate.Runner {
	t.Helper()
	r, err := migrate.New(db, d, fsys, opts...)
	require.NoError(t, err)
	return r
}

func versions(res []migrate.Result) []int64 {
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Version
	}
	return out
}

// tableExists asks the database itself, by selecting from the table.
func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT 1 FROM "+name)
	if err != nil {
		return false
	}
	require.NoError(t, rows.Close())
	return true
}

func TestUpDownStatus(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, threeTables())

		v, err := r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(0), v)
		require.ErrorIs(t, r.Ready(ctx), migrate.ErrPending)

		res, err := r.Up(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2, 3}, versions(res))
		assert.Equal(t, "00002_t2.sql", res[1].Name())
		assert.Equal(t, "up", res[1].Direction)
		for _, name := range []string{"t1", "t2", "t3"} {
			assert.True(t, tableExists(t, db.DB, name), name)
		}

		res, err = r.Up(ctx)
		require.NoError(t, err)
		assert.Empty(t, res, "nothing left to apply")
		require.NoError(t, r.Ready(ctx))

		st, err := r.Status(ctx)
		require.NoError(t, err)
		require.Len(t, st, 3)
		for _, s := range st {
			assert.Equal(t, migrate.Applied, s.State, s.Name())
			assert.False(t, s.AppliedAt.IsZero(), s.Name())
			assert.Equal(t, migrate.SourceSQL, s.Type)
		}

		res, err = r.Down(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{3}, versions(res))
		assert.Equal(t, "down", res[0].Direction)
		assert.False(t, tableExists(t, db.DB, "t3"))
		v, err = r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), v)

		err = r.Ready(ctx)
		require.ErrorIs(t, err, migrate.ErrPending)
		assert.ErrorContains(t, err, "1, starting with 00003_t3.sql")
		pending, err := r.Pending(ctx)
		require.NoError(t, err)
		require.Len(t, pending, 1)
		assert.Equal(t, int64(3), pending[0].Version)

		res, err = r.DownTo(ctx, 0)
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 1}, versions(res))
		assert.False(t, tableExists(t, db.DB, "t1"))

		res, err = r.Down(ctx)
		require.NoError(t, err)
		assert.Empty(t, res, "nothing left to roll back")

		res, err = r.UpTo(ctx, 2)
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2}, versions(res))
		st, err = r.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, migrate.Pending, st[2].State)
		assert.True(t, st[2].AppliedAt.IsZero())
	})
}

func TestVersionTableIsGooses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, threeTables())
		_, err := r.UpTo(ctx, 2)
		require.NoError(t, err)

		// goose itself, on its own, reads the history the Runner wrote.
		gd := map[dialect.Dialect]goose.Dialect{dialect.SQLite: goose.DialectSQLite3, dialect.Postgres: goose.DialectPostgres, dialect.MySQL: goose.DialectMySQL}
		p, err := goose.NewProvider(gd[db.Dialect], db.DB, threeTables(), goose.WithDisableGlobalRegistry(true))
		require.NoError(t, err)
		v, err := p.GetDBVersion(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), v)

		custom := newRunner(t, db.DB, db.Dialect, threeTables(), migrate.WithTableName("app_versions"))
		res, err := custom.Pending(ctx)
		require.NoError(t, err)
		assert.Len(t, res, 3, "a separate version table has its own history")
		assert.True(t, tableExists(t, db.DB, "app_versions"))
	})
}

func TestIrreversible(t *testing.T) {
	fsys := threeTables()
	fsys["00002_t2.sql"] = &fstest.MapFile{Data: []byte(
		"-- rollsafe:irreversible reason=\"drops data nobody can restore\"\n" + string(fsys["00002_t2.sql"].Data))}

	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, fsys)
		_, err := r.Up(ctx)
		require.NoError(t, err)

		// DownTo checks the whole range first: nothing is rolled back, not
		// even 3, which is reversible.
		res, err := r.DownTo(ctx, 0)
		require.ErrorIs(t, err, migrate.ErrIrreversible)
		assert.Empty(t, res)
		var ie *migrate.IrreversibleError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, int64(2), ie.Migration.Version)
		assert.Equal(t, "drops data nobody can restore", ie.Migration.Irreversible)
		assert.ErrorContains(t, err, "00002_t2.sql")
		assert.True(t, tableExists(t, db.DB, "t3"), "DownTo rolled back part of the range")

		res, err = r.Down(ctx)
		require.NoError(t, err, "3 is reversible")
		assert.Equal(t, []int64{3}, versions(res))

		_, err = r.Down(ctx)
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, int64(1), ie.Target)
		assert.True(t, tableExists(t, db.DB, "t2"))

		res, err = r.DownTo(ctx, 2)
		require.NoError(t, err, "the range above 2 is empty")
		assert.Empty(t, res)

		forced := newRunner(t, db.DB, db.Dialect, fsys, migrate.WithAllowIrreversible())
		res, err = forced.DownTo(ctx, 0)
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 1}, versions(res))
		assert.False(t, tableExists(t, db.DB, "t2"))
	})
}

func TestNewErrors(t *testing.T) {
	db := testdb.NewSQLite(t)
	good := threeTables()
	badAnnotation := threeTables()
	badAnnotation["00003_t3.sql"] = &fstest.MapFile{Data: []byte("-- rollsafe:irreversible\n" + string(good["00003_t3.sql"].Data))}
	goMig := goose.NewGoMigration(7, &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }}, nil)

	tests := []struct {
		name    string
		db      *sql.DB
		dialect dialect.Dialect
		fsys    fstest.MapFS
		opts    []migrate.Option
		is      error
		msg     string
	}{
		{"nil db", nil, dialect.SQLite, good, nil, nil, "db is nil"},
		{"no dialect", db.DB, 0, good, nil, dialect.ErrUnknown, "none given"},
		{"unknown dialect", db.DB, dialect.Dialect(9), good, nil, dialect.ErrUnknown, "dialect(9)"},
		{"no migrations", db.DB, dialect.SQLite, fstest.MapFS{}, nil, migrate.ErrNoMigrations, "no migrations"},
		{"bad annotation", db.DB, dialect.SQLite, badAnnotation, nil, migrate.ErrAnnotation, "00003_t3.sql"},
		{"empty table name", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithTableName("")}, nil, "WithTableName"},
		{"injected table name", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithTableName("x; DROP TABLE y")}, nil, "not a plain table name"},
		{"nil logger", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithLogger(nil)}, nil, "WithLogger: nil logger"},
		{"nil go migration", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithGoMigrations(nil)}, nil, "nil migration"},
		{"go migration twice", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithGoMigrations(goMig, goMig)}, nil, "version 7 given twice"},
		{"go version clashes with file", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithGoMigrations(
			goose.NewGoMigration(2, nil, nil))}, nil, "2"},
		{"nil meter provider", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithMeterProvider(nil)}, nil, "WithMeterProvider"},
		{"nil tracer provider", db.DB, dialect.SQLite, good, []migrate.Option{migrate.WithTracerProvider(nil)}, nil, "WithTracerProvider"},
		{"nil option", db.DB, dialect.SQLite, good, []migrate.Option{nil}, nil, "nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := migrate.New(tt.db, tt.dialect, tt.fsys, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, r)
			assert.ErrorContains(t, err, tt.msg)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// The messages of New say each thing once (they used to read "migrate: no
// migrations found: no migrations found").
func TestNewErrorsSayItOnce(t *testing.T) {
	db := testdb.NewSQLite(t)
	_, err := migrate.New(db.DB, dialect.SQLite, fstest.MapFS{})
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "no migrations found"), err.Error())
	assert.Equal(t, 1, strings.Count(err.Error(), "migrate:"), err.Error())
	_, err = migrate.New(db.DB, 0, threeTables())
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), "unknown dialect"), err.Error())
}

// ErrAnnotation is the sentinel callers outside the module can test; it is
// the annotation parser's own.
func TestErrAnnotationIsTheParsersSentinel(t *testing.T) {
	assert.ErrorIs(t, migrate.ErrAnnotation, annotation.ErrSyntax)
}

func TestSingleConnectionPool(t *testing.T) {
	db := testdb.NewSQLite(t)
	pool := db.Open(t)
	pool.SetMaxOpenConns(1)
	ctx := context.Background()

	_, err := newRunner(t, pool, db.Dialect, threeTables()).Up(ctx)
	require.ErrorIs(t, err, migrate.ErrLockUnavailable)
	assert.ErrorContains(t, err, "MaxOpenConns is 1, and the lock holds a connection while the migrations need 1 more; allow 2 or use WithoutLock")

	// A Go migration outside a transaction runs on the pool, beside goose's
	// connection and the lock's: two are not enough.
	pool.SetMaxOpenConns(2)
	noTx := goose.NewGoMigration(9, &goose.GoFunc{RunDB: func(context.Context, *sql.DB) error { return nil }}, nil)
	_, err = newRunner(t, pool, db.Dialect, threeTables(), migrate.WithGoMigrations(noTx)).Up(ctx)
	require.ErrorIs(t, err, migrate.ErrLockUnavailable)
	assert.ErrorContains(t, err, "allow 3")
	pool.SetMaxOpenConns(3)
	res, err := newRunner(t, pool, db.Dialect, threeTables(), migrate.WithGoMigrations(noTx)).UpTo(ctx, 1)
	require.NoError(t, err)
	assert.Len(t, res, 1)
	pool.SetMaxOpenConns(1)

	res, err = newRunner(t, pool, db.Dialect, threeTables(), migrate.WithoutLock()).Up(ctx)
	require.NoError(t, err)
	assert.Len(t, res, 2)
}

func TestGoMigrations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		fsys := fstest.MapFS{
			"00001_users.sql": sqlFile("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);", "DROP TABLE users;"),
		}
		seed := goose.NewGoMigration(2,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'grace')")
				return err
			}},
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "DELETE FROM users")
				return err
			}})
		failing := goose.NewGoMigration(3,
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO users (id, name) VALUES (3, 'linus')"); err != nil {
					return err
				}
				return errors.New("backfill refused")
			}}, nil)
		r := newRunner(t, db.DB, db.Dialect, fsys, migrate.WithGoMigrations(seed, failing))
		ms := r.Migrations()
		require.Len(t, ms, 3)
		assert.Equal(t, migrate.SourceGo, ms[1].Type)

		res, err := r.Up(ctx)
		require.Error(t, err)
		assert.Equal(t, []int64{1, 2}, versions(res))
		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, int64(3), pe.Failed.Version)
		assert.True(t, pe.Transactional)
		assert.Empty(t, pe.Started, "goose logs no statements for Go migrations")
		assert.ErrorContains(t, err, "backfill refused")

		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
		assert.Equal(t, 2, n, "the failed Go migration's insert was rolled back")

		res, err = r.Down(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{2}, versions(res))
		require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
		assert.Equal(t, 0, n)
	})
}

func TestLogger(t *testing.T) {
	db := testdb.NewSQLite(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRunner(t, db.DB, db.Dialect, threeTables(), migrate.WithLogger(logger))
	_, err := r.UpTo(context.Background(), 1)
	require.NoError(t, err)
	out := buf.String()
	assert.Contains(t, out, `level=DEBUG msg="waiting for the migration lock" op="up to 1"`)
	assert.Contains(t, out, `level=DEBUG msg="executing statement"`)
	assert.Contains(t, out, `statement="CREATE TABLE t1 (id INTEGER PRIMARY KEY, name VARCHAR(50));"`)
	assert.Contains(t, out, `level=INFO msg="migration up" version=1 source=00001_t1.sql`)
}

func BenchmarkUp(b *testing.B) {
	fsys := fstest.MapFS{}
	for i := 1; i <= 20; i++ {
		fsys[fmt.Sprintf("%05d_t%d.sql", i, i)] = sqlFile(
			fmt.Sprintf("CREATE TABLE t%d (id INTEGER PRIMARY KEY, name VARCHAR(50));", i),
			fmt.Sprintf("DROP TABLE t%d;", i))
	}
	for _, lock := range []bool{true, false} {
		b.Run(fmt.Sprintf("sqlite/20-migrations/lock=%v", lock), func(b *testing.B) {
			db := testdb.NewSQLite(b)
			var opts []migrate.Option
			if !lock {
				opts = append(opts, migrate.WithoutLock())
			}
			r, err := migrate.New(db.DB, dialect.SQLite, fsys, opts...)
			require.NoError(b, err)
			ctx := context.Background()
			for b.Loop() {
				if _, err := r.Up(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := r.DownTo(ctx, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReady(b *testing.B) {
	db := testdb.NewSQLite(b)
	r, err := migrate.New(db.DB, dialect.SQLite, threeTables())
	require.NoError(b, err)
	ctx := context.Background()
	_, err = r.Up(ctx)
	require.NoError(b, err)
	for b.Loop() {
		if err := r.Ready(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInMemorySQLite(t *testing.T) {
	// A shared-cache in-memory database: every connection of the pool sees
	// it, no other process can; the runner takes no lock and works.
	db, err := sql.Open("sqlite", "file:"+t.Name()+"?mode=memory&cache=shared")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	r := newRunner(t, db, dialect.SQLite, threeTables())
	res, err := r.Up(ctx)
	require.NoError(t, err)
	assert.Len(t, res, 3)
	res, err = r.Down(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, versions(res))
	assert.True(t, tableExists(t, db, "t2"))
}

// UpTo and DownTo with a version no migration has are refused before
// anything runs (UpTo(99) used to apply everything).
func TestUnknownTargetVersion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, threeTables())
		res, err := r.UpTo(ctx, 99)
		require.ErrorIs(t, err, migrate.ErrUnknownVersion)
		assert.ErrorContains(t, err, "migrate: up to 99: no migration has that version: 99 (the migrations run from 1 to 3)")
		assert.Empty(t, res)
		v, err := r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(0), v, "nothing was applied")

		_, err = r.UpTo(ctx, 0)
		require.ErrorIs(t, err, migrate.ErrUnknownVersion)

		_, err = r.Up(ctx)
		require.NoError(t, err)
		_, err = r.DownTo(ctx, 7)
		require.ErrorIs(t, err, migrate.ErrUnknownVersion)
		assert.ErrorContains(t, err, "down to 7")
		v, err = r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), v, "nothing was rolled back")
	})
}
