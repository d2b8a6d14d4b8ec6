package flags_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

// The breaker reads the clock itself, so these tests run in synctest
// bubbles, where time moves only when every goroutine is blocked.

func TestSwitchBreakerTripsHalfOpensAndRecovers(t *testing.T) {
	client, _ := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		const coolDown = 10 * time.Second
		var mu sync.Mutex
		var events []flags.SwitchEvent
		s, err := flags.NewSwitch[string](client, swFlag,
			flags.WithMinCalls(4), flags.WithTripRatio(0.5), flags.WithCoolDown(coolDown),
			flags.WithHalfOpenCalls(2), flags.WithWindow(time.Minute),
			flags.WithStateListener(func(ev flags.SwitchEvent) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, ev)
			}))
		require.NoError(t, err)
		var p strPaths
		ctx := context.Background()
		run := func() (string, error) {
			return s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
		}
		start := time.Now()

		// Closed: 2 successes and 2 failures reach the ratio at the minimum.
		for _, newErr := range []error{nil, nil, errBoom} {
			p.setNewErr(newErr)
			_, err := run()
			require.ErrorIs(t, err, newErr)
			require.Equal(t, flags.SwitchClosed, s.State())
		}
		_, err = run()
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, flags.SwitchOpen, s.State())
		require.ErrorIs(t, s.Healthy(ctx), flags.ErrSwitchTripped)

		// Open: every call takes the old path, to the end of the cool-down.
		p.setNewErr(nil)
		for range 5 {
			got, err := run()
			require.NoError(t, err)
			require.Equal(t, "old", got)
		}
		newCalls, _ := p.counts()
		require.Equal(t, 4, newCalls)
		require.Equal(t, uint64(5), s.Stats().Rejected)
		time.Sleep(coolDown)
		require.Equal(t, flags.SwitchOpen, s.State(), "still open at the very end of the cool-down")
		time.Sleep(time.Nanosecond)
		require.Equal(t, flags.SwitchHalfOpen, s.State())
		require.ErrorIs(t, s.Healthy(ctx), flags.ErrSwitchTripped)

		// Half-open: a failed trial opens it for another cool-down.
		p.setNewErr(errBoom)
		_, err = run()
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, flags.SwitchOpen, s.State())
		time.Sleep(coolDown + time.Nanosecond)
		require.Equal(t, flags.SwitchHalfOpen, s.State())

		// Half-open: two trials at once; a third call takes the old path.
		p.setNewErr(nil)
		release := make(chan struct{})
		slowNew := func(context.Context) (string, error) {
			<-release
			return "new", nil
		}
		results := make(chan string, 2)
		for range 2 {
			go func() {
				got, err := s.Run(ctx, openfeature.EvaluationContext{}, slowNew, p.oldPath)
				assert.NoError(t, err)
				results <- got
			}()
		}
		synctest.Wait()
		got, err := run()
		require.NoError(t, err)
		require.Equal(t, "old", got, "no room for a third trial")
		close(release)
		require.Equal(t, "new", <-results)
		require.Equal(t, "new", <-results)
		require.Equal(t, flags.SwitchClosed, s.State(), "two successful trials close it")
		require.NoError(t, s.Healthy(ctx))
		got, err = run()
		require.NoError(t, err)
		require.Equal(t, "new", got)

		mu.Lock()
		defer mu.Unlock()
		var path []string
		for _, ev := range events {
			path = append(path, ev.From.String()+"→"+ev.To.String())
			assert.Equal(t, swFlag, ev.Flag)
		}
		assert.Equal(t, []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}, path)
		assert.Equal(t, start, events[0].At)
		assert.Equal(t, start.Add(coolDown+time.Nanosecond), events[1].At)
		st := s.Stats()
		assert.Equal(t, uint64(6), st.Rejected)
		assert.Equal(t, flags.SwitchClosed, st.State)
	})
}

func TestSwitchBreakerWindowSlides(t *testing.T) {
	client, _ := swClient(t, true)
	tests := []struct {
		gap      time.Duration
		wantOpen bool
	}{
		{gap: 5 * time.Second, wantOpen: true},
		{gap: 9 * time.Second, wantOpen: true},
		{gap: 10 * time.Second, wantOpen: false},
		{gap: time.Minute, wantOpen: false},
	}
	for _, tt := range tests {
		t.Run(tt.gap.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := flags.NewSwitch[string](client, swFlag,
					flags.WithMinCalls(4), flags.WithTripRatio(1), flags.WithWindow(10*time.Second))
				require.NoError(t, err)
				p := strPaths{newErr: errBoom}
				fail := func() {
					_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
					require.ErrorIs(t, err, errBoom)
				}
				fail()
				fail()
				time.Sleep(tt.gap)
				fail()
				fail()
				want := flags.SwitchClosed
				if tt.wantOpen {
					want = flags.SwitchOpen
				}
				assert.Equal(t, want, s.State(), "4 failures %v apart in a 10s window", tt.gap)
			})
		})
	}
}

func TestSwitchBreakerNeedsMinimumCalls(t *testing.T) {
	client, _ := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		s, err := flags.NewSwitch[string](client, swFlag) // defaults: 10 calls, ratio 0.5
		require.NoError(t, err)
		p := strPaths{newErr: errBoom}
		for i := range flags.DefaultMinCalls {
			require.Equal(t, flags.SwitchClosed, s.State(), "after %d failures", i)
			_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
			require.ErrorIs(t, err, errBoom)
		}
		require.Equal(t, flags.SwitchOpen, s.State())
		time.Sleep(flags.DefaultCoolDown + time.Nanosecond)
		require.Equal(t, flags.SwitchHalfOpen, s.State(), "the default cool-down")
	})
}

func TestSwitchTripsOnPanics(t *testing.T) {
	client, _ := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(3))
		require.NoError(t, err)
		var p strPaths
		panicky := func(context.Context) (string, error) { panic("new code bug") }
		for range 3 {
			_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, panicky, p.oldPath)
			require.ErrorIs(t, err, flags.ErrNewPathPanicked)
		}
		require.Equal(t, flags.SwitchOpen, s.State())
		got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, panicky, p.oldPath)
		require.NoError(t, err)
		assert.Equal(t, "old", got)
	})
}

func TestSwitchMeasuresLatencyPerPath(t *testing.T) {
	client, provider := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		s, err := flags.NewSwitch[int](client, swFlag)
		require.NoError(t, err)
		slow := func(d time.Duration) func(context.Context) (int, error) {
			return func(context.Context) (int, error) {
				time.Sleep(d)
				return 0, nil
			}
		}
		for range 4 {
			_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, slow(3*time.Millisecond), slow(time.Hour))
			require.NoError(t, err)
		}
		provider.UpdateFlags(swFlags(false))
		_, err = s.Run(context.Background(), openfeature.EvaluationContext{}, slow(time.Hour), slow(100*time.Microsecond))
		require.NoError(t, err)
		provider.UpdateFlags(swFlags(true))

		st := s.Stats()
		assert.Equal(t, uint64(4), st.New.Calls)
		assert.Equal(t, 12*time.Millisecond, st.New.Latency)
		assert.Equal(t, 3*time.Millisecond, st.New.MeanLatency())
		assert.Equal(t, 4096*time.Microsecond, st.New.Histogram.Quantile(0.99), "3ms falls in [2048µs, 4096µs)")
		assert.Equal(t, uint64(4), st.New.Histogram.Counts[12])
		assert.Equal(t, uint64(1), st.Old.Calls)
		assert.Equal(t, 100*time.Microsecond, st.Old.Latency)
		assert.Equal(t, 128*time.Microsecond, st.Old.Histogram.Quantile(0.5))
	})
}

func TestSwitchSamplesFastCalls(t *testing.T) {
	client, _ := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		s, err := flags.NewSwitch[int](client, swFlag)
		require.NoError(t, err)
		run := func(n int, d time.Duration) {
			t.Helper()
			path := func(context.Context) (int, error) {
				time.Sleep(d)
				return 0, nil
			}
			for range n {
				_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, path, path)
				require.NoError(t, err)
			}
		}

		run(16, 2*time.Microsecond)
		st := s.Stats().New
		assert.Equal(t, uint64(16), st.Calls)
		assert.Equal(t, uint64(3), st.Timed, "the first call, then calls 8 and 16")
		assert.Equal(t, 6*time.Microsecond, st.Latency)
		assert.Equal(t, 2*time.Microsecond, st.MeanLatency())

		// The path slows down: the next sampled call (24) sees it, and from
		// then on every call is timed.
		run(8+4, 2*flags.FastCall)
		st = s.Stats().New
		assert.Equal(t, uint64(28), st.Calls)
		assert.Equal(t, uint64(3+1+4), st.Timed)
		assert.Equal(t, 6*time.Microsecond+5*2*flags.FastCall, st.Latency)
		assert.Equal(t, st.Timed, sumHistogram(st.Histogram))
	})
}
