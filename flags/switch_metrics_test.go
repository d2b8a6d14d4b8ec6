package flags_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rollsafe/rollsafe/flags"
)

func TestSwitchMetrics(t *testing.T) {
	client, provider := swClient(t, true)
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		s, err := flags.NewSwitch[string](client, swFlag, flags.WithSwitchMeterProvider(mp),
			flags.WithMinCalls(2), flags.WithRetryOnOld())
		require.NoError(t, err)
		p := strPaths{}
		ctx := context.Background()
		run := func() {
			_, err := s.Run(ctx, openfeature.EvaluationContext{}, func(ctx context.Context) (string, error) {
				time.Sleep(2 * time.Millisecond)
				return p.newPath(ctx)
			}, p.oldPath)
			require.NoError(t, err)
		}

		run() // new, succeeds
		p.setNewErr(errBoom)
		run() // new fails, is retried on old, and trips the breaker (1 of 2 ≥ 0.5)
		run() // old: breaker
		s.Kill()
		run() // old: killed
		s.Revive()
		provider.UpdateFlags(nil)
		run() // old: evaluation error
		provider.UpdateFlags(swFlags(false))
		run() // old: flag

		m := collect(t, reader)
		flag := attribute.String("feature_flag.key", swFlag)
		path := func(p string) attribute.KeyValue { return attribute.String(flags.AttrSwitchPath, p) }
		cause := func(c string) attribute.KeyValue { return attribute.String(flags.AttrSwitchCause, c) }
		calls := m[flags.MetricSwitchCalls]
		assert.Equal(t, int64(2), sumWhere(t, calls, flag, path("new"), cause("flag")))
		assert.Equal(t, int64(1), sumWhere(t, calls, flag, path("old"), cause("retry")))
		assert.Equal(t, int64(1), sumWhere(t, calls, flag, path("old"), cause("breaker")))
		assert.Equal(t, int64(1), sumWhere(t, calls, flag, path("old"), cause("killed")))
		assert.Equal(t, int64(1), sumWhere(t, calls, flag, path("old"), cause("evaluation_error")))
		assert.Equal(t, int64(1), sumWhere(t, calls, flag, path("old"), cause("flag")))

		errs := m[flags.MetricSwitchErrors]
		assert.Equal(t, int64(1), sumWhere(t, errs, flag, path("new")))
		assert.Equal(t, int64(-1), sumWhere(t, errs, path("old")), "the old path never failed")

		hist, ok := m[flags.MetricSwitchDuration].Data.(metricdata.Histogram[float64])
		require.True(t, ok)
		assert.Equal(t, "s", m[flags.MetricSwitchDuration].Unit)
		for _, dp := range hist.DataPoints {
			v, _ := dp.Attributes.Value(flags.AttrSwitchPath)
			switch v.AsString() {
			case "new":
				assert.Equal(t, uint64(2), dp.Count)
				assert.InDelta(t, 0.004, dp.Sum, 1e-12, "two calls of 2ms")
			case "old":
				// The first call is timed; it took less than FastCall, so
				// of the next four only every FastCallSampling-th would be.
				assert.Equal(t, uint64(1), dp.Count)
				assert.Zero(t, dp.Sum, "the old path does not sleep")
			default:
				t.Errorf("unexpected path %q", v.AsString())
			}
		}

		states := m[flags.MetricSwitchStateChanges]
		state := func(s string) attribute.KeyValue { return attribute.String(flags.AttrSwitchState, s) }
		assert.Equal(t, int64(2), sumWhere(t, states, flag, state("open")), "tripped, then revived into the open breaker")
		assert.Equal(t, int64(1), sumWhere(t, states, flag, state("killed")))
		assert.Equal(t, int64(-1), sumWhere(t, states, flag, state("closed")))

		evalErrs := m[flags.MetricSwitchEvaluationErrors]
		assert.Equal(t, int64(1), sumWhere(t, evalErrs, flag, attribute.String("error.type", "flag_not_found")))
	})
}

func TestSwitchStateChangeIsASpanEvent(t *testing.T) {
	client, _ := swClient(t, true)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(1))
	require.NoError(t, err)

	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	p := strPaths{newErr: errBoom}
	_, err = s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.ErrorIs(t, err, errBoom)
	span.End()

	ended := rec.Ended()
	require.Len(t, ended, 1)
	events := ended[0].Events()
	require.Len(t, events, 1)
	assert.Equal(t, "rollsafe.switch.state_change", events[0].Name)
	assert.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("feature_flag.key", swFlag),
		attribute.String("rollsafe.switch.from", "closed"),
		attribute.String("rollsafe.switch.to", "open"),
	}, events[0].Attributes)
}

func TestSwitchLogsStateChanges(t *testing.T) {
	client, _ := swClient(t, true)
	var logs syncBuffer
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(1), flags.WithSwitchLogger(swLogger(&logs)))
	require.NoError(t, err)
	p := strPaths{newErr: errBoom}
	_, err = s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.ErrorIs(t, err, errBoom)
	s.Kill()
	s.Revive()
	closed, err := flags.NewSwitch[string](client, "other", flags.WithSwitchLogger(swLogger(&logs)))
	require.NoError(t, err)
	closed.Kill()
	closed.Revive()
	out := logs.String()
	assert.Contains(t, out, `level=WARN msg="flags: switch state changed" flag=new-checkout from=closed to=open`)
	assert.Contains(t, out, `level=WARN msg="flags: switch state changed" flag=new-checkout from=open to=killed`)
	assert.Contains(t, out, `level=WARN msg="flags: switch state changed" flag=new-checkout from=killed to=open`)
	assert.Contains(t, out, `level=WARN msg="flags: switch state changed" flag=other from=closed to=killed`)
	assert.Contains(t, out, `level=INFO msg="flags: switch state changed" flag=other from=killed to=closed`)
}

// TestSwitchMetricsDoNotKeepTheSwitch: the meter provider outlives the
// Switches that report to it; the callback that observes their counts must
// not keep them alive, and a Switch gone reports nothing more.
func TestSwitchMetricsDoNotKeepTheSwitch(t *testing.T) {
	client, _ := swClient(t, true)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	flag := attribute.String("feature_flag.key", swFlag)

	gone := func() weak.Pointer[flags.Switch[string]] {
		s, err := flags.NewSwitch[string](client, swFlag, flags.WithSwitchMeterProvider(mp))
		require.NoError(t, err)
		var p strPaths
		for range 3 {
			_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(3), sumWhere(t, collect(t, reader)[flags.MetricSwitchCalls], flag))
		return weak.Make(s)
	}()

	// Collection is up to the garbage collector, which gets a bounded number
	// of chances.
	for i := 0; i < 100 && gone.Value() != nil; i++ {
		runtime.GC()
	}
	require.Nil(t, gone.Value(), "the Switch was kept alive")
	if m, ok := collect(t, reader)[flags.MetricSwitchCalls]; ok {
		assert.Equal(t, int64(-1), sumWhere(t, m, flag), "a Switch gone reports no calls")
	}
}
