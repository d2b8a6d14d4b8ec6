package pglisten_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// EnvRestartPostgres holds the command that restarts the PostgreSQL server
// of ROLLSAFE_TEST_POSTGRES, run with sh -c. TestRestartedServer runs only
// when it is set, outside the main test run, since a restart breaks every
// test that runs beside it.
const EnvRestartPostgres = "ROLLSAFE_TEST_RESTART_POSTGRES"

// hour is a poll interval that no test outlives: what such a reader
// serves came through the Listener.
const hour = time.Hour

// seeded returns a writer store over a fresh PostgreSQL schema holding the
// seed at revision 1.
func seeded(t *testing.T) (*testdb.DB, *flagstore.Store) {
	t.Helper()
	db := testdb.NewPostgres(t)
	writer, err := flagstore.New(db.DB, dialect.Postgres)
	require.NoError(t, err)
	res, err := writer.Import(context.Background(), []byte(seed), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Revision)
	return db, writer
}

func TestNotificationAloneDeliversAWrite(t *testing.T) {
	ctx := context.Background()
	db, writer := seeded(t)
	r := startInstance(t, db, "r", hour)
	seen := r.wakes.waitFor(t, 0, 0) // listening
	r.serves(t, 1)
	require.True(t, r.on(t, "checkout-v2"))

	for i, state := range []flags.State{flags.Disabled, flags.Enabled, flags.Disabled} {
		res, err := writer.Apply(ctx, change("drill", flagstore.SetState("checkout-v2", state)))
		require.NoError(t, err)
		require.Equal(t, int64(2+i), res.Revision)
		seen = r.wakes.waitFor(t, seen, res.Revision)
		r.serves(t, res.Revision)
		assert.Equal(t, state == flags.Enabled, r.on(t, "checkout-v2"), "after %s", state)
		ev := r.next(t, openfeature.ProviderConfigChange)
		assert.Equal(t, []string{"checkout-v2"}, ev.FlagChanges)
	}
}

func TestKilledListenerCatchesUp(t *testing.T) {
	ctx := context.Background()
	db, writer := seeded(t)
	r := startInstance(t, db, "r", hour)
	seen := r.wakes.waitFor(t, 0, 0)
	r.serves(t, 1)

	// The gate keeps the Listener from connecting again until the writes
	// are made: nothing can tell the reader of them but the full read
	// that follows the reconnect.
	r.gate.shut()
	require.Equal(t, map[string]int{r.name + "-listen": 1}, terminate(t, db, r.name+"-listen"))
	var last int64
	for _, e := range []flagstore.Edit{
		flagstore.SetState("checkout-v2", flags.Disabled),
		flagstore.SetState("search-v2", flags.Disabled),
		flagstore.Delete("search-v2"),
	} {
		res, err := writer.Apply(ctx, change("while the listener is down", e))
		require.NoError(t, err)
		last = res.Revision
	}
	require.Equal(t, int64(4), last)
	assert.Equal(t, int64(1), r.provider.Revision(), "nothing told the reader yet")

	r.gate.release()
	r.wakes.waitFor(t, seen, 0) // listening again
	r.serves(t, last)
	assert.False(t, r.on(t, "checkout-v2"))
	ev := r.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"checkout-v2", "search-v2"}, ev.FlagChanges)
	assert.Contains(t, r.log.String(), "pglisten: not listening; trying again")
	assert.Contains(t, r.log.String(), "pglisten: listening again")
}

// A restart as the readers see it: every connection of theirs, pooled or
// listening, ended by the server at once.
func TestTerminatedConnectionsCatchUp(t *testing.T) {
	ctx := context.Background()
	db, writer := seeded(t)
	readers := []*instance{startInstance(t, db, "r1", 0), startInstance(t, db, "r2", 0)}
	seen := make([]int, len(readers))
	for i, r := range readers {
		seen[i] = r.wakes.waitFor(t, 0, 0)
		r.serves(t, 1)
		r.gate.shut()
	}
	ended := terminate(t, db, db.Name+"-r")
	for _, r := range readers {
		assert.Equal(t, 1, ended[r.name+"-listen"], "%s's listener", r.name)
		assert.Positive(t, ended[r.name+"-pool"], "%s's pool", r.name)
	}

	res, err := writer.Apply(ctx, change("during the outage",
		flagstore.SetState("checkout-v2", flags.Disabled), flagstore.SetState("search-v2", flags.Disabled)))
	require.NoError(t, err)
	res, err = writer.Apply(ctx, change("still during the outage", flagstore.SetState("search-v2", flags.Enabled)))
	require.NoError(t, err)

	for i, r := range readers {
		r.gate.release()
		r.wakes.waitFor(t, seen[i], 0)
		r.serves(t, res.Revision)
		assert.False(t, r.on(t, "checkout-v2"), r.name)
		assert.True(t, r.on(t, "search-v2"), r.name)
	}
}

// TestRestartedServer restarts the PostgreSQL server while readers watch:
// they keep serving through the outage (STALE), then serve every change
// made after it (READY, CONFIGURATION_CHANGED). It runs only when
// ROLLSAFE_TEST_RESTART_POSTGRES holds the command that restarts the
// server (.ci/run sets it in a step of its own).
func TestRestartedServer(t *testing.T) {
	restart := os.Getenv(EnvRestartPostgres)
	if restart == "" {
		t.Skip(EnvRestartPostgres + " is not set: no command to restart the server with")
	}
	ctx := context.Background()
	db, writer := seeded(t)
	// One reader with only the Listener to tell it (it catches up by the
	// full read after its reconnect), one that also polls fast enough to
	// meet the outage.
	listening := startInstance(t, db, "listening", hour)
	polling := startInstance(t, db, "polling", 20*time.Millisecond)
	for _, r := range []*instance{listening, polling} {
		r.wakes.waitFor(t, 0, 0)
		r.serves(t, 1)
	}
	first := listening.wakes.count()

	out, err := exec.CommandContext(ctx, "sh", "-c", restart).CombinedOutput()
	require.NoError(t, err, "%s: %s", restart, out)
	stale := polling.next(t, openfeature.ProviderStale)
	assert.Contains(t, stale.Message, "serving revision 1")

	// The writer's connections died with the server: a new pool.
	writer, err = flagstore.New(db.Open(t), dialect.Postgres)
	require.NoError(t, err)
	res, err := writer.Apply(ctx, change("after the restart", flagstore.SetState("checkout-v2", flags.Disabled)))
	require.NoError(t, err)

	listening.wakes.waitFor(t, first, 0)
	for _, r := range []*instance{listening, polling} {
		r.serves(t, res.Revision)
		assert.False(t, r.on(t, "checkout-v2"), r.name)
	}
	polling.next(t, openfeature.ProviderReady)
	ev := polling.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"checkout-v2"}, ev.FlagChanges)
}
