package migrate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A database migrated from another directory (same versions, other files)
// is no longer reported as applied without a word.
func TestChangedMigrationsAreReported(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		shipped := threeTables()
		_, err := newRunner(t, db.DB, db.Dialect, shipped).Up(ctx)
		require.NoError(t, err)

		other := threeTables()
		other["00002_t2.sql"] = sqlFile("CREATE TABLE t2 (id INTEGER PRIMARY KEY, other VARCHAR(9));", "DROP TABLE t2;")
		other["00004_t4.sql"] = sqlFile("CREATE TABLE t4 (id INTEGER PRIMARY KEY);", "DROP TABLE t4;")
		var logs bytes.Buffer
		r := newRunner(t, db.DB, db.Dialect, other, migrate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

		st, err := r.Status(ctx)
		require.NoError(t, err)
		require.Len(t, st, 4)
		assert.False(t, st[0].Changed)
		assert.Equal(t, sha(shipped["00001_t1.sql"].Data), st[0].AppliedSum)
		assert.True(t, st[1].Changed, "version 2 was applied from another file")
		assert.Equal(t, migrate.Applied, st[1].State)
		assert.Equal(t, sha(shipped["00002_t2.sql"].Data), st[1].AppliedSum)
		assert.Equal(t, sha(other["00002_t2.sql"].Data), st[1].Sum)
		assert.Equal(t, "00002_t2.sql", st[1].AppliedSource)
		assert.False(t, st[3].Changed, "a pending migration has nothing to compare")
		assert.Contains(t, logs.String(), `msg="applied migration changed on disk" version=2`)

		// Strict: refused before anything runs.
		strict := newRunner(t, db.DB, db.Dialect, other, migrate.WithStrict())
		res, err := strict.Up(ctx)
		require.ErrorIs(t, err, migrate.ErrChanged)
		var ce *migrate.ChangedError
		require.ErrorAs(t, err, &ce)
		require.Len(t, ce.Changed, 1)
		assert.Equal(t, int64(2), ce.Changed[0].Version)
		assert.ErrorContains(t, err, "00002_t2.sql was applied with "+sha(shipped["00002_t2.sql"].Data))
		assert.Empty(t, res)
		assert.False(t, tableExists(t, db.DB, "t4"), "nothing ran")
		_, err = strict.Down(ctx)
		require.ErrorIs(t, err, migrate.ErrChanged)

		// Without strict: a warning, and the work is done.
		logs.Reset()
		res, err = r.Up(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{4}, versions(res))
		assert.Contains(t, logs.String(), "applied migration changed on disk")

		// The sum is the one rollsafe.sum holds (line endings as "\n").
		crlf := fstest.MapFS{"00001_t1.sql": {Data: bytes.ReplaceAll(shipped["00001_t1.sql"].Data, []byte("\n"), []byte("\r\n"))}}
		r2 := newRunner(t, testdb.NewSQLite(t).DB, dialect.SQLite, crlf)
		assert.Equal(t, sha(shipped["00001_t1.sql"].Data), r2.Migrations()[0].Sum)
	})
}

// A migration that fails where its statements stay applied is recorded:
// Status shows it as failed with the statements that ran, Up refuses to trip
// over what it left, and Repair gets it moving.
func TestFailedRunIsRecordedAndRepaired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, failingSet(true))
		_, err := r.Up(ctx)
		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		assert.True(t, pe.Recorded)
		assert.ErrorContains(t, err, "recorded as failed and will not run again until repaired")
		assert.ErrorContains(t, err, "rollsafe migrate repair --version 2 --as applied|pending DIR")

		st, err := r.Status(ctx)
		require.NoError(t, err)
		require.Len(t, st, 3)
		assert.Equal(t, migrate.Failed, st[1].State)
		require.NotNil(t, st[1].Attempt)
		assert.Equal(t, "up", st[1].Attempt.Direction)
		assert.Equal(t, []string{"CREATE TABLE half (id INTEGER PRIMARY KEY);", "INSERT INTO base (id) VALUES (7);",
			"INSERT INTO no_such_table (id) VALUES (1);"}, st[1].Attempt.Statements)
		assert.NotEmpty(t, st[1].Attempt.Err)
		assert.False(t, st[1].Attempt.At.IsZero())
		assert.Equal(t, migrate.Pending, st[2].State)

		// Up does not run it again over what it left (it used to fail with
		// "table half already exists").
		res, err := r.Up(ctx)
		require.ErrorIs(t, err, migrate.ErrNeedsRepair)
		var re *migrate.RepairError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, migrate.Failed, re.State)
		assert.ErrorContains(t, err, "migrate: 00002_broken.sql migration needs repair: its up failed")
		assert.ErrorContains(t, err, "after starting 3 statements: [1] CREATE TABLE half")
		assert.ErrorContains(t, err, "`rollsafe migrate repair --version 2 --as applied|pending DIR` (Runner.Repair)")
		assert.Empty(t, res)

		require.ErrorIs(t, r.Repair(ctx, 99, migrate.Pending), migrate.ErrUnknownVersion)
		assert.ErrorContains(t, r.Repair(ctx, 1, migrate.Pending), "00001_base.sql is applied, not failed or interrupted: nothing to repair")
		assert.ErrorContains(t, r.Repair(ctx, 2, migrate.State("done")), `mark the migration "applied" or "pending", not "done"`)

		// The operator undoes it by hand and fixes the file.
		_, err = db.ExecContext(ctx, "DROP TABLE half")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "DELETE FROM base WHERE id = 7")
		require.NoError(t, err)
		fixed := failingSet(true)
		fixed["00002_broken.sql"] = sqlFile("CREATE TABLE half (id INTEGER PRIMARY KEY);", "DROP TABLE half;")
		r = newRunner(t, db.DB, db.Dialect, fixed)
		require.NoError(t, r.Repair(ctx, 2, migrate.Pending))
		res, err = r.Up(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{2, 3}, versions(res))
	})
}

func TestRepairAsApplied(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, failingSet(true))
		_, err := r.Up(ctx)
		require.Error(t, err)
		// The operator completes it by hand.
		require.NoError(t, r.Repair(ctx, 2, migrate.Applied))
		st, err := r.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, migrate.Applied, st[1].State)
		assert.Equal(t, st[1].Sum, st[1].AppliedSum)
		res, err := r.Up(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{3}, versions(res))
		v, err := r.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), v)
	})
}

// In a transaction, a failure leaves a record only where DDL commits by
// itself (MySQL); elsewhere nothing remains, and Up may simply run it again.
func TestFailedTransactionRecordedOnlyOnMySQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRunner(t, db.DB, db.Dialect, failingSet(false))
		_, err := r.Up(ctx)
		var pe *migrate.PartialError
		require.ErrorAs(t, err, &pe)
		st, err := r.Status(ctx)
		require.NoError(t, err)
		if db.Dialect == dialect.MySQL {
			assert.True(t, pe.Recorded)
			assert.Equal(t, migrate.Failed, st[1].State)
			return
		}
		assert.False(t, pe.Recorded)
		assert.Equal(t, migrate.Pending, st[1].State)
		assert.Nil(t, st[1].Attempt)
	})
}

// A call cancelled mid-way (Ctrl-C, a deploy's timeout) still records what it
// applied: the sums of the migrations before the one that saw the
// cancellation are kept, so a changed file is still noticed later.
func TestCancelledUpStillRecordsWhatItApplied(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		fsys := fstest.MapFS{
			"00001_t1.sql": sqlFile("CREATE TABLE t1 (id INTEGER PRIMARY KEY);", "DROP TABLE t1;"),
		}
		stop := goose.NewGoMigration(2, &goose.GoFunc{RunTx: func(ctx context.Context, _ *sql.Tx) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}}, &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }})
		r := newRunner(t, db.DB, db.Dialect, fsys, migrate.WithGoMigrations(stop))
		_, err := r.Up(ctx)
		require.Error(t, err)

		st, err := r.Status(context.Background())
		require.NoError(t, err)
		require.Len(t, st, 2)
		assert.Equal(t, migrate.Applied, st[0].State)
		assert.Equal(t, sha(fsys["00001_t1.sql"].Data), st[0].AppliedSum, "the sum of what was applied before the cancellation")
	})
}
