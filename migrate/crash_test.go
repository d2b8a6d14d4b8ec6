package migrate_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"

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
