package release_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

var at = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// errWindow is a window of flag "checkout" with the arms' errors and calls.
func errWindow(canaryErrors, canaryCalls, baselineErrors, baselineCalls uint64) release.Window {
	return release.Window{
		Flag:      "checkout",
		From:      at.Add(-time.Minute),
		To:        at,
		Instances: 3,
		Canary:    release.Arm{Calls: canaryCalls, Errors: canaryErrors},
		Baseline:  release.Arm{Calls: baselineCalls, Errors: baselineErrors},
	}
}

func TestMeasureErrorRatePhases(t *testing.T) {
	cases := []struct {
		name       string
		metric     release.ErrorRateMetric
		window     release.Window
		minSamples int
		phase      release.Phase
		starved    bool
		reason     string
	}{
		{"identical arms", release.ErrorRateMetric{}, errWindow(10, 1000, 10, 1000), 0, release.PhaseSuccessful, false, "within the margin"},
		{"canary better", release.ErrorRateMetric{}, errWindow(0, 1000, 30, 1000), 0, release.PhaseSuccessful, false, "within the margin"},
		{"within the margin", release.ErrorRateMetric{}, errWindow(18, 1000, 10, 1000), 0, release.PhaseSuccessful, false, "within the margin"},
		{"canary five times worse", release.ErrorRateMetric{}, errWindow(100, 2000, 20, 2000), 0, release.PhaseFailed, false, "mSPRT Λ="},
		{"worse, not proven", release.ErrorRateMetric{}, errWindow(6, 200, 1, 200), 0, release.PhaseInconclusive, false, "above the margin, not proven"},
		{"zero baseline errors", release.ErrorRateMetric{}, errWindow(3, 100, 0, 100), 0, release.PhaseInconclusive, false, "not proven"},
		{"wider margin", release.ErrorRateMetric{Margin: 0.05}, errWindow(50, 1000, 10, 1000), 0, release.PhaseSuccessful, false, "margin 5.0 pt"},
		{"canary starved", release.ErrorRateMetric{}, errWindow(1, 99, 50, 5000), 0, release.PhaseInconclusive, true, "100 per arm needed"},
		{"canary starved, failing beyond doubt", release.ErrorRateMetric{}, errWindow(99, 99, 0, 5000), 0, release.PhaseFailed, false, "≥ 1000"},
		{"canary starved, failing a little", release.ErrorRateMetric{}, errWindow(9, 99, 50, 5000), 0, release.PhaseInconclusive, true, "100 per arm needed"},
		{"baseline starved", release.ErrorRateMetric{}, errWindow(0, 5000, 0, 99), 0, release.PhaseInconclusive, true, "too few calls"},
		{"own minimum", release.ErrorRateMetric{}, errWindow(0, 300, 0, 300), 500, release.PhaseInconclusive, true, "500 per arm needed"},
		{"small minimum", release.ErrorRateMetric{}, errWindow(0, 20, 0, 20), 20, release.PhaseSuccessful, false, "within the margin"},
		{"no traffic", release.ErrorRateMetric{}, errWindow(0, 0, 0, 0), 0, release.PhaseInconclusive, true, "too few calls"},
		{"above the ceiling", release.ErrorRateMetric{MaxErrorRate: 0.02}, errWindow(80, 1000, 70, 1000), 0, release.PhaseFailed, false, "above the ceiling of 2.0%"},
		{"above the ceiling, not proven", release.ErrorRateMetric{MaxErrorRate: 0.02}, errWindow(4, 100, 4, 100), 0, release.PhaseInconclusive, false, "above the ceiling of 2.0%, not proven"},
		{"100% step, no ceiling", release.ErrorRateMetric{}, errWindow(90, 1000, 0, 0), 0, release.PhaseSuccessful, false, "no baseline and no ceiling"},
		{"100% step, within the ceiling", release.ErrorRateMetric{MaxErrorRate: 0.05}, errWindow(10, 1000, 0, 0), 0, release.PhaseSuccessful, false, "within the ceiling of 5.0%, no baseline"},
		{"100% step, above the ceiling", release.ErrorRateMetric{MaxErrorRate: 0.05}, errWindow(120, 1000, 0, 0), 0, release.PhaseFailed, false, "above the ceiling"},
		{"100% step, starved", release.ErrorRateMetric{}, errWindow(0, 50, 0, 0), 0, release.PhaseInconclusive, true, "too few calls"},
		{"no baseline calls below 100%", release.ErrorRateMetric{}, errWindow(500, 1000, 0, 0), 0, release.PhaseInconclusive, true, "too few calls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.window
			w.CanaryOnly = strings.HasPrefix(tc.name, "100% step")
			m := release.MeasureErrorRate(tc.metric, w, tc.minSamples, at)
			assert.Equal(t, tc.phase, m.Phase, m.Reason)
			assert.Equal(t, tc.starved, m.Starved)
			assert.Contains(t, m.Reason, tc.reason)
			assert.False(t, math.IsNaN(m.Statistic) || math.IsInf(m.Statistic, 0), "statistic %v", m.Statistic)
		})
	}
}

func TestMeasureErrorRateFields(t *testing.T) {
	w := errWindow(13, 250, 3, 300)
	m := release.MeasureErrorRate(release.ErrorRateMetric{Critical: true, Margin: 0.005}, w, 0, at)
	assert.Equal(t, release.MetricErrorRate, m.Metric)
	assert.Equal(t, "checkout", m.Flag)
	assert.Equal(t, at, m.At)
	assert.True(t, m.Critical)
	require.NotNil(t, m.Canary)
	require.NotNil(t, m.Baseline)
	assert.InDelta(t, 0.052, *m.Canary, 1e-12)
	assert.InDelta(t, 0.01, *m.Baseline, 1e-12)
	assert.Equal(t, uint64(250), m.CanaryCalls)
	assert.Equal(t, uint64(300), m.BaselineCalls)
	assert.Equal(t, release.StatisticMSPRT, m.StatisticName)
	assert.Positive(t, m.Statistic)
	assert.Zero(t, m.Step, "the step is the caller's to set")
	assert.Contains(t, m.Reason, "canary 5.2% (13/250) vs baseline 1.0% (3/300), margin 0.5 pt")

	m = release.MeasureErrorRate(release.ErrorRateMetric{}, errWindow(0, 500, 0, 0), 0, at)
	assert.Nil(t, m.Baseline, "no baseline calls, no baseline value")
}

// The statistic grows with the evidence, and crosses 1/Alpha where the
// phase turns Failed.
func TestMeasureErrorRateEvidenceGrows(t *testing.T) {
	var last float64
	failedAt := uint64(0)
	for n := uint64(100); n <= 3000; n += 100 {
		m := release.MeasureErrorRate(release.ErrorRateMetric{}, errWindow(n*5/100, n, n/100, n), 0, at)
		assert.GreaterOrEqual(t, m.Statistic, last, "n=%d", n)
		last = m.Statistic
		if m.Phase == release.PhaseFailed && failedAt == 0 {
			failedAt = n
			assert.GreaterOrEqual(t, m.Statistic, 1000.0)
		}
		if failedAt == 0 {
			assert.Less(t, m.Statistic, 1000.0)
		}
	}
	assert.NotZero(t, failedAt, "5% against 1% is proven within 3,000 calls per arm")
	t.Logf("5%% vs 1%%: Failed at %d calls per arm", failedAt)

	// A smaller Alpha asks for more evidence.
	strict := release.MeasureErrorRate(release.ErrorRateMetric{Alpha: 1e-9}, errWindow(failedAt*5/100, failedAt, failedAt/100, failedAt), 0, at)
	assert.NotEqual(t, release.PhaseFailed, strict.Phase)
}

// Extreme windows give finite figures, which a measurement needs to be
// stored as JSON.
func TestMeasureErrorRateExtremes(t *testing.T) {
	for _, w := range []release.Window{
		errWindow(1e9, 1e9, 0, 1e9),
		errWindow(0, 1e12, 0, 1e12),
		errWindow(500, 100, 0, 100), // more errors than calls: taken as all
	} {
		m := release.MeasureErrorRate(release.ErrorRateMetric{MaxErrorRate: 0.1}, w, 0, at)
		_, err := json.Marshal(m)
		require.NoError(t, err, m.Reason)
	}
	m := release.MeasureErrorRate(release.ErrorRateMetric{}, errWindow(1e9, 1e9, 0, 1e9), 0, at)
	assert.Equal(t, release.PhaseFailed, m.Phase)
}

// Margin or Alpha out of range are taken as their defaults.
func TestMeasureErrorRateDefaults(t *testing.T) {
	w := errWindow(50, 1000, 10, 1000)
	want := release.MeasureErrorRate(release.ErrorRateMetric{Margin: 0.01, Alpha: 0.001}, w, 100, at)
	for _, m := range []release.ErrorRateMetric{{}, {Margin: -1, Alpha: -1}, {Margin: 0, Alpha: 1}, {Margin: 2, Alpha: 5}} {
		assert.Equal(t, want, release.MeasureErrorRate(m, w, 0, at))
	}
}

func TestMeasureErrorRateBreakerOpened(t *testing.T) {
	w := errWindow(3, 12, 1, 500) // too few canary calls to judge by the rates
	w.Canary.Rejected = 40
	m := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 100, at)
	assert.Equal(t, release.PhaseFailed, m.Phase, m.Reason)
	assert.False(t, m.Starved)
	assert.Contains(t, m.Reason, "a Switch sent 40 canary calls to the old path")
	w.Canary.Rejected = 0
	m = release.MeasureErrorRate(release.ErrorRateMetric{}, w, 100, at)
	assert.Equal(t, release.PhaseInconclusive, m.Phase, "without the breaker, the same counts are too few")
	assert.True(t, m.Starved)
}
