package fleet_test

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
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/version"
)

var orders = version.Manifest{
	Service: "orders", Version: "2.4.0",
	Requires: map[string]string{"payments": ">=1.2.0 <2.0.0", "users": "^3"},
}

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

func rev(n int64) *int64 { return &n }

func TestRegistry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
		opts := []fleet.Option{fleet.WithClock(clock.Now), fleet.WithTTL(30 * time.Second)}
		reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect, opts...)
		require.NoError(t, err)
		// Idempotent: a second instance on the same database finds the table.
		other, err := fleet.NewRegistry(ctx, db.Open(t), db.Dialect, opts...)
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

		ins, err := reg.List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 3)
		assert.Equal(t, []string{"orders", "payments", "users"}, []string{ins[0].Service, ins[1].Service, ins[2].Service})
		p := ins[1]
		assert.Equal(t, pid, p.ID)
		assert.Equal(t, "1.4.0", p.Version)
		assert.Equal(t, "r9", p.ReleaseID)
		assert.Equal(t, payments, p.Manifest)
		assert.Equal(t, "http://10.0.0.2:8080/", p.Address)
		assert.Equal(t, fleet.Status{}, p.Status, "registered, not yet ready")
		assert.True(t, p.RegisteredAt.Equal(clock.Now().Add(-10*time.Second)), "%v", p.RegisteredAt)

		// As a discovery, a registry leaves out its own registrations.
		peers, err := reg.Peers(ctx)
		require.NoError(t, err)
		require.Len(t, peers, 2)
		r, err := version.Negotiate(ctx, orders, peers)
		require.NoError(t, err)
		assert.Equal(t, 2, r.Count(version.Compatible))

		// 25 s on, payments (last seen 25 s ago) is alive; 6 s more and it
		// is stale, while users (heartbeat now) stays, with what it said.
		clock.Advance(15 * time.Second)
		require.NoError(t, other.Heartbeat(ctx, uid, fleet.Status{Ready: true, FlagsRevision: rev(41)}))
		require.NoError(t, other.Heartbeat(ctx, uid, fleet.Status{Ready: true, FlagsRevision: rev(41)}),
			"a heartbeat that changes nothing still finds the entry")
		require.NoError(t, reg.Heartbeat(ctx, self, fleet.Status{Detail: "database: connection refused"}))
		clock.Advance(6 * time.Second)
		ins, err = reg.List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 2)
		assert.Equal(t, "orders", ins[0].Service)
		assert.Equal(t, fleet.Status{Detail: "database: connection refused"}, ins[0].Status)
		assert.Equal(t, uid, ins[1].ID)
		assert.Equal(t, fleet.Status{Ready: true, FlagsRevision: rev(41)}, ins[1].Status)
		assert.True(t, ins[1].LastSeen.Equal(clock.Now().Add(-6*time.Second)), "%v", ins[1].LastSeen)

		n, err := reg.Prune(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		assert.ErrorIs(t, other.Heartbeat(ctx, pid, fleet.Status{}), fleet.ErrNotRegistered)

		require.NoError(t, other.Deregister(ctx, uid))
		require.NoError(t, other.Deregister(ctx, uid), "deregistering twice is not an error")
		peers, err = reg.Peers(ctx)
		require.NoError(t, err)
		assert.Empty(t, peers)
	})
}

func TestRegistryErrors(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	ctx := context.Background()
	_, err := fleet.NewRegistry(ctx, db.DB, dialect.Dialect(0))
	assert.ErrorIs(t, err, dialect.ErrUnknown)
	assert.ErrorContains(t, err, "fleet: registry: dialect: unknown dialect: none given")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.Dialect(9))
	assert.ErrorIs(t, err, dialect.ErrUnknown)
	_, err = fleet.NewRegistry(ctx, nil, dialect.SQLite)
	assert.ErrorContains(t, err, "fleet: registry: nil database")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, nil)
	assert.ErrorContains(t, err, "fleet: registry: nil option")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithTableName("instances"))
	assert.ErrorContains(t, err, `table name "instances" is not rollsafe_`)
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithTableName(strings.Repeat("x", 1<<20)))
	assert.ErrorContains(t, err, "of 1048576 bytes is longer than 64 bytes", "a huge name is not echoed whole")
	assert.Less(t, len(err.Error()), 200)
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithTTL(0))
	assert.ErrorContains(t, err, "ttl 0s is shorter than 1ms")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithHeartbeat(0))
	assert.ErrorContains(t, err, "heartbeat interval 0s is not positive")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithHeartbeat(time.Minute))
	assert.ErrorContains(t, err, "fleet: registry: heartbeat 1m0s is not shorter than the ttl 30s")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithClock(nil))
	assert.ErrorContains(t, err, "nil clock")
	_, err = fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithLogger(nil))
	assert.ErrorContains(t, err, "nil logger")

	reg, err := fleet.NewRegistry(ctx, db.DB, dialect.SQLite, fleet.WithTableName("rollsafe_peers"))
	require.NoError(t, err)
	_, err = reg.Register(ctx, "10.0.0.1:8080", orders)
	assert.ErrorContains(t, err, "fleet: register: address")
	_, err = reg.Register(ctx, "http://10.0.0.1/", version.Manifest{Service: "orders", Version: "1"})
	assert.ErrorIs(t, err, version.ErrInvalidManifest)

	// A row that is not a valid manifest is reported as an invalid peer.
	_, err = db.ExecContext(ctx, `INSERT INTO rollsafe_peers (id, service, version, address, manifest, registered_at, last_seen)
VALUES ('x', 'payments', '1.0.0', 'http://p/', '{"service":', 0, 9000000000000)`)
	require.NoError(t, err)
	peers, err := reg.Peers(ctx)
	require.NoError(t, err)
	r, err := version.Negotiate(ctx, orders, peers)
	require.NoError(t, err)
	assert.Equal(t, version.Invalid, r.Peers[0].Verdict)
	assert.Equal(t, "http://p/", r.Peers[0].Source)
}

// The largest values a valid manifest can hold fit the table on every
// dialect, and an address too long for it is refused before the database
// sees it. A readiness detail longer than the column is cut, not refused.
func TestRegistryLargestValues(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect)
		require.NoError(t, err)

		longVersion := "1.0.0-" + strings.Repeat("a", 250) // semver's limit: 256 bytes
		apis := make([]string, 256)
		for i := range apis {
			apis[i] = fmt.Sprintf("api%03d.%s", i, strings.Repeat("v", 240))
		}
		big := version.Manifest{Service: strings.Repeat("s", 128), Version: longVersion, APIs: apis,
			ReleaseID: strings.Repeat("r", 256)}
		raw, err := big.JSON()
		require.NoError(t, err)
		require.Greater(t, len(raw), 64<<10, "larger than MySQL's TEXT")
		address := "http://10.0.0.1:8080/" + strings.Repeat("p", 2048-len("http://10.0.0.1:8080/")-1) + "/"

		id, err := reg.Register(ctx, address, big)
		require.NoError(t, err)
		detail := strings.Repeat("é", 2000) // 4000 bytes, 2 a rune
		require.NoError(t, reg.Heartbeat(ctx, id, fleet.Status{Detail: detail, FlagsRevision: rev(1<<62 + 7)}))
		ins, err := reg.List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 1)
		assert.Equal(t, id, ins[0].ID)
		assert.Equal(t, address, ins[0].Address)
		assert.Equal(t, big, ins[0].Manifest)
		assert.Equal(t, big.ReleaseID, ins[0].ReleaseID)
		assert.Equal(t, rev(1<<62+7), ins[0].FlagsRevision)
		assert.LessOrEqual(t, len(ins[0].Detail), fleet.MaxDetailLen)
		assert.True(t, strings.HasPrefix(ins[0].Detail, "éé"), ins[0].Detail[:8])
		assert.True(t, strings.HasSuffix(ins[0].Detail, "é…"), "cut at a rune boundary and marked")

		_, err = reg.Register(ctx, address+"x", orders)
		assert.ErrorContains(t, err, "address of 2049 bytes is longer than 2048 bytes")
	})
}

// previousTable is rollsafe_instances as the release before fleet created it.
func previousTable(d dialect.Dialect) string {
	text := "TEXT"
	if d == dialect.MySQL {
		text = "MEDIUMTEXT"
	}
	return `CREATE TABLE rollsafe_instances (
	id VARCHAR(64) NOT NULL PRIMARY KEY,
	service VARCHAR(128) NOT NULL,
	version VARCHAR(256) NOT NULL,
	address VARCHAR(2048) NOT NULL,
	manifest ` + text + ` NOT NULL,
	registered_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL
)`
}

// A table left by the previous release gets the new columns when instances
// of this one start, all at once, and keeps its rows; an instance of the
// previous release, still running, keeps writing to it.
func TestRegistryUpgradesPreviousTable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		_, err := db.ExecContext(ctx, previousTable(db.Dialect))
		require.NoError(t, err)
		// What the previous release wrote: its upsert named these columns.
		oldInsert := db.Dialect.Rebind(`INSERT INTO rollsafe_instances (id, service, version, address, manifest, registered_at, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)`)
		old := `{"service": "payments", "version": "1.4.0", "releaseId": "r8"}`
		_, err = db.ExecContext(ctx, oldInsert, "old", "payments", "1.4.0", "http://10.0.0.9/", old, now.UnixMilli(), now.UnixMilli())
		require.NoError(t, err)

		const starting = 4
		regs := make([]*fleet.Registry, starting)
		errs := make([]error, starting)
		var wg sync.WaitGroup
		for i := range starting {
			pool := db.Open(t)
			wg.Go(func() { regs[i], errs[i] = fleet.NewRegistry(ctx, pool, db.Dialect, fleet.WithClock(clock)) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "instance %d", i)
		}

		_, err = db.ExecContext(ctx, oldInsert, "old2", "users", "3.0.0", "http://10.0.0.8/",
			`{"service": "users", "version": "3.0.0"}`, now.UnixMilli(), now.UnixMilli())
		require.NoError(t, err, "the previous release's insert still works")
		id, err := regs[0].Register(ctx, "http://10.0.0.1/", orders)
		require.NoError(t, err)
		require.NoError(t, regs[1].Heartbeat(ctx, id, fleet.Status{Ready: true, FlagsRevision: rev(3)}))

		ins, err := regs[2].List(ctx)
		require.NoError(t, err)
		require.Len(t, ins, 3)
		assert.Equal(t, "orders", ins[0].Service)
		assert.Equal(t, fleet.Status{Ready: true, FlagsRevision: rev(3)}, ins[0].Status)
		assert.Equal(t, "old", ins[1].ID)
		assert.Equal(t, "r8", ins[1].ReleaseID, "taken from the manifest of a row without one")
		assert.Equal(t, fleet.Status{}, ins[1].Status)
		assert.Equal(t, "1.4.0", ins[1].Manifest.Version)
		assert.Equal(t, "old2", ins[2].ID)

		// And once more: nothing left to add.
		_, err = fleet.NewRegistry(ctx, db.DB, db.Dialect)
		require.NoError(t, err)
	})
}
