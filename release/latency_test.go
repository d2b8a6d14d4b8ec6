package release_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/release"
)

// timedArm is an arm of calls calls whose timed ones are counted by bucket
// in buckets (see flags.LatencyHistogram: bucket 11 is [1.024ms, 2.048ms)).
func timedArm(calls uint64, buckets map[int]uint64) release.Arm {
	a := release.Arm{Calls: calls}
	for i, n := range buckets {
		a.Histogram.Counts[i] = n
		a.Timed += n
		lo := flags.BucketUpperBound(i) / 2
		a.Latency += time.Duration(n) * lo * 3 / 2
	}
	return a
}

func latWindow(canary, baseline release.Arm) release.Window {
	return release.Window{Flag: "checkout", From: at.Add(-time.Minute), To: at, Instances: 2, Canary: canary, Baseline: baseline}
}

var (
	// fast is a path at about 1.5ms whose p99 is near 3ms.
	fast = map[int]uint64{10: 100, 11: 800, 12: 90, 13: 10}
	// slow is fast three buckets slower: 8 times.
	slow = map[int]uint64{13: 100, 14: 800, 15: 90, 16: 10}
	// slightlySlow has heavier top buckets than fast: a p99 of 6.144ms, 1.5
	// times fast's 4.096ms, at the default ratio and not above it.
	slightlySlow = map[int]uint64{10: 90, 11: 790, 12: 100, 13: 20}
)

func TestMeasureLatencyPhases(t *testing.T) {
	cases := []struct {
		name             string
		metric           release.LatencyMetric
		canary, baseline release.Arm
		phase            release.Phase
		starved          bool
		reason           string
	}{
		{"identical arms", release.LatencyMetric{}, timedArm(1000, fast), timedArm(1000, fast), release.PhaseSuccessful, false, "within the ratio"},
		{"eight times slower", release.LatencyMetric{}, timedArm(1000, slow), timedArm(1000, fast), release.PhaseFailed, false, "U test always-valid p="},
		{"faster", release.LatencyMetric{}, timedArm(1000, fast), timedArm(1000, slow), release.PhaseSuccessful, false, "within the ratio"},
		{"slower within the ratio", release.LatencyMetric{}, timedArm(1000, slightlySlow), timedArm(1000, fast), release.PhaseSuccessful, false, "within the ratio"},
		{"slower beyond a tight ratio", release.LatencyMetric{MaxRatio: 1.1, Slack: release.Duration(time.Nanosecond)}, timedArm(1000, slightlySlow), timedArm(1000, fast), release.PhaseInconclusive, false, "not proven"},
		{"slower beyond the ratio, within the slack", release.LatencyMetric{MaxRatio: 1.1}, timedArm(1000, slightlySlow), timedArm(1000, fast), release.PhaseSuccessful, false, "within the slack of 5ms"},
		{"slower, few samples", release.LatencyMetric{}, timedArm(100, map[int]uint64{11: 95, 16: 5}), timedArm(100, map[int]uint64{11: 99, 12: 1}), release.PhaseInconclusive, false, "not proven (U test"},
		{"a higher quantile", release.LatencyMetric{Quantile: 0.5}, timedArm(1000, slow), timedArm(1000, fast), release.PhaseFailed, false, "canary p50"},
		{"canary starved", release.LatencyMetric{}, timedArm(99, map[int]uint64{11: 99}), timedArm(1000, fast), release.PhaseInconclusive, true, "100 calls and 13 timed per arm needed"},
		{"baseline starved", release.LatencyMetric{}, timedArm(1000, fast), timedArm(50, map[int]uint64{11: 50}), release.PhaseInconclusive, true, "too few samples"},
		{"sampled fast calls: enough", release.LatencyMetric{}, timedArm(104, map[int]uint64{3: 13}), timedArm(104, map[int]uint64{3: 13}), release.PhaseSuccessful, false, "(13 timed)"},
		{"sampled fast calls: too few", release.LatencyMetric{}, timedArm(104, map[int]uint64{3: 12}), timedArm(104, map[int]uint64{3: 13}), release.PhaseInconclusive, true, "13 timed per arm needed"},
		{"above the ceiling", release.LatencyMetric{MaxP99: release.Duration(2 * time.Millisecond)}, timedArm(1000, slightlySlow), timedArm(1000, slightlySlow), release.PhaseFailed, false, "above the ceiling of 2ms"},
		{"above the ceiling, not proven", release.LatencyMetric{MaxP99: release.Duration(5 * time.Millisecond)}, timedArm(1000, slightlySlow), timedArm(1000, slightlySlow), release.PhaseInconclusive, false, "above the ceiling of 5ms, not proven"},
		{"within the ceiling", release.LatencyMetric{MaxP99: release.Duration(10 * time.Millisecond)}, timedArm(1000, fast), timedArm(1000, fast), release.PhaseSuccessful, false, "within the ratio"},
		{"100% step, no ceiling", release.LatencyMetric{}, timedArm(1000, slow), release.Arm{}, release.PhaseSuccessful, false, "no baseline and no ceiling"},
		{"100% step, within the ceiling", release.LatencyMetric{MaxP99: release.Duration(time.Second)}, timedArm(1000, slow), release.Arm{}, release.PhaseSuccessful, false, "within the ceiling of 1s, no baseline"},
		{"100% step, above the ceiling", release.LatencyMetric{MaxP99: release.Duration(10 * time.Millisecond)}, timedArm(1000, slow), release.Arm{}, release.PhaseFailed, false, "above the ceiling of 10ms"},
		{"100% step, starved", release.LatencyMetric{}, timedArm(1000, map[int]uint64{3: 5}), release.Arm{}, release.PhaseInconclusive, true, "too few samples"},
		{"no baseline calls below 100%", release.LatencyMetric{}, timedArm(1000, slow), release.Arm{}, release.PhaseInconclusive, true, "too few samples"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := latWindow(tc.canary, tc.baseline)
			w.CanaryOnly = strings.HasPrefix(tc.name, "100% step")
			m := release.MeasureLatency(tc.metric, w, 0, at)
			assert.Equal(t, tc.phase, m.Phase, m.Reason)
			assert.Equal(t, tc.starved, m.Starved)
			assert.Contains(t, m.Reason, tc.reason)
		})
	}
}

func TestMeasureLatencyFields(t *testing.T) {
	m := release.MeasureLatency(release.LatencyMetric{Critical: true}, latWindow(timedArm(8000, slow), timedArm(1000, fast)), 0, at)
	assert.Equal(t, release.MetricLatency, m.Metric)
	assert.Equal(t, "checkout", m.Flag)
	assert.Equal(t, at, m.At)
	assert.True(t, m.Critical)
	assert.Equal(t, release.PhaseFailed, m.Phase)
	assert.Equal(t, uint64(1000), m.CanaryCalls, "the timed calls are the samples judged")
	assert.Equal(t, uint64(1000), m.BaselineCalls)
	assert.Equal(t, release.StatisticMannWhitney, m.StatisticName)
	assert.Less(t, m.Statistic, 1e-9)
	require.NotNil(t, m.Canary)
	require.NotNil(t, m.Baseline)
	// The p99 is the 990th of 1,000 calls: all of bucket 15 ([16.384ms,
	// 32.768ms)) is below it and it is the first call of bucket 16
	// ([32.768ms, 65.536ms)); for the baseline, of bucket 13.
	assert.InDelta(t, 0.032768, *m.Canary, 1e-9)
	assert.InDelta(t, 0.004096, *m.Baseline, 1e-9)
	assert.Contains(t, m.Reason, "canary p99 32.768ms (1000 timed) vs baseline 4.096ms (1000 timed), max ratio 1.5: ratio 8.00")

	canaryOnly := latWindow(timedArm(1000, fast), release.Arm{})
	canaryOnly.CanaryOnly = true
	m = release.MeasureLatency(release.LatencyMetric{}, canaryOnly, 0, at)
	assert.Nil(t, m.Baseline)
	assert.Equal(t, release.StatisticMSPRT, m.StatisticName)
}

// The p-value needs a slower canary to fall: the same histograms give
// p ≈ 1 the other way round.
func TestMeasureLatencyOneSided(t *testing.T) {
	slower := release.MeasureLatency(release.LatencyMetric{}, latWindow(timedArm(1000, slow), timedArm(1000, fast)), 0, at)
	faster := release.MeasureLatency(release.LatencyMetric{}, latWindow(timedArm(1000, fast), timedArm(1000, slow)), 0, at)
	assert.Less(t, slower.Statistic, 1e-9)
	assert.Greater(t, faster.Statistic, 0.999)
}

// Out-of-range settings are taken as their defaults.
func TestMeasureLatencyDefaults(t *testing.T) {
	w := latWindow(timedArm(1000, slightlySlow), timedArm(1000, fast))
	want := release.MeasureLatency(release.LatencyMetric{Quantile: 0.99, MaxRatio: 1.5, Alpha: 0.001}, w, 100, at)
	for _, m := range []release.LatencyMetric{{}, {Quantile: 1, MaxRatio: -2, Alpha: 1}, {Quantile: -0.5, Alpha: -1}} {
		assert.Equal(t, want, release.MeasureLatency(m, w, 0, at))
	}
}
