package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

const summaryJSON = `[{"customer":"Ada","orders":2,"totalCents":2050},{"customer":"Grace","orders":1,"totalCents":4100}]`

// dbArgs are the arguments that start the service on db.
func dbArgs(db *testdb.DB) []string {
	if db.Dialect == dialect.SQLite {
		return []string{"--db", db.Name}
	}
	return []string{"--dialect", db.Dialect.String(), "--dsn", db.DSN}
}

// kill switches orders-summary-v2 off as `rollsafe flags kill` does: one
// change to the store, with an actor and a reason.
func kill(t *testing.T, store *flagstore.Store) int64 {
	t.Helper()
	res, err := store.Apply(context.Background(), flagstore.Change{
		Actor: "ops@example.com", Reason: "v2 is slow",
		Edits: []flagstore.Edit{flagstore.SetState("orders-summary-v2", flags.Disabled)},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"orders-summary-v2"}, res.Keys)
	return res.Revision
}

// waitReady waits until the service at base reports ready: its migrations
// and demonstration data are in.
func waitReady(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, base)
}

// codePath calls GET /summary and returns the path that served it, after
// checking that the answer is right whichever path it was.
func codePath(t *testing.T, base string) string {
	t.Helper()
	resp, body := get(t, base+"/summary")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.JSONEq(t, summaryJSON, string(body))
	return resp.Header.Get("X-Code-Path")
}

// Two instances on one database, started together: one seeds the flag
// store, both serve the new path, one kill through the store switches both
// to the old path, and both report the new revision in the fleet registry,
// which is what `rollsafe flags kill --wait` waits for.
func TestTwoInstancesFollowOneKill(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		a, b := launch(t, io.Discard, dbArgs(db)...), launch(t, io.Discard, dbArgs(db)...)
		bases := []string{a.wait(t), b.wait(t)}
		for _, base := range bases {
			waitReady(t, base)
			assert.Equal(t, "new", codePath(t, base), base)
		}

		store, err := flagstore.New(db.DB, db.Dialect)
		require.NoError(t, err)
		rev, err := store.Revision(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), rev, "seeded once, whichever instance came first")
		trail, err := store.History(ctx, flagstore.Filter{})
		require.NoError(t, err)
		require.Len(t, trail, 1)
		assert.Equal(t, seedActor, trail[0].Actor)
		assert.Equal(t, seedReason, trail[0].Reason)

		registry, err := fleet.NewRegistry(ctx, db.DB, db.Dialect)
		require.NoError(t, err)
		serving := func(rev int64) func() bool {
			return func() bool {
				ins, err := registry.List(ctx)
				require.NoError(t, err)
				n := 0
				for _, in := range ins {
					if in.Service == "orders" && in.Ready && in.FlagsRevision != nil && *in.FlagsRevision == rev {
						n++
					}
				}
				return len(ins) == 2 && n == 2
			}
		}
		require.Eventually(t, serving(1), 10*time.Second, 20*time.Millisecond, "both instances registered, ready, serving revision 1")

		killed := kill(t, store)
		require.Equal(t, int64(2), killed)
		for _, base := range bases {
			require.Eventually(t, func() bool { return codePath(t, base) == "old" }, 10*time.Second, 20*time.Millisecond, base)
		}
		require.Eventually(t, serving(killed), 10*time.Second, 20*time.Millisecond, "both instances report the kill's revision")

		// One stops: it leaves the registry, the other goes on.
		a.stop()
		select {
		case err := <-a.done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("the instance did not stop")
		}
		ins, err := registry.List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 1)
		assert.Equal(t, bases[1], ins[0].Address)
		assert.Equal(t, "old", codePath(t, bases[1]))
	})
}

// The store is seeded only while it is at revision 0: a restarted instance
// serves what the fleet's operators set, not the embedded flags.json.
func TestServiceSeedsTheStoreOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.db")
	first := launch(t, io.Discard, "--db", path)
	base := first.wait(t)
	waitReady(t, base)
	assert.Equal(t, "new", codePath(t, base))

	pool := (&testdb.DB{Driver: dialect.SQLite.Driver(), DSN: testdb.SQLiteDSN(path)}).Open(t)
	store, err := flagstore.New(pool, dialect.SQLite)
	require.NoError(t, err)
	killed := kill(t, store)
	require.Eventually(t, func() bool { return codePath(t, base) == "old" }, 10*time.Second, 20*time.Millisecond)
	first.stop()
	select {
	case err := <-first.done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the instance did not stop")
	}

	again := launch(t, io.Discard, "--db", path).wait(t)
	waitReady(t, again)
	assert.Equal(t, "old", codePath(t, again), "the kill survives a restart")
	rev, err := store.Revision(context.Background())
	require.NoError(t, err)
	assert.Equal(t, killed, rev, "not seeded again")
}
