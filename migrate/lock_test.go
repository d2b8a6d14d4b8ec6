package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

// sideEffects is a set of migrations that each record themselves in a table
// that has no unique key, so a migration applied twice shows as two rows.
func sideEffects(n int) fstest.MapFS {
	fsys := fstest.MapFS{
		"00001_log.sql": sqlFile(
			"CREATE TABLE applied_log (version INTEGER NOT NULL);\nINSERT INTO applied_log (version) VALUES (1);",
			"DROP TABLE applied_log;"),
	}
	for v := 2; v <= n; v++ {
		fsys[fmt.Sprintf("%05d_step.sql", v)] = sqlFile(
			fmt.Sprintf("CREATE TABLE step%d (id INTEGER PRIMARY KEY);\nINSERT INTO applied_log (version) VALUES (%d);", v, v),
			fmt.Sprintf("DROP TABLE step%d;", v))
	}
	return fsys
}

func TestConcurrentRunnersApplyEachVersionOnce(t *testing.T) {
	const runners, migrations = 8, 6
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		start := make(chan struct{})
		var wg sync.WaitGroup
		results := make([][]migrate.Result, runners)
		errs := make([]error, runners)
		for i := range runners {
			// Each runner has its own pool, as separate instances would.
			r := newRunner(t, db.Open(t), db.Dialect, sideEffects(migrations))
			wg.Go(func() {
				<-start
				results[i], errs[i] = r.Up(ctx)
			})
		}
		close(start)
		wg.Wait()

		total := 0
		for i := range runners {
			require.NoError(t, errs[i], "runner %d", i)
			total += len(results[i])
		}
		assert.Equal(t, migrations, total, "every version applied by exactly one runner")

		for v := 1; v <= migrations; v++ {
			var logged, recorded int
			require.NoError(t, db.QueryRowContext(ctx,
				placeholder(db.Dialect, "SELECT COUNT(*) FROM applied_log WHERE version = "), v).Scan(&logged))
			require.NoError(t, db.QueryRowContext(ctx,
				placeholder(db.Dialect, "SELECT COUNT(*) FROM goose_db_version WHERE version_id = "), v).Scan(&recorded))
			assert.Equal(t, 1, logged, "version %d ran %d times", v, logged)
			assert.Equal(t, 1, recorded, "version %d recorded %d times", v, recorded)
		}
	})
}

// placeholder appends the dialect's first bind parameter to q.
func placeholder(d dialect.Dialect, q string) string {
	if d == dialect.Postgres {
		return q + "$1"
	}
	return q + "?"
}

// signalHandler closes ch when a record with message msg is logged.
type signalHandler struct {
	msg  string
	once *sync.Once
	ch   chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// holder returns a Runner whose migration 1 blocks, holding the lock, until
// release is closed; entered is closed once it runs.
func holder(t *testing.T, db *sql.DB, d dialect.Dialect, opts ...migrate.Option) (r *migrate.Runner, entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	block := goose.NewGoMigration(1, &goose.GoFunc{RunTx: func(ctx context.Context, _ *sql.Tx) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}, nil)
	r, err := migrate.New(db, d, nil, append(opts, migrate.WithGoMigrations(block))...)
	require.NoError(t, err)
	return r, entered, release
}

func TestLockBlocksUntilFreeAndHonoursContext(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		a, entered, release := holder(t, db.Open(t), db.Dialect)
		var wg sync.WaitGroup
		var aRes []migrate.Result
		var aErr error
		wg.Go(func() { aRes, aErr = a.Up(ctx) })
		<-entered

		// B waits for A's lock until its context is cancelled, having done
		// nothing.
		waiting := make(chan struct{})
		logger := slog.New(signalHandler{msg: "waiting for the migration lock", once: new(sync.Once), ch: waiting})
		b := newRunner(t, db.Open(t), db.Dialect, threeTables(), migrate.WithLogger(logger))
		bctx, cancel := context.WithCancel(ctx)
		var bErr error
		var bRes []migrate.Result
		done := make(chan struct{})
		go func() {
			defer close(done)
			bRes, bErr = b.Up(bctx)
		}()
		<-waiting
		cancel()
		<-done
		require.ErrorIs(t, bErr, context.Canceled)
		assert.Empty(t, bRes)
		assert.False(t, tableExists(t, db.DB, "t1"), "B ran while A held the lock")

		// A database (PostgreSQL: schema) of its own has a lock of its own.
		other := testdb.New(t, db.Dialect)
		res, err := newRunner(t, other.DB, other.Dialect, threeTables()).Up(ctx)
		require.NoError(t, err)
		assert.Len(t, res, 3)

		close(release)
		wg.Wait()
		require.NoError(t, aErr)
		assert.Len(t, aRes, 1)

		// Released, the lock can be taken again.
		res, err = newRunner(t, db.Open(t), db.Dialect, threeTables(), migrate.WithTableName("b_versions")).Up(ctx)
		require.NoError(t, err)
		assert.Len(t, res, 3)
	})
}

// Without WAL, a SQLite writer needs every reader gone to commit: the lock's
// waiting connections must not stand in the way of the migrations.
func TestConcurrentRunnersSQLiteRollbackJournal(t *testing.T) {
	const runners, migrations = 8, 6
	path := filepath.Join(t.TempDir(), "app.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(DELETE)"
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	total := make([]int, runners)
	errs := make([]error, runners)
	for i := range runners {
		db, err := sql.Open("sqlite", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		r := newRunner(t, db, dialect.SQLite, sideEffects(migrations))
		wg.Go(func() {
			<-start
			res, err := r.Up(ctx)
			total[i], errs[i] = len(res), err
		})
	}
	close(start)
	wg.Wait()
	sum := 0
	for i := range runners {
		require.NoError(t, errs[i], "runner %d", i)
		sum += total[i]
	}
	assert.Equal(t, migrations, sum)

	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "delete", mode)
	var rows, distinct int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version) FROM applied_log").Scan(&rows, &distinct))
	assert.Equal(t, migrations, rows)
	assert.Equal(t, migrations, distinct)
}

// A schema-qualified version table is locked where it lives, not where the
// connection's default schema (database) points.
func TestLockFollowsQualifiedTable(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			ctx := context.Background()
			home, elsewhere := testdb.New(t, d), testdb.New(t, d)
			table := migrate.WithTableName(home.Name + ".versions")
			a, entered, release := holder(t, home.Open(t), d, table)
			var wg sync.WaitGroup
			var aErr error
			wg.Go(func() { _, aErr = a.Up(ctx) })
			<-entered

			waiting := make(chan struct{})
			logger := slog.New(signalHandler{msg: "waiting for the migration lock", once: new(sync.Once), ch: waiting})
			b := newRunner(t, elsewhere.Open(t), d, threeTables(), table, migrate.WithLogger(logger))
			bctx, cancel := context.WithCancel(ctx)
			go func() {
				<-waiting
				cancel()
			}()
			_, err := b.Up(bctx)
			require.ErrorIs(t, err, context.Canceled, "B did not wait for the lock of the table it shares with A")

			close(release)
			wg.Wait()
			require.NoError(t, aErr)
			res, err := b.Up(ctx)
			require.NoError(t, err)
			assert.Equal(t, []int64{2, 3}, versions(res), "A recorded version 1 in the shared table")
		})
	}
}

// While one runner migrates (its goose session holding the running lock as
// well as the migration lock), another's reads answer at once: a readiness
// probe must not wait for a migration.
func TestReadsDoNotWaitWhileMigrating(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		a, entered, release := holder(t, db.Open(t), db.Dialect)
		var wg sync.WaitGroup
		var aErr error
		wg.Go(func() { _, aErr = a.Up(ctx) })
		<-entered

		// The deadline only keeps a regression from hanging the test.
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		b, _, _ := holder(t, db.Open(t), db.Dialect)
		st, err := b.Status(rctx)
		require.NoError(t, err)
		assert.Equal(t, migrate.Pending, st[0].State)
		_, err = b.Version(rctx)
		require.NoError(t, err)
		require.ErrorIs(t, b.Ready(rctx), migrate.ErrPending)

		close(release)
		wg.Wait()
		require.NoError(t, aErr)
	})
}
