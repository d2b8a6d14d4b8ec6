package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// load sends about rps requests a second to GET /summary, spread over the
// targets that are up, each with a user id, until stop; it counts the
// answers by code path.
type load struct {
	mu       sync.Mutex
	targets  []string
	served   map[string]*atomic.Int64
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func startLoad(rps int, targets ...string) *load { return startLoadOn(rps, "/summary", targets...) }

// startLoadOn is startLoad on path (with its query).
func startLoadOn(rps int, path string, targets ...string) *load {
	l := &load{targets: targets, stop: make(chan struct{}), done: make(chan struct{}),
		served: map[string]*atomic.Int64{"new": {}, "old": {}, "failed": {}}}
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(l.done)
		t := time.NewTicker(time.Second / time.Duration(rps))
		defer t.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			l.mu.Lock()
			target := l.targets[i%len(l.targets)]
			l.mu.Unlock()
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, target+path, nil)
				req.Header.Set("X-User", fmt.Sprintf("user-%d", rand.IntN(10_000)))
				resp, err := client.Do(req)
				if err != nil {
					l.served["failed"].Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if path := resp.Header.Get("X-Code-Path"); resp.StatusCode == http.StatusOK && l.served[path] != nil {
					l.served[path].Add(1)
				} else {
					l.served["failed"].Add(1)
				}
			})
		}
	}()
	return l
}

func (l *load) only(targets ...string) {
	l.mu.Lock()
	l.targets = targets
	l.mu.Unlock()
}

func (l *load) end() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// A release runs on two instances in processes of their own; the one that
// drives it is killed with SIGKILL in the middle of a step. The other takes
// the lease when it lapses and finishes the release from the stored
// state: every step taken once, none re-run.
func TestKilledDriverIsReplaced(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	a, b := startChild(t, io.Discard, "--db", path), startChild(t, io.Discard, "--db", path)
	waitReady(t, a.base)
	waitReady(t, b.base)
	byAddress := map[string]*child{a.base: a, b.base: b}

	pool := (&testdb.DB{Driver: dialect.SQLite.Driver(), DSN: testdb.SQLiteDSN(path)}).Open(t)
	store, err := flagstore.New(pool, dialect.SQLite)
	require.NoError(t, err)
	reg, err := fleet.NewRegistry(ctx, pool, dialect.SQLite)
	require.NoError(t, err)
	c, err := release.NewController(pool, dialect.SQLite, store, reg)
	require.NoError(t, err)

	l := startLoad(100, a.base, b.base)
	defer l.end()
	plan := &release.Plan{ID: "summary-v2", Requires: ">= 1.4.0",
		Flags: []release.FlagSpec{{Key: "orders-summary-v2", Baseline: "off", Canary: "on"}},
		Steps: []release.Step{
			{Weights: map[string]int{"orders-summary-v2": 10}, Bake: release.Duration(2 * time.Second), MinSamples: 20},
			{Weights: map[string]int{"orders-summary-v2": 50}, Bake: release.Duration(4 * time.Second), MinSamples: 20},
			{Weights: map[string]int{"orders-summary-v2": 100}, Bake: release.Duration(time.Second), MinSamples: 20},
		},
		// What is tested is the takeover: the latencies of two paths on a
		// machine as busy as a test run's are no judge of either.
		Analysis: release.Analysis{Latency: &release.LatencyMetric{Disabled: true}}}
	_, err = c.Start(ctx, plan, "test")
	require.NoError(t, err)

	// Mid-release: on the second step, whose bake is long enough to kill
	// its driver in the middle of it.
	var driver string
	require.Eventually(t, func() bool {
		st, err := c.Status(ctx, plan.ID)
		require.NoError(t, err)
		require.False(t, st.State.Terminal(), "outcome %q", st.Outcome)
		driver = st.Driver
		return st.Step == 1 && driver != ""
	}, 60*time.Second, 50*time.Millisecond)
	ins, err := reg.List(ctx)
	require.NoError(t, err)
	var victim *child
	for _, in := range ins {
		if in.ID == driver {
			victim = byAddress[in.Address]
		}
	}
	require.NotNil(t, victim, "the driver %s is one of the two", driver)
	survivor := a
	if victim == a {
		survivor = b
	}
	l.only(survivor.base)
	victim.kill(t)
	killedAt := time.Now()

	require.Eventually(t, func() bool {
		st, err := c.Status(ctx, plan.ID)
		require.NoError(t, err)
		require.NotEqual(t, release.StateRolledBack, st.State, "outcome %q", st.Outcome)
		return st.State == release.StatePromoted
	}, 90*time.Second, 100*time.Millisecond)
	t.Logf("promoted %v after the driver was killed", time.Since(killedAt).Round(time.Millisecond))

	evs, err := c.History(ctx, plan.ID, release.HistoryFilter{Kinds: []string{release.EventStep, release.EventDriver}})
	require.NoError(t, err)
	var steps []int
	var drivers []string
	for _, e := range evs {
		switch e.Kind {
		case release.EventStep:
			steps = append(steps, e.Step)
		case release.EventDriver:
			drivers = append(drivers, e.Actor)
		}
	}
	assert.Equal(t, []int{0, 1, 2}, steps, "each step once: the new driver re-ran none")
	require.Len(t, drivers, 2)
	assert.Equal(t, driver, drivers[0])
	assert.NotEqual(t, driver, drivers[1], "the survivor took over")
	recs, err := store.History(ctx, flagstore.Filter{ReleaseID: plan.ID})
	require.NoError(t, err)
	assert.Len(t, recs, 3, "three weight changes in the store, one per step")
	l.end()
	assert.Positive(t, l.served["new"].Load())
	assert.Positive(t, l.served["old"].Load())
}

// The README's bad release: the new path fails (--demo-faults and
// ?fail=new), and the release rolls itself back in one change of the
// store, with the measurement that decided in its ledger.
func TestBadReleaseRollsBackByItself(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	a := launch(t, io.Discard, "--db", path, "--demo-faults").wait(t)
	waitReady(t, a)
	pool := (&testdb.DB{Driver: dialect.SQLite.Driver(), DSN: testdb.SQLiteDSN(path)}).Open(t)
	store, err := flagstore.New(pool, dialect.SQLite)
	require.NoError(t, err)
	c, err := release.NewController(pool, dialect.SQLite, store, nil)
	require.NoError(t, err)
	plan, err := release.ParsePlanFile("release.yaml")
	require.NoError(t, err)
	plan.Requires = "" // no registry given to this controller
	l := startLoadOn(100, "/summary?fail=new", a)
	defer l.end()
	_, err = c.Start(ctx, plan, "test")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := c.Status(ctx, plan.ID)
		require.NoError(t, err)
		require.NotEqual(t, release.StatePromoted, st.State)
		return st.State == release.StateRolledBack
	}, 60*time.Second, 50*time.Millisecond)
	st, err := c.Status(ctx, plan.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Step, "the first step's canary failed")
	assert.Contains(t, st.Outcome, "analysis: ")
	evs, err := c.History(ctx, plan.ID, release.HistoryFilter{Kinds: []string{release.EventRollback}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.NotNil(t, evs[0].Measurement)
	assert.Equal(t, release.PhaseFailed, evs[0].Measurement.Phase)
	recs, err := store.History(ctx, flagstore.Filter{ReleaseID: plan.ID, Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, release.ActorAnalysis, recs[0].Actor)
	require.Eventually(t, func() bool { return codePath(t, a) == "old" }, 10*time.Second, 20*time.Millisecond,
		"every user is on the old path again")
}
