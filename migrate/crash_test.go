package migrate_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

// Environment of the lock-holding child process.
const (
	envHolderDriver  = "ROLLSAFE_MIGRATE_HOLDER_DRIVER"
	envHolderDSN     = "ROLLSAFE_MIGRATE_HOLDER_DSN"
	envHolderDialect = "ROLLSAFE_MIGRATE_HOLDER_DIALECT"
)

// TestLockHolderProcess is not a test of its own: run by
// TestLockReleasedWhenHolderDies as a child process, it takes the lock,
// says so on stdout, and waits to be killed.
func TestLockHolderProcess(t *testing.T) {
	driver := os.Getenv(envHolderDriver)
	if driver == "" {
		t.Skip("runs only as the child of TestLockReleasedWhenHolderDies")
	}
	db, err := sql.Open(driver, os.Getenv(envHolderDSN))
	require.NoError(t, err)
	r, entered, _ := holder(t, db, mustDialect(t, os.Getenv(envHolderDialect)))
	go func() {
		<-entered
		fmt.Println("locked")
	}()
	_, err = r.Up(context.Background()) // blocks until the process is killed
	t.Fatalf("the holder returned: %v", err)
}

func TestLockReleasedWhenHolderDies(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		child := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$", "-test.count=1")
		child.Env = append(os.Environ(),
			envHolderDriver+"="+db.Driver, envHolderDSN+"="+db.DSN, envHolderDialect+"="+db.Dialect.String())
		stdout, err := child.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, child.Start())
		killed := false
		t.Cleanup(func() {
			if !killed {
				_ = child.Process.Kill()
				_ = child.Wait()
			}
		})
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err, "the child never took the lock")
		require.Equal(t, "locked\n", line)

		// Held by the other process: this runner waits until cancelled.
		waiting := make(chan struct{})
		logger := slog.New(signalHandler{msg: "waiting for the migration lock", once: new(sync.Once), ch: waiting})
		r := newRunner(t, db.Open(t), db.Dialect, threeTables(), migrate.WithLogger(logger))
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			<-waiting
			cancel()
		}()
		_, err = r.Up(wctx)
		require.ErrorIs(t, err, context.Canceled)

		// The holder dies without unlocking: the database releases the lock.
		require.NoError(t, child.Process.Kill())
		_ = child.Wait() // killed: the exit status is an error by design
		killed = true
		res, err := r.Up(ctx)
		require.NoError(t, err)
		assert.Len(t, res, 3)
	})
}

func mustDialect(t *testing.T, s string) dialect.Dialect {
	d, err := dialect.Parse(s)
	require.NoError(t, err)
	return d
}

// Environment of the child that is killed midway through a long statement.
const (
	envKilledDriver  = "ROLLSAFE_MIGRATE_KILLED_DRIVER"
	envKilledDSN     = "ROLLSAFE_MIGRATE_KILLED_DSN"
	envKilledDialect = "ROLLSAFE_MIGRATE_KILLED_DIALECT"
	envKilledCreate  = "ROLLSAFE_MIGRATE_KILLED_CREATE"
)

// bigRows is how many rows the long statement inserts on d: about a
// second's work here.
func bigRows(d dialect.Dialect) int {
	if d == dialect.MySQL {
		return 300_000
	}
	return 1_000_000
}

// longNoTx has a NO TRANSACTION migration whose statement inserts rows rows
// (a multiple of 100,000), after creating a table when create is set.
func longNoTx(create bool, rows int) fstest.MapFS {
	var c string
	if create {
		c = "CREATE TABLE c (id INTEGER);\n"
	}
	return fstest.MapFS{
		"00001_base.sql": sqlFile("CREATE TABLE digits (d INTEGER NOT NULL);\n"+
			"INSERT INTO digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);\n"+
			"CREATE TABLE big (n INTEGER NOT NULL);", "DROP TABLE big;\nDROP TABLE digits;"),
		"00002_fill.sql": {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\n" + c +
			"INSERT INTO big (n) SELECT a.d + 10*b.d + 100*e.d + 1000*f.d + 10000*g.d + 100000*h.d " +
			"FROM digits a, digits b, digits e, digits f, digits g, digits h WHERE h.d < " + strconv.Itoa(rows/100_000) + ";\n" +
			"-- +goose Down\nDELETE FROM big;\n")},
		"00003_after.sql": sqlFile("CREATE TABLE after3 (id INTEGER);", "DROP TABLE after3;"),
	}
}

// TestKilledRunnerProcess is not a test of its own: run by
// TestKilledRunnerStatementEndsBeforeTheNext as a child process, it migrates
// until it is killed.
func TestKilledRunnerProcess(t *testing.T) {
	driver := os.Getenv(envKilledDriver)
	if driver == "" {
		t.Skip("runs only as the child of TestKilledRunnerStatementEndsBeforeTheNext")
	}
	db, err := sql.Open(driver, os.Getenv(envKilledDSN))
	require.NoError(t, err)
	d := mustDialect(t, os.Getenv(envKilledDialect))
	r := newRunner(t, db, d, longNoTx(os.Getenv(envKilledCreate) != "", bigRows(d)))
	_, err = r.Up(context.Background())
	t.Fatalf("the runner was not killed in time: %v", err)
}

// A runner killed (SIGKILL) while its NO TRANSACTION statement runs on the
// server: the next runner used to take the lock at once and run the
// statement again beside it (twice the rows), or trip over the table the
// dead one had created. Now it waits until the dead session's statement has
// ended, and finds the migration interrupted, with the statements that had
// started, until Repair.
func TestKilledRunnerStatementEndsBeforeTheNext(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		for _, create := range []bool{false, true} {
			name := d.String() + "/insert"
			if create {
				name = d.String() + "/create_then_insert"
			}
			t.Run(name, func(t *testing.T) {
				db := testdb.New(t, d)
				killedMidStatement(t, db, create)
			})
		}
	}
}

func killedMidStatement(t *testing.T, db *testdb.DB, create bool) {
	ctx := context.Background()
	child := exec.Command(os.Args[0], "-test.run=^TestKilledRunnerProcess$", "-test.count=1")
	child.Env = append(os.Environ(), envKilledDriver+"="+db.Driver, envKilledDSN+"="+db.DSN,
		envKilledDialect+"="+db.Dialect.String())
	if create {
		child.Env = append(child.Env, envKilledCreate+"=1")
	}
	require.NoError(t, child.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	// Kill the child once the server runs its long statement.
	running := "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO big%'"
	if db.Dialect == dialect.MySQL {
		running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO big%'"
	}
	for {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, running).Scan(&n))
		if n > 0 {
			break
		}
		require.Nil(t, child.ProcessState, "the child ended before its statement ran")
		time.Sleep(10 * time.Millisecond) // polling the server, not timing the test
	}
	require.NoError(t, child.Process.Kill())
	_ = child.Wait() // killed: the exit status is an error by design
	killed = true

	r := newRunner(t, db.Open(t), db.Dialect, longNoTx(create, bigRows(db.Dialect)))
	_, err := r.Up(ctx)
	require.ErrorIs(t, err, migrate.ErrNeedsRepair)
	assert.ErrorContains(t, err, "00002_fill.sql migration needs repair: its up was interrupted (its runner died)")

	// It waited: the dead session's statement had completed, once.
	var rows, still int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM big").Scan(&rows))
	assert.Equal(t, bigRows(db.Dialect), rows, "the insert ran once")
	require.NoError(t, db.QueryRowContext(ctx, running).Scan(&still))
	assert.Zero(t, still, "the dead session's statement still runs")

	st, err := r.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, migrate.Interrupted, st[1].State)
	require.NotNil(t, st[1].Attempt)
	last := st[1].Attempt.Statements[len(st[1].Attempt.Statements)-1]
	assert.Contains(t, last, "INSERT INTO big (n) SELECT")
	if create {
		assert.Contains(t, st[1].Attempt.Statements[0], "CREATE TABLE c")
	}

	// The insert completed on the server: the operator marks it applied.
	require.NoError(t, r.Repair(ctx, 2, migrate.Applied))
	res, err := r.Up(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, versions(res))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM big").Scan(&rows))
	assert.Equal(t, bigRows(db.Dialect), rows)
}
