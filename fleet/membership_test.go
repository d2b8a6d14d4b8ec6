package fleet_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// A membership heartbeats on its own timer, carrying the status last set;
// an entry pruned during a long pause is registered again by the next
// heartbeat. The bubble's clock is both the timer's and the registry's.
func TestMembership(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg, err := fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithTTL(time.Minute),
			fleet.WithHeartbeat(20*time.Second))
		require.NoError(t, err)
		list := func() []fleet.Instance {
			ins, err := reg.List(ctx)
			require.NoError(t, err)
			return ins
		}

		ms, err := reg.Join(ctx, "http://10.0.0.1:8080/", orders)
		require.NoError(t, err)
		joined := time.Now()
		assert.Equal(t, fleet.Status{}, ms.Status(), "not ready until said so")

		ms.SetReady(true, "")
		time.Sleep(19 * time.Second)
		synctest.Wait()
		ins := list()
		require.Len(t, ins, 1)
		assert.Equal(t, ms.ID(), ins[0].ID)
		assert.Equal(t, fleet.Status{}, ins[0].Status, "nothing sent before the first heartbeat")
		assert.True(t, ins[0].LastSeen.Equal(joined.Truncate(time.Millisecond)))

		time.Sleep(time.Second)
		synctest.Wait()
		ins = list()
		require.Len(t, ins, 1)
		assert.Equal(t, fleet.Status{Ready: true}, ins[0].Status)
		assert.Equal(t, joined.Add(20*time.Second).UnixMilli(), ins[0].LastSeen.UnixMilli())

		// A new flags revision is sent at once, not at the next interval;
		// the same revision again sends nothing.
		time.Sleep(5 * time.Second)
		ms.SetFlagsRevision(12)
		synctest.Wait()
		ins = list()
		assert.Equal(t, fleet.Status{Ready: true, FlagsRevision: rev(12)}, ins[0].Status)
		assert.Equal(t, joined.Add(25*time.Second).UnixMilli(), ins[0].LastSeen.UnixMilli())
		time.Sleep(time.Second)
		ms.SetFlagsRevision(12)
		synctest.Wait()
		assert.Equal(t, joined.Add(25*time.Second).UnixMilli(), list()[0].LastSeen.UnixMilli(), "an unchanged revision waits for the interval")
		time.Sleep(14 * time.Second) // the interval is not restarted by the wake
		synctest.Wait()
		assert.Equal(t, joined.Add(40*time.Second).UnixMilli(), list()[0].LastSeen.UnixMilli())

		// Heartbeat sends at once.
		ms.SetReady(false, "draining")
		require.NoError(t, ms.Heartbeat(ctx))
		assert.Equal(t, fleet.Status{Detail: "draining", FlagsRevision: rev(12)}, list()[0].Status)

		// Pruned (as after a pause longer than the TTL), the entry comes back
		// with the next heartbeat, under the same id.
		require.NoError(t, reg.Deregister(ctx, ms.ID()))
		assert.Empty(t, list())
		time.Sleep(20 * time.Second)
		synctest.Wait()
		ins = list()
		require.Len(t, ins, 1)
		assert.Equal(t, ms.ID(), ins[0].ID)
		assert.Equal(t, "draining", ins[0].Detail)

		require.NoError(t, ms.Leave(ctx))
		require.NoError(t, ms.Leave(ctx), "leaving twice only removes the entry again")
		assert.Empty(t, list())
		// A heartbeat after Leave (a readiness hook during shutdown, say)
		// does not bring the entry back.
		ms.SetReady(false, "stopping")
		require.ErrorIs(t, ms.Heartbeat(ctx), fleet.ErrLeft)
		assert.Empty(t, list())
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Empty(t, list(), "no heartbeat after Leave")
	})
}

// A readiness detail is often an error's text, which may hold bytes that
// PostgreSQL and MySQL refuse: the heartbeat still goes through.
func TestHeartbeatDetailWithInvalidText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect)
		require.NoError(t, err)
		id, err := reg.Register(ctx, "http://10.0.0.1:8080/", orders)
		require.NoError(t, err)
		require.NoError(t, reg.Heartbeat(ctx, id, fleet.Status{Detail: "bad \xff\xfe byte and a \x00 NUL"}))
		ins, err := reg.List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 1)
		assert.Equal(t, "bad \uFFFD byte and a  NUL", ins[0].Detail)
	})
}
