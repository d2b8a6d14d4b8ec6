package main

// The drill when the fleet or the database misbehaves: an instance that
// leaves the registry, writes whose answers are lost, a registry read that
// outlasts --timeout.

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	rsversion "github.com/rollsafe/rollsafe/version"
)

// An instance that loses the database keeps serving its last flag set
// while its heartbeats lapse: one live right after the kill that leaves the
// registry without confirming it has not confirmed, in every format.
func TestDrillCountsAnInstanceThatLeavesTheRegistry(t *testing.T) {
	db := testdb.NewSQLite(t)
	fl := startFleet(t, db, 3)
	before := storedDefinition(t, db, drillFlag)
	lost := fl[0]
	stopWithoutLock(t, db, lost)
	setLastSeen := func(ctx context.Context, at time.Time) {
		_, err := db.ExecContext(ctx, `UPDATE rollsafe_instances SET last_seen = ? WHERE id = ?`, at.UnixMilli(), lost.id)
		require.NoError(t, err)
	}
	// Live when the kill is written (its last heartbeat is recent: it
	// is stopped, not gone), stale right after.
	h := drillHooks{
		beforeKill: func(ctx context.Context) { setLastSeen(ctx, time.Now()) },
		afterKill:  func(ctx context.Context) { setLastSeen(ctx, time.Now().Add(-time.Hour)) },
	}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--timeout", "1s", "--format", "json")
	require.Equal(t, exitFailed, code, errOut)
	assert.Regexp(t, `rollsafe: drill: not confirmed within 1s \(1 write\): the kill by `+lost.id+` \(`+regexp.QuoteMeta(lost.address)+
		`\), which left the registry, last seen serving revision 1\n`, errOut)
	rep := decode[drillReport](t, out)
	assert.False(t, rep.OK)
	assert.True(t, rep.Restored)
	assert.Equal(t, exitFailed, rep.ExitCode)
	require.Len(t, rep.Instances, 3)
	for _, di := range rep.Instances {
		if di.ID == lost.id {
			assert.True(t, di.Gone)
			assert.Nil(t, di.KillMs)
			assert.Nil(t, di.RestoreMs)
			continue
		}
		assert.False(t, di.Gone, di.ID)
		assert.NotNil(t, di.KillMs, di.ID)
		assert.NotNil(t, di.RestoreMs, di.ID)
	}
	require.Len(t, rep.Unconfirmed, 1, "the restore is not its: it was gone when the restore was written")
	assert.Equal(t, drillPending{ID: lost.id, Address: lost.address, Phase: phaseKill, Serves: new(int64(1)), Gone: true}, rep.Unconfirmed[0])
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))

	code, out, errOut = drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--timeout", "1s")
	require.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, out, "2 of 3 instances serve revision 4; 1 did not within 1s (1 left the registry)\n")
	assert.Regexp(t, `(?m)^INSTANCE\s+ADDRESS\s+KILL\s+RESTORE\s+NOTE$`, out)
	assert.Regexp(t, `(?m)^`+lost.id+`\s+`+regexp.QuoteMeta(lost.address)+`\s+-\s+-\s+left the registry$`, out)
	assert.Contains(t, out, "unconfirmed: "+lost.id+" ("+lost.address+") did not confirm the kill within 1s; it left the registry, last seen serving revision 1\n")
	assert.True(t, strings.HasSuffix(out, "\noutcome: FAILED: 1 write was not confirmed within 1s (1 by an instance that left the registry); the flag is restored (revision 5)\n"), out)
	assert.NotContains(t, out, "every instance")

	code, out, errOut = drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--timeout", "1s", "--format", "markdown")
	require.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, out, "| `"+lost.id+"` | "+mdText(lost.address)+" | - (left the registry) | - |\n")
	assert.Contains(t, out, "**Unconfirmed:**\n\n- `"+lost.id+"` ("+mdText(lost.address)+"): the kill, within 1s; it left the registry, last seen serving revision 1\n")
	assert.Contains(t, out, "**Outcome:** FAILED: 1 write was not confirmed within 1s (1 by an instance that left the registry); the flag is restored (revision 7)\n")
	assert.NotContains(t, out, "every instance")
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))
}

// The drill's restore is committed but its answer is lost: the retry finds
// the drill's own write, takes its revision as the restore's and waits for
// it, instead of taking it for someone else's change.
func TestDrillAdoptsItsOwnRestore(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	store := drillStore(t, db)
	before := storedDefinition(t, db, drillFlag)
	var own int64
	h := drillHooks{beforeRestore: func(ctx context.Context) {
		// The restore the drill is about to write, written first: to the
		// drill, its own write whose answer never came.
		base, err := store.Revision(ctx)
		require.NoError(t, err)
		res, err := store.Apply(ctx, flagstore.Change{Actor: drillActor, Reason: drillReason("rollback drill"), Base: &base,
			Edits: []flagstore.Edit{flagstore.Put(drillFlag, []byte(before))}})
		require.NoError(t, err)
		own = res.Revision
	}}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	rep := decode[drillReport](t, out)
	assert.True(t, rep.OK)
	assert.True(t, rep.Restored)
	assert.Empty(t, rep.ChangedBy)
	require.NotNil(t, rep.RestoreRevision)
	assert.Equal(t, own, *rep.RestoreRevision)
	require.Len(t, rep.Instances, 3)
	for _, di := range rep.Instances {
		assert.NotNil(t, di.RestoreMs, "the second wait ran: %s", di.ID)
	}
	assert.Equal(t, own, storeRevision(t, db), "nothing written after the restore")
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))

	// The drill's actor and reason on another definition is not its
	// restore: the drill stops.
	other := `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`
	h = drillHooks{beforeRestore: func(ctx context.Context) {
		_, err := store.Apply(ctx, flagstore.Change{Actor: drillActor, Reason: drillReason("rollback drill"),
			Edits: []flagstore.Edit{flagstore.Put(drillFlag, []byte(other))}})
		require.NoError(t, err)
	}}
	code, _, errOut = drillCLI(t, context.Background(), db, h, "--flag", drillFlag)
	require.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, errOut, "rollsafe: drill: stopped: flag \"orders-summary-v2\" was changed after the drill's kill")
	assert.Equal(t, other, storedDefinition(t, db, drillFlag))
}

// The drill's kill is committed but its answer is lost (here: the command
// is interrupted as the drill writes it): the drill finds its own kill in
// the history, and restores the flag.
func TestDrillRestoresAKillWhoseAnswerWasLost(t *testing.T) {
	db := testdb.NewSQLite(t)
	startFleet(t, db, 3)
	store := drillStore(t, db)
	before := storedDefinition(t, db, drillFlag)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kill int64
	h := drillHooks{beforeKill: func(context.Context) {
		base, err := store.Revision(context.Background())
		require.NoError(t, err)
		res, err := store.Apply(context.Background(), flagstore.Change{Actor: drillActor, Reason: drillReason("rollback drill"), Base: &base,
			Edits: []flagstore.Edit{flagstore.SetState(drillFlag, flags.Disabled)}})
		require.NoError(t, err)
		kill = res.Revision
		cancel() // the drill's own write of the kill fails
	}}

	code, out, errOut := drillCLI(t, ctx, db, h, "--flag", drillFlag, "--format", "json")
	require.Equal(t, exitCantRun, code, errOut)
	assert.Regexp(t, `rollsafe: drill: interrupted \(context canceled\) while waiting for the fleet to confirm the kill \(revision \d+\); `+
		`the flag is restored at revision \d+, whose confirmation by the fleet was not awaited\n`, errOut)
	rep := decode[drillReport](t, out)
	require.NotNil(t, rep.KillRevision)
	assert.Equal(t, kill, *rep.KillRevision, "the kill found in the history")
	assert.True(t, rep.Restored)
	require.NotNil(t, rep.RestoreRevision)
	assert.Equal(t, kill+1, *rep.RestoreRevision)
	assert.False(t, rep.OK)
	assert.Equal(t, exitCantRun, rep.ExitCode)
	assert.Contains(t, rep.Error, "interrupted")
	assert.Empty(t, rep.Unconfirmed, "an interrupted wait blames no instance")
	assert.Equal(t, before, storedDefinition(t, db, drillFlag))
	assert.Equal(t, kill+1, storeRevision(t, db), "the kill and the restore, nothing else")
	recs, err := store.History(context.Background(), flagstore.Filter{Key: drillFlag, Limit: 2})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, drillActor, r.Actor)
	}
	restored, ok := flagIn(recs[0].After, drillFlag)
	require.True(t, ok)
	assert.Equal(t, before, string(restored))
}

// holdRegistry locks the registry table of db (PostgreSQL) so that every
// read of it waits; fn runs inside the lock's transaction. The lock is
// released once a read that waited on it stops waiting (its context ended)
// or after hold, whichever comes first; the returned channel is closed
// then.
func holdRegistry(t *testing.T, db *testdb.DB, hold time.Duration, fn func(tx *sql.Tx)) <-chan struct{} {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `LOCK TABLE rollsafe_instances IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	if fn != nil {
		fn(tx)
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		defer func() { assert.NoError(t, tx.Commit()) }()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		waited := false
		for end := time.Now().Add(hold); time.Now().Before(end); <-tick.C {
			var n int
			if !assert.NoError(t, db.QueryRowContext(ctx,
				`SELECT count(*) FROM pg_locks WHERE relation = 'rollsafe_instances'::regclass AND NOT granted`).Scan(&n)) {
				return
			}
			if n > 0 {
				waited = true
			} else if waited {
				return
			}
		}
	}()
	return released
}

// registerStuck registers an instance reporting revision rev, without
// heartbeats of its own.
func registerStuck(t *testing.T, db *testdb.DB, address string, rev int64) string {
	t.Helper()
	ctx := context.Background()
	reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect)
	require.NoError(t, err)
	id, err := reg.Register(ctx, address, rsversion.Manifest{Service: "orders", Version: "1.3.0"})
	require.NoError(t, err)
	require.NoError(t, reg.Heartbeat(ctx, id, fleet.Status{Ready: true, FlagsRevision: &rev}))
	t.Cleanup(func() { assert.NoError(t, reg.Deregister(context.Background(), id)) })
	return id
}

// A registry read that waits past the timeout is cut at the timeout, and
// what it would have returned later is not taken: --wait and the drill
// accept no confirmation after --timeout.
func TestWaitEndsRegistryReadsAtTheTimeout(t *testing.T) {
	db := testdb.NewPostgres(t)
	registerStuck(t, db, "http://127.0.0.1:9/", 1)
	reg, err := fleet.NewRegistry(context.Background(), db.DB, db.Dialect)
	require.NoError(t, err)
	released := holdRegistry(t, db, 5*time.Second, nil)

	reads := 0
	start := time.Now()
	timedOut, err := followFleet(context.Background(), reg, 500*time.Millisecond, func([]fleet.Instance) bool {
		reads++
		return true
	})
	took := time.Since(start)
	<-released
	require.NoError(t, err)
	assert.True(t, timedOut)
	assert.Zero(t, reads, "no read came back within the timeout")
	assert.Less(t, took, 2*time.Second, "the read ends at the timeout, not when the lock goes")
}

// The drill's first registry read after the kill waits on a lock past
// --timeout, while the instance confirms the kill behind the lock: the
// confirmation comes too late and is none.
func TestDrillTakesNoConfirmationAfterTheTimeout(t *testing.T) {
	db := testdb.NewPostgres(t)
	_, err := drillStore(t, db).Import(context.Background(), []byte(storeSeed), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	id := registerStuck(t, db, "http://127.0.0.1:9/", 1)
	var released <-chan struct{}
	h := drillHooks{afterKill: func(context.Context) {
		released = holdRegistry(t, db, 4*time.Second, func(tx *sql.Tx) {
			_, err := tx.Exec(`UPDATE rollsafe_instances SET flags_revision = 2, last_seen = $1 WHERE id = $2`, time.Now().UnixMilli(), id)
			require.NoError(t, err)
		})
	}}

	code, out, errOut := drillCLI(t, context.Background(), db, h, "--flag", drillFlag, "--timeout", "1s", "--format", "json")
	require.NotNil(t, released)
	<-released
	require.Equal(t, exitFailed, code, errOut)
	rep := decode[drillReport](t, out)
	require.Len(t, rep.Instances, 1)
	assert.Nil(t, rep.Instances[0].KillMs, "confirmed after the timeout")
	require.NotEmpty(t, rep.Unconfirmed)
	assert.Equal(t, drillPending{ID: id, Address: "http://127.0.0.1:9/", Phase: phaseKill, Serves: new(int64(1))}, rep.Unconfirmed[0])
	assert.True(t, rep.Restored)
}
