package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/health"
)

// admitAll shows details to every caller.
func admitAll(*http.Request) bool { return true }

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (m *manualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *manualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

func newChecker(t *testing.T, opts ...health.Option) *health.Checker {
	t.Helper()
	opts = append([]health.Option{health.WithMeterProvider(noop.NewMeterProvider())}, opts...)
	c, err := health.New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// A check that ignores its ctx must not hold the endpoint past its timeout,
// must never have a second run while it hangs, and must leave no goroutine
// behind once it returns.
func TestHungCheckIgnoringContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()), health.WithAuthorizer(admitAll))
	require.NoError(t, err)
	release := make(chan struct{})
	var runs atomic.Int32
	require.NoError(t, c.Register("hung", func(context.Context) error {
		runs.Add(1)
		<-release // ignores ctx on purpose
		return nil
	}, health.WithTimeout(100*time.Millisecond)))

	srv := httptest.NewServer(c.Handler(health.Readiness))
	client := &http.Client{Transport: &http.Transport{}}

	start := time.Now()
	code, body := get(t, client, srv.URL+"?verbose")
	elapsed := time.Since(start)
	assert.Less(t, elapsed, 2*time.Second, "the endpoint waited past the timeout")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "[-]hung failed: check timed out after 100ms")

	var wg sync.WaitGroup
	codes := make([]int, 100)
	for i := range codes {
		wg.Go(func() {
			resp, err := client.Get(srv.URL)
			if !assert.NoError(t, err) {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, code := range codes {
		assert.Equal(t, http.StatusServiceUnavailable, code, "probe %d", i)
	}
	assert.Equal(t, int32(1), runs.Load(), "probes started a second run while the first hung")

	res, err := c.CheckOne(context.Background(), "hung")
	require.NoError(t, err)
	assert.ErrorIs(t, res.Err, health.ErrTimeout)
	assert.Equal(t, int32(1), runs.Load())

	close(release)
	// Once the hung run has returned, the next probe runs the check again.
	require.Eventually(t, func() bool {
		code, _ := get(t, client, srv.URL)
		return code == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int32(2), runs.Load())

	client.CloseIdleConnections()
	srv.Close()
	require.NoError(t, c.Close())
}

func TestTTLCheckRunsOncePerTTL(t *testing.T) {
	clock := newManualClock()
	c := newChecker(t, health.WithClock(clock.Now))
	var runs atomic.Int32
	require.NoError(t, c.Register("db", func(context.Context) error {
		runs.Add(1)
		return nil
	}, health.WithCacheTTL(time.Minute)))
	h := c.Handler(health.Readiness)

	const probes = 1000
	codes := make([]int, probes)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range probes {
		wg.Go(func() {
			<-begin
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			codes[i] = rec.Code
		})
	}
	close(begin)
	wg.Wait()
	for i, code := range codes {
		require.Equal(t, http.StatusOK, code, "probe %d", i)
	}
	assert.Equal(t, int32(1), runs.Load())

	clock.Advance(59 * time.Second)
	c.Check(context.Background(), health.Readiness)
	assert.Equal(t, int32(1), runs.Load(), "ran again within the TTL")

	clock.Advance(time.Second)
	c.Check(context.Background(), health.Readiness)
	assert.Equal(t, int32(2), runs.Load(), "did not run again after the TTL")
}

func TestProbesShareARunningCheck(t *testing.T) {
	// Without a TTL every probe may run the check, but probes that arrive
	// while a run is in flight join it.
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		gate := make(chan struct{})
		var runs atomic.Int32
		require.NoError(t, c.Register("slow", func(ctx context.Context) error {
			runs.Add(1)
			<-gate
			return nil
		}))

		results := make(chan health.Status, 20)
		for range 20 {
			go func() { results <- c.Check(context.Background(), health.Readiness).Status }()
		}
		synctest.Wait() // every probe is waiting
		assert.Equal(t, int32(1), runs.Load())
		close(gate)
		for range 20 {
			assert.Equal(t, health.Pass, <-results)
		}
		assert.Equal(t, int32(1), runs.Load())

		c.Check(context.Background(), health.Readiness)
		assert.Equal(t, int32(2), runs.Load(), "a probe after the run ended did not run the check")
		require.NoError(t, c.Close())
	})
}

func TestCheckOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		fn      func(context.Context) error
		opts    []health.CheckOption
		status  health.Status
		errIs   error
		output  string
		latency bool
	}{
		{name: "pass", fn: func(context.Context) error { return nil }, status: health.Pass},
		{
			name:   "critical failure fails",
			fn:     func(context.Context) error { return errors.New("connection refused") },
			status: health.Fail, output: "connection refused",
		},
		{
			name:   "non-critical failure warns",
			fn:     func(context.Context) error { return errors.New("breaker open") },
			opts:   []health.CheckOption{health.NonCritical()},
			status: health.Warn, output: "breaker open",
		},
		{
			name:   "panic is a failure",
			fn:     func(context.Context) error { panic("boom") },
			status: health.Fail, errIs: health.ErrPanic, output: "check panicked: boom",
		},
		{
			name:   "panic in a non-critical check warns",
			fn:     func(context.Context) error { panic(errors.New("nil map")) },
			opts:   []health.CheckOption{health.NonCritical()},
			status: health.Warn, errIs: health.ErrPanic, output: "check panicked: nil map",
		},
		{
			name: "returning nil after the timeout is a timeout",
			fn: func(ctx context.Context) error {
				<-ctx.Done()
				return nil
			},
			opts:   []health.CheckOption{health.WithTimeout(20 * time.Millisecond)},
			status: health.Fail, errIs: health.ErrTimeout, output: "check timed out after 20ms",
		},
		{
			name: "returning its ctx error after the timeout is a timeout",
			fn: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			},
			opts:   []health.CheckOption{health.WithTimeout(20 * time.Millisecond), health.NonCritical()},
			status: health.Warn, errIs: health.ErrTimeout, output: "check timed out after 20ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t)
			require.NoError(t, c.Register("dep", tt.fn, tt.opts...))
			rep := c.Check(context.Background(), health.Readiness)
			require.Len(t, rep.Checks, 1)
			got := rep.Checks[0]
			assert.Equal(t, tt.status, rep.Status)
			assert.Equal(t, tt.status, got.Status)
			assert.Equal(t, tt.output, got.Output)
			if tt.errIs != nil {
				assert.ErrorIs(t, got.Err, tt.errIs)
			}
			if tt.status == health.Pass {
				assert.NoError(t, got.Err)
			}
		})
	}
}

func TestStatusAggregation(t *testing.T) {
	ok := func(context.Context) error { return nil }
	bad := func(context.Context) error { return errors.New("down") }
	tests := []struct {
		name   string
		checks map[string]func(context.Context) error
		warn   map[string]bool
		want   health.Status
		code   int
	}{
		{name: "no checks", want: health.Pass, code: 200},
		{name: "all pass", checks: map[string]func(context.Context) error{"a": ok, "b": ok}, want: health.Pass, code: 200},
		{name: "non-critical fails", checks: map[string]func(context.Context) error{"a": ok, "b": bad}, warn: map[string]bool{"b": true}, want: health.Warn, code: 200},
		{name: "critical fails", checks: map[string]func(context.Context) error{"a": bad, "b": ok}, want: health.Fail, code: 503},
		{name: "critical and non-critical fail", checks: map[string]func(context.Context) error{"a": bad, "b": bad}, warn: map[string]bool{"b": true}, want: health.Fail, code: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t)
			for name, fn := range tt.checks {
				var opts []health.CheckOption
				if tt.warn[name] {
					opts = append(opts, health.NonCritical())
				}
				require.NoError(t, c.Register(name, fn, opts...))
			}
			assert.Equal(t, tt.want, c.Check(context.Background(), health.Readiness).Status)
			rec := httptest.NewRecorder()
			c.Handler(health.Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			assert.Equal(t, tt.code, rec.Code)
			assert.Contains(t, rec.Body.String(), fmt.Sprintf(`{"status":%q`, tt.want.String()))
		})
	}
}

func TestChecksRunConcurrently(t *testing.T) {
	// Two checks that each wait for the other to have started can only pass
	// if a report starts both before waiting for either.
	c := newChecker(t)
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	waitFor := func(mine, other chan struct{}) func(context.Context) error {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	require.NoError(t, c.Register("a", waitFor(aStarted, bStarted), health.WithTimeout(time.Minute)))
	require.NoError(t, c.Register("b", waitFor(bStarted, aStarted), health.WithTimeout(time.Minute)))
	assert.Equal(t, health.Pass, c.Check(context.Background(), health.Readiness).Status)
}

func TestProbeContextEnds(t *testing.T) {
	c := newChecker(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	require.NoError(t, c.Register("slow", func(context.Context) error { <-release; return nil },
		health.WithTimeout(time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := c.Check(ctx, health.Readiness)
	assert.Equal(t, health.Fail, rep.Status)
	assert.ErrorIs(t, rep.Checks[0].Err, context.Canceled)
}

func TestBackgroundCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		var failing atomic.Bool
		var runs atomic.Int32
		require.NoError(t, c.Register("queue", func(context.Context) error {
			runs.Add(1)
			if failing.Load() {
				return errors.New("queue unreachable")
			}
			return nil
		}, health.WithInterval(10*time.Second)))

		res, err := c.CheckOne(t.Context(), "queue")
		require.NoError(t, err)
		assert.ErrorIs(t, res.Err, health.ErrNotRun, "before Start")
		assert.Equal(t, int32(0), runs.Load(), "a probe ran a background check")

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		require.NoError(t, c.Start(ctx))
		require.ErrorIs(t, c.Start(ctx), health.ErrStarted)
		synctest.Wait()
		assert.Equal(t, int32(1), runs.Load())
		assert.Equal(t, health.Pass, c.Check(ctx, health.Readiness).Status)

		failing.Store(true)
		assert.Equal(t, health.Pass, c.Check(ctx, health.Readiness).Status, "probe ran the check")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Equal(t, int32(2), runs.Load())
		assert.Equal(t, health.Fail, c.Check(ctx, health.Readiness).Status)

		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Start(ctx), health.ErrClosed)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(2), runs.Load(), "ran after Close")
	})
}

func TestBackgroundCheckHangingNeverBlocksProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		release := make(chan struct{})
		var runs atomic.Int32
		require.NoError(t, c.Register("hung", func(context.Context) error {
			runs.Add(1)
			<-release
			return nil
		}, health.WithInterval(time.Second), health.WithTimeout(3*time.Second)))
		require.NoError(t, c.Start(t.Context()))

		synctest.Wait() // the run has started and blocks
		before := time.Now()
		res, err := c.CheckOne(t.Context(), "hung")
		require.NoError(t, err)
		assert.Equal(t, before, time.Now(), "the probe waited")
		assert.ErrorIs(t, res.Err, health.ErrNotRun)

		time.Sleep(10 * time.Second)
		synctest.Wait()
		res, err = c.CheckOne(t.Context(), "hung")
		require.NoError(t, err)
		assert.ErrorIs(t, res.Err, health.ErrTimeout)
		assert.Equal(t, int32(1), runs.Load(), "started a second run while the first hung")

		close(release)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, int32(2), runs.Load())
		res, err = c.CheckOne(t.Context(), "hung")
		require.NoError(t, err)
		assert.NoError(t, res.Err)
		require.NoError(t, c.Close())
	})
}

func TestCloseFailsLaterRuns(t *testing.T) {
	c := newChecker(t)
	var runs atomic.Int32
	require.NoError(t, c.Register("db", func(ctx context.Context) error {
		runs.Add(1)
		return ctx.Err()
	}))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "second Close")
	rep := c.Check(context.Background(), health.Readiness)
	assert.Equal(t, health.Fail, rep.Status)
	assert.ErrorIs(t, rep.Checks[0].Err, health.ErrClosed)
	res, err := c.CheckOne(context.Background(), "db")
	require.NoError(t, err)
	assert.ErrorIs(t, res.Err, health.ErrClosed)
	assert.Equal(t, int32(0), runs.Load(), "a check function was called after Close")
}

func TestDrain(t *testing.T) {
	c := newChecker(t, health.WithAuthorizer(admitAll))
	require.NoError(t, c.Register("db", func(context.Context) error { return nil }, health.LivenessAndReadiness()))
	mux := http.NewServeMux()
	c.Mount(mux)
	probe := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	code, _ := probe("/readyz")
	require.Equal(t, http.StatusOK, code)
	assert.False(t, c.Draining())

	assert.False(t, c.Drain())
	assert.True(t, c.Drain(), "second Drain reports it was draining")
	assert.True(t, c.Draining())

	code, body := probe("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, `"output":"instance is draining"`)
	assert.Contains(t, body, `"draining":[{"status":"fail","output":"instance is draining"}]`)
	code, body = probe("/livez")
	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, "draining")
	code, _ = probe("/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	code, body = probe("/readyz?verbose&exclude=draining")
	assert.Equal(t, http.StatusServiceUnavailable, code, "draining was excluded")
	assert.Contains(t, body, "[-]draining failed: instance is draining\n")

	assert.True(t, c.Undrain())
	assert.False(t, c.Undrain())
	code, _ = probe("/readyz")
	assert.Equal(t, http.StatusOK, code)
}

func TestStatusChangeListener(t *testing.T) {
	c := newChecker(t)
	var failing atomic.Bool
	require.NoError(t, c.Register("db", func(context.Context) error {
		if failing.Load() {
			return errors.New("down")
		}
		return nil
	}))

	events := make(chan string, 100)
	remove := c.OnStatusChange(func(ch health.StatusChange) {
		// Calling back into the Checker must not deadlock.
		_ = c.Draining()
		_ = c.Names(health.All)
		events <- fmt.Sprintf("%s:%s->%s", ch.Check, ch.Old, ch.New)
	})
	// A run's listeners are called after its probes have their result, so
	// each step waits for the events it causes.
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case got := <-events:
				require.Equal(t, w, got)
			case <-time.After(10 * time.Second):
				require.Fail(t, "no event", "want %s", w)
			}
		}
	}
	ctx := context.Background()
	c.Check(ctx, health.Readiness)
	expect("db:unknown->pass")
	c.Check(ctx, health.Readiness) // no change
	failing.Store(true)
	c.Check(ctx, health.Readiness)
	expect("db:pass->fail", ":pass->fail")
	c.Drain()
	expect("draining:pass->fail")
	failing.Store(false)
	c.Check(ctx, health.Readiness)
	expect("db:fail->pass")
	c.Undrain()
	expect("draining:fail->pass", ":fail->pass")
	remove()
	c.Drain()
	c.Undrain()
	c.Check(ctx, health.Readiness)
	assert.Empty(t, events, "events after remove")
}

func TestListenerMayCheck(t *testing.T) {
	c := newChecker(t)
	require.NoError(t, c.Register("db", func(context.Context) error { return nil }))
	var statuses []health.Status
	c.OnStatusChange(func(ch health.StatusChange) {
		if ch.Check == DrainingCheckName {
			statuses = append(statuses, c.Check(context.Background(), health.Readiness).Status)
		}
	})
	c.Drain()
	c.Undrain()
	assert.Equal(t, []health.Status{health.Fail, health.Pass}, statuses)
}

const DrainingCheckName = health.DrainingCheck

func TestVerboseWithheldText(t *testing.T) {
	c := newChecker(t)
	require.NoError(t, c.Register("secret", func(context.Context) error {
		return errors.New("password authentication failed for user admin")
	}))
	rec := httptest.NewRecorder()
	c.Handler(health.Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz?verbose", nil))
	assert.False(t, strings.Contains(rec.Body.String(), "password"))
	assert.Equal(t, "[-]secret failed: reason withheld\nreadyz check failed\n", rec.Body.String())
}

func TestBackgroundCheckRegisteredAfterStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		require.NoError(t, c.Start(t.Context()))
		var runs atomic.Int32
		require.NoError(t, c.RegisterMeasured("lag", func(context.Context) (health.Result, error) {
			runs.Add(1)
			return health.Result{ObservedValue: 1.5, ObservedUnit: "s"}, nil
		}, health.WithInterval(time.Second)))
		synctest.Wait()
		assert.Equal(t, int32(1), runs.Load())
		res, err := c.CheckOne(t.Context(), "lag")
		require.NoError(t, err)
		assert.Equal(t, health.Pass, res.Status)
		assert.Equal(t, 1.5, res.ObservedValue)
		assert.Equal(t, "s", res.ObservedUnit)

		require.NoError(t, c.Close()) // waits for the loop to end
		require.NoError(t, c.Register("late", func(context.Context) error { return nil }, health.WithInterval(time.Second)))
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(1), runs.Load(), "a loop outlived Close")
		res, err = c.CheckOne(t.Context(), "late")
		require.NoError(t, err)
		assert.ErrorIs(t, res.Err, health.ErrNotRun, "a check registered after Close ran")
	})
}

func TestLatestRunsNothing(t *testing.T) {
	c := newChecker(t)
	var failing atomic.Bool
	var runs atomic.Int32
	require.NoError(t, c.Register("db", func(context.Context) error {
		runs.Add(1)
		if failing.Load() {
			return errors.New("down")
		}
		return nil
	}))
	require.NoError(t, c.Register("cache", func(context.Context) error { return nil }, health.NonCritical()))
	ctx := context.Background()

	rep := c.Latest(health.Readiness)
	assert.Equal(t, health.Fail, rep.Status, "checks that never ran")
	require.Len(t, rep.Checks, 2)
	for _, r := range rep.Checks {
		assert.ErrorIs(t, r.Err, health.ErrNotRun, r.Name)
		assert.True(t, r.Time.IsZero(), r.Name)
	}
	assert.Equal(t, health.Warn, rep.Checks[0].Status, "non-critical cache")
	assert.Equal(t, int32(0), runs.Load())

	assert.Equal(t, health.Pass, c.Check(ctx, health.Readiness).Status)
	failing.Store(true)
	assert.Equal(t, health.Pass, c.Latest(health.Readiness).Status, "Latest ran the check")
	assert.Equal(t, int32(1), runs.Load())

	assert.Equal(t, health.Fail, c.Check(ctx, health.Readiness).Status)
	rep = c.Latest(health.All)
	assert.Equal(t, health.Fail, rep.Status)
	assert.Equal(t, "down", rep.Checks[1].Output)
	assert.Empty(t, c.Latest(health.Liveness).Checks)
	assert.Equal(t, int32(2), runs.Load())

	c.Drain()
	rep = c.Latest(health.Readiness)
	assert.Equal(t, health.DrainingCheck, rep.Checks[0].Name)
	assert.Equal(t, "instance is draining", rep.Output)
	assert.Equal(t, health.Pass, c.Latest(health.Liveness).Status)
	assert.Equal(t, health.All, c.Latest(health.Kind(0)).Kind)
}

// Close waits for runs that probes started, not only background ones: a
// check that honours its ctx has returned, and its listeners have been
// called, before Close returns.
func TestCloseWaitsForOnDemandRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		var returned, notified atomic.Bool
		c.OnStatusChange(func(ch health.StatusChange) {
			if ch.Check == "db" {
				time.Sleep(time.Millisecond) // a listener that takes a moment
				notified.Store(true)
			}
		})
		require.NoError(t, c.Register("db", func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // cleaning up after the cancel
			returned.Store(true)
			return ctx.Err()
		}, health.WithTimeout(time.Minute)))

		probe, giveUp := context.WithCancel(t.Context())
		go c.Check(probe, health.Readiness)
		synctest.Wait() // the run has started and the probe waits for it
		giveUp()
		synctest.Wait() // the probe has gone; the run goes on

		require.NoError(t, c.Close())
		assert.True(t, returned.Load(), "Close returned before the check function")
		assert.True(t, notified.Load(), "Close returned before the status-change listener")
	})
}

// A check that ignores its ctx cannot be stopped: Close waits for it for the
// check's timeout, then returns and leaves only that goroutine behind.
func TestCloseGivesUpOnHungRunAfterItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
		require.NoError(t, err)
		release := make(chan struct{})
		require.NoError(t, c.Register("hung", func(context.Context) error {
			<-release // ignores ctx on purpose
			return nil
		}, health.WithTimeout(3*time.Second)))
		require.NoError(t, c.Register("quick", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, health.WithTimeout(time.Hour)))

		probe, giveUp := context.WithCancel(t.Context())
		go c.Check(probe, health.Readiness)
		synctest.Wait()
		giveUp()
		time.Sleep(time.Second) // the runs are a second old at Close
		synctest.Wait()

		start := time.Now()
		require.NoError(t, c.Close())
		assert.Equal(t, 3*time.Second, time.Since(start), "Close waited other than the hung check's timeout")

		close(release)
		synctest.Wait()
	})
}

// Under a crowd of probes with hung, panicking, failing and slow checks,
// Close leaves no goroutine behind but the one stuck in the hung check.
func TestCloseLeavesOnlyTheHungCheck(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	release := make(chan struct{})
	defer close(release)
	require.NoError(t, c.Register("hung", func(context.Context) error {
		<-release
		return nil
	}, health.WithTimeout(200*time.Millisecond)))
	require.NoError(t, c.Register("panics", func(context.Context) error { panic("boom") }))
	require.NoError(t, c.Register("fails", func(context.Context) error { return errors.New("refused") }))
	var slowRunning atomic.Int32
	require.NoError(t, c.Register("slow", func(ctx context.Context) error {
		slowRunning.Add(1)
		defer slowRunning.Add(-1)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // cleaning up after the cancel
		return ctx.Err()
	}, health.WithTimeout(time.Hour)))

	srv := httptest.NewServer(c.Handler(health.Readiness))
	client := &http.Client{Transport: &http.Transport{}}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if !assert.NoError(t, err) {
				return
			}
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	client.CloseIdleConnections()
	srv.Close()

	require.NoError(t, c.Close())
	assert.Zero(t, slowRunning.Load(), "Close returned while a check that honours its ctx still ran")
	// Only the goroutine inside the hung check remains.
	err = goleak.Find(goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/rollsafe/rollsafe/health_test.TestCloseLeavesOnlyTheHungCheck.func1"))
	assert.NoError(t, err)
}
