package flagstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

type failingNotifier struct{}

func (failingNotifier) Listen(context.Context, func(int64)) error {
	return errors.New("cannot listen")
}

// quietNotifier listens until ctx ends and returns nil, as documented.
type quietNotifier struct{}

func (quietNotifier) Listen(ctx context.Context, wake func(int64)) error {
	wake(0)
	<-ctx.Done()
	return nil
}

// watchReturns starts a watch, waits for its first delivery, ends its
// context and reports whether Watch returned within wait. With
// busyCallback the first delivery is still running when the context ends:
// it returns only after the cancel.
func watchReturns(t *testing.T, s *flagstore.Store, busyCallback bool) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func(*flags.Set, error) {
			once.Do(func() {
				close(got)
				if busyCallback {
					<-release
				}
			})
		})
	}()
	<-got
	cancel()
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
		return true
	case <-time.After(wait):
		return false
	}
}

// Watch returns when its context ends, whether its notifier stopped long
// before (it then polls) or stops at the same moment.
func TestWatchReturnsWhateverTheNotifierDid(t *testing.T) {
	db := testdb.New(t, dialect.Postgres)
	s, err := flagstore.New(db.DB, db.Dialect, flagstore.WithNotifier(failingNotifier{}), flagstore.WithPollInterval(20*time.Millisecond))
	require.NoError(t, err)
	seed(t, s)
	require.True(t, watchReturns(t, s, false), "Watch returned after its notifier had failed")
	for i := range 10 {
		s, err := flagstore.New(db.DB, db.Dialect, flagstore.WithNotifier(quietNotifier{}), flagstore.WithPollInterval(10*time.Millisecond))
		require.NoError(t, err)
		require.True(t, watchReturns(t, s, true), "shutdown %d", i)
	}
}

// A cache file stood in while the database was down at start-up; once the
// database answers its flags win, even at a revision below the file's (a
// restored database, a file of another deployment), and later writes reach
// the reader.
func TestCacheFileDoesNotOutrankTheDatabase(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			db := testdb.New(t, d)
			ctx := context.Background()
			writer := newStore(t, db)
			seed(t, writer) // revision 1
			cache := filepath.Join(t.TempDir(), "flags.cache.json")
			data, err := json.Marshal(map[string]any{"revision": 10, "saved": time.Now(), "definitions": json.RawMessage(seedFile)})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(cache, data, 0o600))

			px, through := viaProxy(t, db)
			pool, err := sql.Open(db.Driver, through)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pool.Close() })
			px.cut()
			reader, err := flagstore.New(pool, d, flagstore.WithPollInterval(20*time.Millisecond), flagstore.WithCacheFile(cache))
			require.NoError(t, err)
			p, client, ev, err := serveWithEvents(t, reader)
			require.NoError(t, err)
			assert.Equal(t, int64(10), p.Revision(), "the file's revision serves while the database is down")
			ev.next(t, openfeature.ProviderStale)
			px.restore()
			ev.next(t, openfeature.ProviderReady)
			require.Eventually(t, func() bool { return p.Revision() == 1 }, wait, 5*time.Millisecond, "the database's revision wins")

			res, err := writer.Apply(ctx, change("kill it", flagstore.SetState("beta-banner", flags.Disabled)))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return p.Revision() == res.Revision }, wait, 5*time.Millisecond)
			assert.Equal(t, openfeature.DisabledReason, boolFlag(t, client, "beta-banner").Reason, "the kill reached the reader")
		})
	}
}

// Tables emptied and imported again: the revision starts over, and the
// reader follows it rather than wait for it to pass the old one.
func TestRevisionThatGoesBackIsServed(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	ctx := context.Background()
	writer := newStore(t, db)
	seed(t, writer)
	for range 3 {
		_, err := writer.Apply(ctx, change("toggle", flagstore.SetState("beta-banner", flags.Disabled)))
		require.NoError(t, err)
		_, err = writer.Apply(ctx, change("toggle", flagstore.SetState("beta-banner", flags.Enabled)))
		require.NoError(t, err)
	}
	reader := newStore(t, &testdb.DB{DB: db.Open(t), Dialect: db.Dialect}, flagstore.WithPollInterval(20*time.Millisecond))
	p, client := serve(t, reader)
	require.Equal(t, int64(7), p.Revision())
	for _, q := range []string{`DELETE FROM rollsafe_flags`, `DELETE FROM rollsafe_flag_changes`, `UPDATE rollsafe_flag_revision SET revision = 0, evaluators = '{}'`} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	res, err := writer.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ops", Reason: "restore"})
	require.NoError(t, err)
	res, err = writer.Apply(ctx, change("kill", flagstore.SetState("beta-banner", flags.Disabled)))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Revision)
	require.Eventually(t, func() bool { return p.Revision() == 2 }, wait, 5*time.Millisecond)
	assert.Equal(t, openfeature.DisabledReason, boolFlag(t, client, "beta-banner").Reason)
}

// The revision row deleted by hand while the audit trail remains: the
// store refuses to start over at 0 (every write would collide with a
// recorded revision) and says how to mend it.
func TestRevisionRowDeletedByHand(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		seed(t, newStore(t, db))
		_, err := db.ExecContext(ctx, `DELETE FROM rollsafe_flag_revision`)
		require.NoError(t, err)
		s := newStore(t, db)
		_, err = s.Apply(ctx, change("x", flagstore.SetState("beta-banner", flags.Disabled)))
		require.ErrorContains(t, err, "rollsafe_flag_revision has no row while rollsafe_flag_changes records revisions up to 1")
		_, err = db.ExecContext(ctx, `INSERT INTO rollsafe_flag_revision (id, revision, evaluators, metadata, updated_at) VALUES (1, 1, '{}', '{}', 0)`)
		require.NoError(t, err)
		res, err := s.Apply(ctx, change("x", flagstore.SetState("orders-summary-v2", flags.Disabled)))
		require.NoError(t, err)
		assert.Equal(t, int64(2), res.Revision)
	})
}

// Definitions refused before any were served are reported once per
// revision, not on every poll. The watch runs in a synctest bubble, so
// that twenty poll intervals pass on the bubble's clock, not the test's.
func TestRefusalBeforeFirstSetReportedOnce(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	ctx := context.Background()
	seed(t, newStore(t, db))
	_, err := db.ExecContext(ctx, `UPDATE rollsafe_flag_revision SET evaluators = '{"beta": '`)
	require.NoError(t, err)
	synctest.Test(t, func(t *testing.T) {
		pool, err := sql.Open(db.Driver, db.DSN) // the pool's goroutines belong to the bubble
		require.NoError(t, err)
		defer pool.Close()
		s, err := flagstore.New(pool, db.Dialect, flagstore.WithPollInterval(10*time.Millisecond))
		require.NoError(t, err)
		var refusals atomic.Int64
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- s.Watch(wctx, func(set *flags.Set, err error) {
				if set == nil {
					refusals.Add(1)
				}
			})
		}()
		time.Sleep(200 * time.Millisecond) // some 20 polls, on the bubble's clock
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, int64(1), refusals.Load())
	})
}
