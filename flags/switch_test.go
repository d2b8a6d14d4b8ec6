package flags_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
)

func TestNewSwitchRefusesBadArguments(t *testing.T) {
	client, _ := swClient(t, true)
	tests := []struct {
		name   string
		client flags.BooleanEvaluator
		key    string
		opt    flags.SwitchOption
		want   string
	}{
		{"nil client", nil, swFlag, nil, "nil client"},
		{"empty key", client, "", nil, "empty flag key"},
		{"nil option", client, swFlag, nil, "nil option"},
		{"zero ratio", client, swFlag, flags.WithTripRatio(0), "trip ratio 0"},
		{"ratio above one", client, swFlag, flags.WithTripRatio(1.5), "trip ratio 1.5"},
		{"NaN ratio", client, swFlag, flags.WithTripRatio(math.NaN()), "trip ratio NaN"},
		{"zero min calls", client, swFlag, flags.WithMinCalls(0), "minimum calls 0"},
		{"zero cool-down", client, swFlag, flags.WithCoolDown(0), "cool-down 0s"},
		{"short window", client, swFlag, flags.WithWindow(time.Millisecond), "window 1ms"},
		{"zero half-open calls", client, swFlag, flags.WithHalfOpenCalls(0), "half-open calls 0"},
		{"nil logger", client, swFlag, flags.WithSwitchLogger(nil), "nil logger"},
		{"nil meter provider", client, swFlag, flags.WithSwitchMeterProvider(nil), "nil meter provider"},
		{"nil listener", client, swFlag, flags.WithStateListener(nil), "nil state listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []flags.SwitchOption{tt.opt}
			if tt.opt == nil && tt.name != "nil option" {
				opts = nil
			}
			s, err := flags.NewSwitch[string](tt.client, tt.key, opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewSwitchAcceptsValidOptions(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag,
		flags.WithTripRatio(1), flags.WithMinCalls(1), flags.WithCoolDown(time.Second),
		flags.WithWindow(10*time.Millisecond), flags.WithHalfOpenCalls(1), flags.WithRetryOnOld(),
		flags.WithSwitchLogger(swLogger(&syncBuffer{})), flags.WithSwitchMeterProvider(noop.NewMeterProvider()),
		flags.WithStateListener(func(flags.SwitchEvent) {}))
	require.NoError(t, err)
	assert.Equal(t, swFlag, s.Flag())
	assert.Equal(t, flags.SwitchClosed, s.State())
}

func TestSwitchFollowsTheFlag(t *testing.T) {
	client, provider := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag)
	require.NoError(t, err)
	var p strPaths
	ctx := context.Background()

	got, err := s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "new", got)

	provider.UpdateFlags(swFlags(false))
	got, err = s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "old", got)

	provider.UpdateFlags(swFlags(true))
	got, err = s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "new", got)

	st := s.Stats()
	assert.Equal(t, uint64(2), st.New.Calls)
	assert.Equal(t, uint64(1), st.Old.Calls)
	assert.Zero(t, st.Rejected)
	assert.Zero(t, st.EvaluationErrors)
}

func TestSwitchUsesTheEvaluationContext(t *testing.T) {
	// A flag on for one user only: the Switch must pass evalCtx through.
	evaluator := func(_ memprovider.InMemoryFlag, flat openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		return flat[openfeature.TargetingKey] == "ada", openfeature.ProviderResolutionDetail{Reason: openfeature.TargetingMatchReason}
	}
	p := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		swFlag: {Key: swFlag, State: memprovider.Enabled, ContextEvaluator: &evaluator},
	})
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	s, err := flags.NewSwitch[string](api.NewClient(), swFlag)
	require.NoError(t, err)
	var paths strPaths

	for user, want := range map[string]string{"ada": "new", "bob": "old"} {
		got, err := s.Run(context.Background(), openfeature.NewEvaluationContext(user, nil),
			paths.newPath, paths.oldPath)
		require.NoError(t, err)
		assert.Equal(t, want, got, user)
	}
}

func TestSwitchFailsSafeOnEvaluationErrors(t *testing.T) {
	tests := []struct {
		name string
		code openfeature.ErrorCode
		// setUp returns a client whose evaluation of flag fails with code.
		setUp func(t *testing.T) (flags.BooleanEvaluator, string)
	}{
		{"flag missing", openfeature.FlagNotFoundCode, func(t *testing.T) (flags.BooleanEvaluator, string) {
			c, _ := swClient(t, true)
			return c, "no-such-flag"
		}},
		{"type mismatch", openfeature.TypeMismatchCode, func(t *testing.T) (flags.BooleanEvaluator, string) {
			c, _ := swClient(t, true)
			return c, "banner-text"
		}},
		{"provider not ready", openfeature.ProviderNotReadyCode, func(t *testing.T) (flags.BooleanEvaluator, string) {
			g := &gatedProvider{InMemoryProvider: memprovider.NewInMemoryProvider(swFlags(true)), gate: make(chan struct{})}
			api := isolated.NewAPI()
			t.Cleanup(func() {
				close(g.gate)
				require.NoError(t, api.Shutdown(context.Background()))
			})
			require.NoError(t, api.SetProvider(context.Background(), g))
			c := api.NewClient()
			require.Equal(t, openfeature.NotReadyState, c.State())
			return c, swFlag
		}},
		{"provider fatal", openfeature.ProviderFatalCode, func(t *testing.T) (flags.BooleanEvaluator, string) {
			g := &gatedProvider{
				InMemoryProvider: memprovider.NewInMemoryProvider(swFlags(true)), gate: make(chan struct{}),
				initErr: &openfeature.ProviderInitError{ErrorCode: openfeature.ProviderFatalCode, Message: "bad credentials"},
			}
			close(g.gate)
			api := isolated.NewAPI()
			t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
			require.Error(t, api.SetProviderAndWait(context.Background(), g))
			return api.NewClient(), swFlag
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, key := tt.setUp(t)
			var logs syncBuffer
			s, err := flags.NewSwitch[string](client, key, flags.WithSwitchLogger(swLogger(&logs)))
			require.NoError(t, err)
			var p strPaths

			for range 3 {
				got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
				require.NoError(t, err, "the old path's result, not the evaluation error")
				assert.Equal(t, "old", got)
			}
			newCalls, oldCalls := p.counts()
			assert.Zero(t, newCalls)
			assert.Equal(t, 3, oldCalls)
			assert.Equal(t, uint64(3), s.Stats().EvaluationErrors)
			assert.Equal(t, 1, countLines(logs.String(), "cannot evaluate its flag"), "logged once, not per call")
			assert.Contains(t, logs.String(), "code="+string(tt.code))
		})
	}
}

func TestSwitchLogsEvaluationRecovery(t *testing.T) {
	client, provider := swClient(t, true)
	var logs syncBuffer
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithSwitchLogger(swLogger(&logs)))
	require.NoError(t, err)
	var p strPaths
	ctx := context.Background()

	provider.UpdateFlags(nil)
	got, err := s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "old", got)
	provider.UpdateFlags(swFlags(true))
	got, err = s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "new", got)

	assert.Equal(t, 1, countLines(logs.String(), "cannot evaluate its flag"))
	assert.Equal(t, 1, countLines(logs.String(), "evaluates its flag again"))
}

func TestSwitchRecoversPanics(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[int](client, swFlag)
	require.NoError(t, err)
	old := func(context.Context) (int, error) { return 1, nil }

	tests := []struct {
		name    string
		newPath func(context.Context) (int, error)
		unwraps error
	}{
		{"string", func(context.Context) (int, error) { panic("nil map") }, nil},
		{"error", func(context.Context) (int, error) { panic(errBoom) }, errBoom},
		{"runtime error", func(context.Context) (int, error) {
			var m map[string]int
			m["x"] = 1
			return 2, nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, tt.newPath, old)
			require.ErrorIs(t, err, flags.ErrNewPathPanicked)
			assert.Zero(t, got)
			var pe *flags.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, swFlag, pe.Flag)
			assert.NotEmpty(t, pe.Stack)
			if tt.unwraps != nil {
				assert.ErrorIs(t, err, tt.unwraps)
			}
		})
	}
	st := s.Stats()
	assert.Equal(t, uint64(3), st.New.Calls)
	assert.Equal(t, uint64(3), st.New.Errors)
	assert.Equal(t, uint64(3), st.New.Panics)
	assert.Zero(t, st.Old.Calls)
}

func TestSwitchRetriesOnOld(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithRetryOnOld())
	require.NoError(t, err)
	p := strPaths{newErr: errBoom}

	got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "old", got)

	panicky := func(context.Context) (string, error) { panic("boom") }
	got, err = s.Run(context.Background(), openfeature.EvaluationContext{}, panicky, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "old", got)

	// A cancelled caller is not retried: it has gone.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := func(ctx context.Context) (string, error) { return "", ctx.Err() }
	_, err = s.Run(ctx, openfeature.EvaluationContext{}, cancelled, p.oldPath)
	require.ErrorIs(t, err, context.Canceled)

	st := s.Stats()
	assert.Equal(t, uint64(2), st.Retried)
	assert.Equal(t, uint64(3), st.New.Calls)
	assert.Equal(t, uint64(2), st.Old.Calls)
	_, oldCalls := p.counts()
	assert.Equal(t, 2, oldCalls)
}

func TestSwitchWithoutRetryReturnsTheNewPathError(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag)
	require.NoError(t, err)
	p := strPaths{newErr: errBoom}
	_, err = s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.ErrorIs(t, err, errBoom)
	_, oldCalls := p.counts()
	assert.Zero(t, oldCalls)
}

func TestSwitchRefusesNilPaths(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag)
	require.NoError(t, err)
	var p strPaths
	_, err = s.Run(context.Background(), openfeature.EvaluationContext{}, nil, p.oldPath)
	require.ErrorIs(t, err, flags.ErrNilPath)
	_, err = s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, nil)
	require.ErrorIs(t, err, flags.ErrNilPath)
	newCalls, oldCalls := p.counts()
	assert.Zero(t, newCalls+oldCalls)
}

func TestSwitchKillAndRevive(t *testing.T) {
	client, _ := swClient(t, true)
	var events []flags.SwitchEvent
	s, err := flags.NewSwitch[string](client, swFlag,
		flags.WithStateListener(func(ev flags.SwitchEvent) { events = append(events, ev) }))
	require.NoError(t, err)
	var p strPaths
	ctx := context.Background()
	run := func() string {
		got, err := s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
		require.NoError(t, err)
		return got
	}

	assert.Equal(t, "new", run())
	require.NoError(t, s.Healthy(ctx))

	s.Kill()
	s.Kill()
	assert.Equal(t, "old", run())
	assert.Equal(t, flags.SwitchKilled, s.State())
	require.ErrorIs(t, s.Healthy(ctx), flags.ErrSwitchKilled)
	assert.Equal(t, uint64(1), s.Stats().Rejected)

	s.Revive()
	s.Revive()
	assert.Equal(t, "new", run())
	require.NoError(t, s.Healthy(ctx))

	require.Len(t, events, 2, "a second Kill or Revive changes nothing")
	assert.Equal(t, flags.SwitchClosed, events[0].From)
	assert.Equal(t, flags.SwitchKilled, events[0].To)
	assert.Equal(t, flags.SwitchKilled, events[1].From)
	assert.Equal(t, flags.SwitchClosed, events[1].To)
	assert.Equal(t, swFlag, events[1].Flag)
}

func TestSwitchDoesNotCountCancellation(t *testing.T) {
	client, _ := swClient(t, true)
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(2), flags.WithTripRatio(0.5))
	require.NoError(t, err)
	var p strPaths

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cause := range []error{context.Canceled, fmt.Errorf("query: %w", context.Canceled), errBoom} {
		// Once the caller's context is done, any failure is the caller's.
		fails := func(context.Context) (string, error) { return "", cause }
		for range 5 {
			_, err := s.Run(ctx, openfeature.EvaluationContext{}, fails, p.oldPath)
			require.ErrorIs(t, err, cause)
		}
	}
	assert.Equal(t, flags.SwitchClosed, s.State())

	// The same failures with a live context trip it.
	for range 2 {
		_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, func(context.Context) (string, error) {
			return "", context.Canceled
		}, p.oldPath)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Equal(t, flags.SwitchOpen, s.State())
}

func TestSwitchListenersRunOutsideLocks(t *testing.T) {
	client, _ := swClient(t, true)
	var s *flags.Switch[string]
	var seen []flags.SwitchState
	listener := func(ev flags.SwitchEvent) {
		// Each of these reads the breaker: under its lock, they would
		// deadlock.
		st := s.Stats()
		seen = append(seen, st.State, s.State())
		_ = s.Healthy(context.Background())
		if ev.To == flags.SwitchOpen {
			s.Kill()
		}
	}
	var err error
	s, err = flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(1), flags.WithStateListener(listener))
	require.NoError(t, err)
	p := strPaths{newErr: errBoom}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return: a listener is called under a lock")
	}
	// The listener saw the open breaker, killed the Switch from inside, and
	// was then told of the kill.
	assert.Equal(t, []flags.SwitchState{flags.SwitchOpen, flags.SwitchOpen, flags.SwitchKilled, flags.SwitchKilled}, seen)
}

func TestSwitchConcurrentRuns(t *testing.T) {
	// Registered first, so it runs after the API's shutdown.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	client, provider := swClient(t, true)
	var events sync.Map
	s, err := flags.NewSwitch[int](client, swFlag, flags.WithMinCalls(20), flags.WithTripRatio(0.9),
		flags.WithStateListener(func(ev flags.SwitchEvent) { events.Store(ev.To, true) }))
	require.NoError(t, err)

	const workers, calls = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				newPath := func(context.Context) (int, error) {
					if i%4 == 0 {
						return 0, errBoom
					}
					return 1, nil
				}
				got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, newPath,
					func(context.Context) (int, error) { return 2, nil })
				if err != nil {
					assert.ErrorIs(t, err, errBoom)
				} else {
					assert.Contains(t, []int{1, 2}, got)
				}
				if w == 0 && i%50 == 0 {
					s.Kill()
					provider.UpdateFlags(swFlags(i%100 != 0))
					s.Revive()
				}
			}
		})
	}
	wg.Wait()

	st := s.Stats()
	assert.Equal(t, uint64(workers*calls), st.New.Calls+st.Old.Calls, "every Run calls exactly one path")
	for _, p := range []flags.PathStats{st.New, st.Old} {
		assert.Equal(t, p.Timed, sumHistogram(p.Histogram))
		assert.LessOrEqual(t, p.Timed, p.Calls)
		assert.GreaterOrEqual(t, p.Timed, p.Calls/flags.FastCallSampling, "at least one call in FastCallSampling is timed")
	}
	assert.Positive(t, st.New.Errors)
	assert.Zero(t, st.Old.Errors)
	_, killed := events.Load(flags.SwitchKilled)
	assert.True(t, killed)
	assert.Equal(t, flags.SwitchClosed, s.State(), "a failure ratio of a quarter does not reach 0.9")
}

func sumHistogram(h flags.LatencyHistogram) uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func countLines(s, substr string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func TestLatencyHistogramQuantile(t *testing.T) {
	var h flags.LatencyHistogram
	assert.Zero(t, h.Quantile(0.5), "empty")
	h.Counts[0] = 50  // < 1µs
	h.Counts[4] = 40  // [8µs, 16µs)
	h.Counts[10] = 10 // [512µs, 1024µs)
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{-1, time.Microsecond},
		{0, time.Microsecond},
		{0.5, time.Microsecond},
		{0.51, 16 * time.Microsecond},
		{0.9, 16 * time.Microsecond},
		{0.95, 1024 * time.Microsecond},
		{1, 1024 * time.Microsecond},
		{2, 1024 * time.Microsecond},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, h.Quantile(tt.q), "q=%v", tt.q)
	}
	assert.Equal(t, time.Duration(1<<31)*time.Microsecond, flags.BucketUpperBound(flags.LatencyBuckets-1))
}

func TestPathStatsRatios(t *testing.T) {
	var zero flags.PathStats
	assert.Zero(t, zero.MeanLatency())
	assert.Zero(t, zero.ErrorRatio())
	p := flags.PathStats{Calls: 8, Errors: 2, Timed: 4, Latency: 8 * time.Millisecond}
	assert.Equal(t, 2*time.Millisecond, p.MeanLatency())
	assert.InDelta(t, 0.25, p.ErrorRatio(), 1e-9)
}

func TestSwitchStateStrings(t *testing.T) {
	for st, want := range map[flags.SwitchState]string{
		flags.SwitchClosed: "closed", flags.SwitchHalfOpen: "half-open", flags.SwitchOpen: "open",
		flags.SwitchKilled: "killed", flags.SwitchState(9): "unknown", flags.SwitchState(-1): "unknown",
	} {
		assert.Equal(t, want, st.String())
	}
}

func TestSwitchSurvivesAPanickingListener(t *testing.T) {
	client, _ := swClient(t, true)
	var logs syncBuffer
	var seen []flags.SwitchState
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithSwitchLogger(swLogger(&logs)),
		flags.WithStateListener(func(ev flags.SwitchEvent) {
			if ev.To == flags.SwitchKilled {
				panic("listener bug")
			}
		}),
		flags.WithStateListener(func(ev flags.SwitchEvent) { seen = append(seen, ev.To) }))
	require.NoError(t, err)

	s.Kill()
	s.Revive()
	var p strPaths
	got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "new", got)
	assert.Equal(t, []flags.SwitchState{flags.SwitchKilled, flags.SwitchClosed}, seen, "later listeners and events still run")
	assert.Contains(t, logs.String(), `msg="flags: switch state listener panicked" flag=new-checkout to=killed panic="listener bug"`)
}
