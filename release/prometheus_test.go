package release_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/promtest"
	"github.com/rollsafe/rollsafe/release"
)

// armEvaluator turns the flag on for calls whose evaluation context has
// arm=new: the test chooses each call's arm.
type armEvaluator struct{}

func (armEvaluator) BooleanValueDetails(_ context.Context, flag string, _ bool, evalCtx openfeature.EvaluationContext,
	_ ...openfeature.Option) (openfeature.BooleanEvaluationDetails, error) {
	on := evalCtx.Attribute("arm") == "new"
	return openfeature.BooleanEvaluationDetails{Value: on, EvaluationDetails: openfeature.EvaluationDetails{
		FlagKey: flag, FlagType: openfeature.Boolean,
		ResolutionDetail: openfeature.ResolutionDetail{Reason: openfeature.StaticReason}}}, nil
}

// Queries as MeasurePrometheus documents them, over a 10 s range for a 1 s
// scrape interval.
func errorRatio(flag, path string) string {
	sel := fmt.Sprintf(`{feature_flag_key=%q,rollsafe_switch_path=%q}[10s]`, flag, path)
	return fmt.Sprintf(`(sum(rate(rollsafe_flags_switch_errors_total%s)) or vector(0)) / (sum(rate(rollsafe_flags_switch_calls_total%s)) > 0)`, sel, sel)
}

func p99(flag, path string) string {
	sel := fmt.Sprintf(`{feature_flag_key=%q,rollsafe_switch_path=%q}[10s]`, flag, path)
	return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(rollsafe_flags_switch_duration_seconds_bucket%s))) and (sum(rate(rollsafe_flags_switch_duration_seconds_count%s)) > 0)`, sel, sel)
}

func callRate(flag, path string) string {
	return fmt.Sprintf(`sum(rate(rollsafe_flags_switch_calls_total{feature_flag_key=%q,rollsafe_switch_path=%q}[10s]))`, flag, path)
}

func TestMeasurePrometheusOnARealServer(t *testing.T) {
	bin := promtest.Binary(t)
	const flag = "checkout-v2"

	// A Switch whose metrics reach /metrics as in the example service: an
	// OpenTelemetry meter provider read by the Prometheus exporter, on a
	// registry of the test's own. The breaker never trips: the new path's
	// failures must stay on it.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	require.NoError(t, err)
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.Cleanup(func() { assert.NoError(t, provider.Shutdown(context.Background())) })
	sw, err := flags.NewSwitch[int](armEvaluator{}, flag,
		flags.WithSwitchMeterProvider(provider), flags.WithTripRatio(1), flags.WithMinCalls(1<<30))
	require.NoError(t, err)
	target := httptest.NewServer(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)

	// Traffic while Prometheus scrapes: every 10 ms, ten calls of each arm,
	// three of the ten new ones failing, none of the old ones.
	stop, stopped := make(chan struct{}), make(chan struct{})
	newArm := openfeature.NewEvaluationContext("", map[string]any{"arm": "new"})
	oldArm := openfeature.NewEvaluationContext("", map[string]any{"arm": "old"})
	failing := errors.New("new path failed")
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx := context.Background()
			for i := range 10 {
				_, _ = sw.Run(ctx, newArm, func(context.Context) (int, error) {
					if i < 3 {
						return 0, failing
					}
					return 1, nil
				}, func(context.Context) (int, error) { return 0, nil })
				_, _ = sw.Run(ctx, oldArm, func(context.Context) (int, error) { return 1, nil },
					func(context.Context) (int, error) { return 0, nil })
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped })

	prom := promtest.Start(t, bin, target.Listener.Addr().String())
	base := prom.URL
	metric := func(name, canary, baseline string) release.PrometheusMetric {
		return release.PrometheusMetric{Name: name, Address: base, Canary: canary, Baseline: baseline,
			Timeout: release.Duration(5 * time.Second)}
	}
	measure := func(m release.PrometheusMetric) release.Measurement {
		return release.MeasurePrometheus(context.Background(), m, nil, 1, time.Now())
	}

	// Both arms' rates need two scrapes in the range.
	newErrors := metric("new-error-ratio", errorRatio(flag, "new"), "")
	newErrors.Max = 0.1
	oldErrors := metric("old-error-ratio", errorRatio(flag, "old"), "")
	oldErrors.Max = 0.1
	latency := metric("p99", p99(flag, "new"), p99(flag, "old"))
	prom.Poll(t, 30*time.Second, "series for both arms", func() bool {
		for _, m := range []release.PrometheusMetric{newErrors, oldErrors, latency} {
			if measure(m).Phase == release.PhaseInconclusive {
				return false
			}
		}
		return true
	})

	t.Run("failing canary", func(t *testing.T) {
		got := measure(newErrors)
		require.Equal(t, release.PhaseFailed, got.Phase, got.Reason)
		require.NotNil(t, got.Canary)
		assert.InDelta(t, 0.3, *got.Canary, 0.05)
		assert.Contains(t, got.Reason, "> max 0.1")
		t.Log(got.Reason)
	})
	t.Run("healthy arm", func(t *testing.T) {
		got := measure(oldErrors)
		require.Equal(t, release.PhaseSuccessful, got.Phase, got.Reason)
		require.NotNil(t, got.Canary)
		assert.Zero(t, *got.Canary, "the old path never fails: no errors series, so vector(0)")
	})
	t.Run("canary against a baseline that never fails", func(t *testing.T) {
		m := metric("error-ratio", errorRatio(flag, "new"), errorRatio(flag, "old"))
		m.MaxRatio = 2
		got := measure(m)
		require.Equal(t, release.PhaseFailed, got.Phase, got.Reason)
		require.NotNil(t, got.Baseline)
		assert.Zero(t, *got.Baseline)
		assert.Empty(t, got.StatisticName, "no ratio to a baseline of 0")
	})
	t.Run("arms at the same rate", func(t *testing.T) {
		m := metric("call-rate", callRate(flag, "new"), callRate(flag, "old"))
		m.MaxRatio = 1.5
		got := measure(m)
		require.Equal(t, release.PhaseSuccessful, got.Phase, got.Reason)
		assert.Equal(t, release.StatisticRatio, got.StatisticName)
		assert.InDelta(t, 1, got.Statistic, 0.2)
	})
	t.Run("latency", func(t *testing.T) {
		m := latency
		m.Max, m.MaxRatio = 10, 1000
		got := measure(m)
		require.Equal(t, release.PhaseSuccessful, got.Phase, got.Reason)
		require.NotNil(t, got.Canary)
		require.NotNil(t, got.Baseline)
		assert.Greater(t, *got.Canary, 0.0)
		assert.Less(t, *got.Canary, 10.0)
		t.Log(got.Reason)
	})
	t.Run("no data", func(t *testing.T) {
		for _, q := range []string{errorRatio("no-such-flag", "new"), callRate(flag, "neither")} {
			got := measure(metric("absent", q, ""))
			assert.Equal(t, release.PhaseInconclusive, got.Phase, got.Reason)
			assert.True(t, got.Starved)
			assert.Contains(t, got.Reason, "no data")
		}
	})
	t.Run("several series", func(t *testing.T) {
		got := measure(metric("by-path", `sum by (rollsafe_switch_path) (rollsafe_flags_switch_calls_total)`, ""))
		assert.Equal(t, release.PhaseError, got.Phase, got.Reason)
		assert.Contains(t, got.Reason, "2 series, not one")
	})
	t.Run("bad PromQL", func(t *testing.T) {
		got := measure(metric("bad", `sum(rate(rollsafe_flags_switch_calls_total[10s])`, ""))
		assert.Equal(t, release.PhaseError, got.Phase, got.Reason)
		assert.Contains(t, got.Reason, "bad_data")
	})
	t.Run("NaN", func(t *testing.T) {
		// 0/0 without the `> 0` guard.
		got := measure(metric("nan", `sum(rate(rollsafe_flags_switch_errors_total{rollsafe_switch_path="new"}[10s])) * 0 / 0`, ""))
		assert.Equal(t, release.PhaseError, got.Phase, got.Reason)
		assert.Contains(t, got.Reason, "NaN")
	})
	t.Run("unreachable server", func(t *testing.T) {
		m := metric("gone", callRate(flag, "new"), "")
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		m.Address = dead.URL
		got := measure(m)
		assert.Equal(t, release.PhaseError, got.Phase, got.Reason)
		assert.True(t, strings.Contains(got.Reason, "connection refused"), got.Reason)
	})
}
