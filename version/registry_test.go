package version_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/version"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRegistry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		opts := []version.RegistryOption{version.WithClock(clock.Now), version.WithTTL(30 * time.Second)}
		reg, err := version.NewRegistry(ctx, db.DB, version.Dialect(db.Dialect.String()), opts...)
		require.NoError(t, err)
		// Idempotent: a second instance on the same database finds the table.
		other, err := version.NewRegistry(ctx, db.Open(t), version.Dialect(db.Dialect.String()), opts...)
		require.NoError(t, err)

		payments := version.Manifest{Service: "payments", Version: "1.4.0", ReleaseID: "r9"}
		users := version.Manifest{Service: "users", Version: "3.0.0"}
		pid, err := other.Register(ctx, "http://10.0.0.2:8080/", payments)
		require.NoError(t, err)
		clock.Advance(10 * time.Second)
		uid, err := other.Register(ctx, "http://10.0.0.3:8080/", users)
		require.NoError(t, err)
		self, err := reg.Register(ctx, "http://10.0.0.1:8080/", orders)
		require.NoError(t, err)

		ins, err := reg.Instances(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 3)
		assert.Equal(t, []string{"orders", "payments", "users"}, []string{ins[0].Manifest.Service, ins[1].Manifest.Service, ins[2].Manifest.Service})
		assert.Equal(t, pid, ins[1].ID)
		assert.Equal(t, "r9", ins[1].Manifest.ReleaseID)
		assert.Equal(t, "http://10.0.0.2:8080/", ins[1].Address)
		assert.True(t, ins[1].RegisteredAt.Equal(clock.Now().Add(-10*time.Second)), "%v", ins[1].RegisteredAt)

		// As a discovery, a registry leaves out its own registrations.
		peers, err := reg.Peers(ctx)
		require.NoError(t, err)
		require.Len(t, peers, 2)
		r, err := version.Negotiate(ctx, orders, peers)
		require.NoError(t, err)
		assert.Equal(t, 2, r.Count(version.Compatible))

		// 25 s on, payments (last seen 25 s ago) is alive; 6 s more and it
		// is stale, while users (heartbeat now) stays.
		clock.Advance(15 * time.Second)
		require.NoError(t, other.Heartbeat(ctx, uid))
		require.NoError(t, other.Heartbeat(ctx, uid), "a heartbeat that changes nothing still finds the entry")
		require.NoError(t, reg.Heartbeat(ctx, self))
		clock.Advance(6 * time.Second)
		ins, err = reg.Instances(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 2)
		assert.Equal(t, "orders", ins[0].Manifest.Service)
		assert.Equal(t, uid, ins[1].ID)

		n, err := reg.Prune(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		assert.ErrorIs(t, other.Heartbeat(ctx, pid), version.ErrNotRegistered)

		require.NoError(t, other.Deregister(ctx, uid))
		require.NoError(t, other.Deregister(ctx, uid), "deregistering twice is not an error")
		peers, err = reg.Peers(ctx)
		require.NoError(t, err)
		assert.Empty(t, peers)
	})
}

func TestRegistryMembership(t *testing.T) {
	noLeaks(t)
	db := testdb.New(t, dialect.SQLite)
	ctx := context.Background()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	ticks := make(chan time.Time)
	reg, err := version.NewRegistry(ctx, db.DB, version.SQLite, version.WithClock(clock.Now),
		version.WithTTL(time.Minute), version.WithHeartbeatTicks(ticks))
	require.NoError(t, err)
	// beat delivers one tick and, by delivering a second, waits until the
	// first heartbeat has finished (the loop takes ticks one at a time).
	beat := func() { ticks <- time.Time{}; ticks <- time.Time{} }

	ms, err := reg.Join(ctx, "http://10.0.0.1:8080/", orders)
	require.NoError(t, err)
	clock.Advance(50 * time.Second)
	beat()
	clock.Advance(50 * time.Second) // 100 s after joining, 50 s after the heartbeat
	ins, err := reg.Instances(ctx)
	require.NoError(t, err)
	require.Len(t, ins, 1, "the heartbeat kept the entry alive")
	assert.Equal(t, ms.ID(), ins[0].ID)

	// Pruned after a long pause, the next heartbeat registers it again.
	clock.Advance(2 * time.Minute)
	n, err := reg.Prune(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	beat()
	ins, err = reg.Instances(ctx)
	require.NoError(t, err)
	require.Len(t, ins, 1)
	assert.Equal(t, ms.ID(), ins[0].ID)

	require.NoError(t, ms.Leave(ctx))
	require.NoError(t, ms.Leave(ctx))
	ins, err = reg.Instances(ctx)
	require.NoError(t, err)
	assert.Empty(t, ins)
}

func TestRegistryErrors(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	ctx := context.Background()
	_, err := version.NewRegistry(ctx, db.DB, "oracle")
	assert.ErrorContains(t, err, `unknown dialect "oracle"`)
	_, err = version.NewRegistry(ctx, nil, version.SQLite)
	assert.ErrorContains(t, err, "nil database")
	_, err = version.NewRegistry(ctx, db.DB, version.SQLite, version.WithTableName("instances"))
	assert.ErrorContains(t, err, `table name "instances" is not rollsafe_`)
	_, err = version.NewRegistry(ctx, db.DB, version.SQLite, version.WithTTL(0))
	assert.ErrorContains(t, err, "ttl 0s is shorter than 1ms")

	reg, err := version.NewRegistry(ctx, db.DB, version.SQLite, version.WithTableName("rollsafe_peers"))
	require.NoError(t, err)
	_, err = reg.Register(ctx, "10.0.0.1:8080", orders)
	assert.ErrorContains(t, err, "address")
	_, err = reg.Register(ctx, "http://10.0.0.1/", version.Manifest{Service: "orders", Version: "1"})
	assert.ErrorIs(t, err, version.ErrInvalidManifest)

	// A row that is not a valid manifest is reported as an invalid peer.
	_, err = db.ExecContext(ctx, `INSERT INTO rollsafe_peers VALUES ('x', 'payments', '1.0.0', 'http://p/', '{"service":', 0, 9000000000000)`)
	require.NoError(t, err)
	peers, err := reg.Peers(ctx)
	require.NoError(t, err)
	r, err := version.Negotiate(ctx, orders, peers)
	require.NoError(t, err)
	assert.Equal(t, version.Invalid, r.Peers[0].Verdict)
	assert.Equal(t, "http://p/", r.Peers[0].Source)
}

// The largest values a valid manifest can hold fit the table on every
// dialect, and an address too long for it is refused by name before the
// database sees it.
func TestRegistryLargestValues(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		reg, err := version.NewRegistry(ctx, db.DB, version.Dialect(db.Dialect.String()))
		require.NoError(t, err)

		longVersion := "1.0.0-" + strings.Repeat("a", 250) // semver's limit: 256 bytes
		apis := make([]string, 256)
		for i := range apis {
			apis[i] = fmt.Sprintf("api%03d.%s", i, strings.Repeat("v", 240))
		}
		big := version.Manifest{Service: strings.Repeat("s", 128), Version: longVersion, APIs: apis}
		raw, err := big.JSON()
		require.NoError(t, err)
		require.Greater(t, len(raw), 64<<10, "larger than MySQL's TEXT")
		address := "http://10.0.0.1:8080/" + strings.Repeat("p", 2048-len("http://10.0.0.1:8080/")-1) + "/"

		id, err := reg.Register(ctx, address, big)
		require.NoError(t, err)
		ins, err := reg.Instances(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 1)
		assert.Equal(t, id, ins[0].ID)
		assert.Equal(t, address, ins[0].Address)
		assert.Equal(t, big, ins[0].Manifest)

		_, err = reg.Register(ctx, address+"x", orders)
		assert.ErrorContains(t, err, "is longer than 2048 bytes")
	})
}
