package release

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/version"
)

// clock is a manual clock shared by the harness's parts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a controller over a real database and flag store, driven tick
// by tick on a manual clock; samples are written into the samples table
// as instances' recorders write them.
type harness struct {
	t     *testing.T
	db    *testdb.DB
	clock *clock
	store *flagstore.Store
	reg   *fleet.Registry
	c     *Controller
}

const twoFlags = `{"flags": {
	"checkout-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
	"search-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
		"targeting": {"fractional": [["off", 100], ["on", 0]]}},
	"other": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
}}`

func newHarness(t *testing.T, db *testdb.DB, opts ...Option) *harness {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	store, err := flagstore.New(db.DB, db.Dialect, flagstore.WithClock(clk.now))
	require.NoError(t, err)
	_, err = store.Import(ctx, []byte(twoFlags), flagstore.Change{Actor: "test", Reason: "seed"})
	require.NoError(t, err)
	reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect, fleet.WithClock(clk.now))
	require.NoError(t, err)
	h := &harness{t: t, db: db, clock: clk, store: store, reg: reg}
	h.c = h.controller("driver-1", opts...)
	return h
}

func (h *harness) controller(id string, opts ...Option) *Controller {
	h.t.Helper()
	c, err := NewController(h.db.DB, h.db.Dialect, h.store, h.reg,
		append([]Option{WithInstanceID(id), WithClock(h.clock.now)}, opts...)...)
	require.NoError(h.t, err)
	return c
}

// tick advances the clock by d and has c take one look: lease, then every
// release.
func (h *harness) tick(c *Controller, d time.Duration) bool {
	h.t.Helper()
	h.clock.advance(d)
	ctx := context.Background()
	require.NoError(h.t, c.ensure(ctx))
	held, err := c.acquire(ctx)
	require.NoError(h.t, err)
	if held {
		c.driveAll(ctx)
	} else {
		c.stopDriving()
	}
	return held
}

// sample records one interval of counts for flag from instance, ending now.
func (h *harness) sample(id, flag, instance string, canaryCalls, canaryErrors, baseCalls, baseErrors uint64, latency time.Duration) {
	h.t.Helper()
	end := h.clock.now().UnixMilli()
	for _, arm := range []struct {
		name          string
		calls, errors uint64
	}{{"canary", canaryCalls, canaryErrors}, {"baseline", baseCalls, baseErrors}} {
		if arm.calls == 0 {
			continue
		}
		var hist flags.LatencyHistogram
		b := 0
		for b < flags.LatencyBuckets-1 && flags.BucketUpperBound(b) <= latency {
			b++
		}
		hist.Counts[b] = arm.calls
		cols := "release_id, flag_key, instance, arm, start_ms, end_ms, calls, errors, panics, timed, latency_ns, " + histogramColumns[b]
		_, err := h.db.ExecContext(context.Background(), h.db.Dialect.Rebind(`INSERT INTO `+tableSamples+` (`+cols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`),
			id, flag, instance, arm.name, end-1000, end, arm.calls, arm.errors, arm.calls, int64(latency)*int64(arm.calls), arm.calls)
		require.NoError(h.t, err)
	}
}

// traffic records n seconds of 100 calls a second of every flag of p, at
// the current weights, one sample a second, ticking the driver each second.
func (h *harness) traffic(p *Plan, seconds int, canaryErrRate, baseErrRate float64) {
	h.t.Helper()
	for range seconds {
		h.clock.advance(time.Second)
		st, err := h.c.Status(context.Background(), p.ID)
		require.NoError(h.t, err)
		if st.State.Terminal() {
			return
		}
		for _, f := range p.Flags {
			w := uint64(st.Weights[f.Key])
			cc, bc := w, 100-w
			h.sample(p.ID, f.Key, "i1", cc, uint64(float64(cc)*canaryErrRate+0.5), bc, uint64(float64(bc)*baseErrRate+0.5), 2*time.Millisecond)
		}
		h.tick(h.c, 0)
	}
}

// flagWeights reads the fractional split of key from the store.
func (h *harness) flagWeights(key string) string {
	h.t.Helper()
	set, err := h.store.Current(context.Background())
	require.NoError(h.t, err)
	docs, err := flagDocs(set)
	require.NoError(h.t, err)
	b, err := json.Marshal(docs[key]["targeting"])
	require.NoError(h.t, err)
	return string(b)
}

func (h *harness) kinds(id string) string {
	h.t.Helper()
	evs, err := h.c.History(context.Background(), id, HistoryFilter{})
	require.NoError(h.t, err)
	var ks []string
	for _, e := range evs {
		if e.Kind == EventMeasurement || e.Kind == EventHold {
			continue
		}
		ks = append(ks, e.Kind)
	}
	return strings.Join(ks, " ")
}

func (h *harness) register(v string) string {
	h.t.Helper()
	id, err := h.reg.Register(context.Background(), "http://127.0.0.1:1", version.Manifest{Service: "orders", Version: v})
	require.NoError(h.t, err)
	return id
}

func testPlan(id string, steps ...int) *Plan {
	p := &Plan{ID: id, Flags: []FlagSpec{
		{Key: "checkout-v2", Baseline: "off", Canary: "on"},
		{Key: "search-v2", Baseline: "off", Canary: "on"},
	}}
	for _, w := range steps {
		p.Steps = append(p.Steps, Step{Weights: map[string]int{"checkout-v2": w, "search-v2": w}, MinSamples: 50, Bake: Duration(2 * time.Second)})
	}
	return p
}

func fractional(pct int) string {
	return fmt.Sprintf(`{"fractional":[["off",%d],["on",%d]]}`, 100-pct, pct)
}
