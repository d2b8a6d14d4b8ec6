package release_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// The simulations run the analysis the way the controller does: a
// measurement every second of the error rate over the window since the
// step began, each stored and judged with those of the attempt, with 100
// calls a second fleet-wide split between the arms by the step's weight.
// The latency metric is disabled: the error rate is what these figures are
// about.
//
// Judging every second on all the measurements of the attempt costs time
// quadratic in its length, too slow for a test under the race detector.
// Since a release that reaches a step has no Failed measurement before it
// (the first fails it) and the simulation makes no Error ones, the
// measurements of earlier steps cannot change the verdict: each look judges
// the step's own, and the last look of each step checks that the whole
// attempt gives the same verdict.

const (
	simRate    = 100 // calls per second, fleet-wide
	simStepSec = 60
)

// simulation is one simulated release's settings.
type simulation struct {
	weights          []int // canary percentage of each step
	canary, baseline float64
	metric           release.ErrorRateMetric
}

// run simulates one release and returns the second (from the start of the
// release, which is when the fault starts) at which the verdict was Fail or
// Error, or -1 when the release went through every step, and whether a
// one-look z test at the metric's alpha, looked at every second, would have
// failed it.
func (s simulation) run(t *testing.T, r *rand.Rand, ms []release.Measurement) (failedAt int, naive bool) {
	plan := &release.Plan{
		ID:       "sim",
		Flags:    []release.FlagSpec{{Key: "f", Baseline: "off", Canary: "on"}},
		Analysis: release.Analysis{ErrorRate: &s.metric, Latency: &release.LatencyMetric{Disabled: true}},
	}
	for _, w := range s.weights {
		plan.Steps = append(plan.Steps, release.Step{Weights: map[string]int{"f": w}})
	}
	alpha := s.metric.Alpha
	if alpha == 0 {
		alpha = release.DefaultAlpha
	}
	zCrit := math.Sqrt2 * math.Erfinv(1-2*alpha)
	margin := s.metric.Margin
	if margin == 0 {
		margin = release.DefaultMargin
	}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ms = ms[:0]
	sec := 0
	for step, weight := range s.weights {
		first := len(ms)
		var w release.Window
		w.Flag = "f"
		w.From = start.Add(time.Duration(sec) * time.Second)
		nc := simRate * weight / 100
		for look := range simStepSec {
			sec++
			w.Canary.Add(simArm(r, nc, s.canary))
			w.Baseline.Add(simArm(r, simRate-nc, s.baseline))
			now := start.Add(time.Duration(sec) * time.Second)
			w.To = now
			m := release.MeasureErrorRate(s.metric, w, 0, now)
			m.Step = step
			ms = append(ms, m)
			v := release.Judge(plan, step, ms[first:])
			done := v.Outcome == release.VerdictFail || v.Outcome == release.VerdictError
			if done || look == simStepSec-1 {
				require.Equal(t, v.Outcome, release.Judge(plan, step, ms).Outcome, "the whole attempt judges as its step")
			}
			if done {
				return sec, naive
			}
			naive = naive || naiveZ(w, margin, zCrit)
		}
	}
	return -1, naive
}

// naiveZ is a one-look z test of the difference of the arms' error rates
// above margin at the critical value zCrit: what a test that ignores the
// repeated looks would say.
func naiveZ(w release.Window, margin, zCrit float64) bool {
	if w.Canary.Calls < release.DefaultMinSamples || w.Baseline.Calls < release.DefaultMinSamples {
		return false
	}
	pc, pb := w.Canary.ErrorRate(), w.Baseline.ErrorRate()
	v := pc*(1-pc)/float64(w.Canary.Calls) + pb*(1-pb)/float64(w.Baseline.Calls)
	return v > 0 && (pc-pb-margin)/math.Sqrt(v) > zCrit
}

// simArm is one second of an arm: n calls, each failing with probability
// p. The failures are found by drawing the gaps between them (geometric),
// not one draw a call: the same distribution for a fraction of the draws.
func simArm(r *rand.Rand, n int, p float64) release.Arm {
	a := release.Arm{Calls: uint64(n)}
	if p <= 0 {
		return a
	}
	logq := math.Log1p(-p)
	gap := func() int {
		if logq == math.Inf(-1) {
			return 0
		}
		return int(math.Log(1-r.Float64()) / logq)
	}
	for i := gap(); i < n; i += 1 + gap() {
		a.Errors++
	}
	return a
}

// detection runs n releases of s and returns the seconds to Fail of those
// that failed, sorted, and how many failed.
func (s simulation) detection(t *testing.T, seed uint64, n int) (times []float64, naive int) {
	r := rand.New(rand.NewPCG(seed, 1))
	ms := make([]release.Measurement, 0, len(s.weights)*simStepSec)
	for range n {
		at, z := s.run(t, r, ms)
		if at >= 0 {
			times = append(times, float64(at))
		}
		if z {
			naive++
		}
	}
	slices.Sort(times)
	return times, naive
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// Identical arms, 1% errors each: false rollbacks over 1,000 releases of
// five 60 s steps (500 for the second margin). With the default margin of 1 pt they are all but
// impossible; with a margin of 0.01 pt only the test's validity under
// repeated looks keeps them below Alpha per step.
func TestSimulationFalseRollbacks(t *testing.T) {
	steps := []int{10, 25, 50, 75, 90}
	for _, tc := range []struct {
		name     string
		margin   float64
		releases int
	}{{"default margin", 0, 1000}, {"margin 0.01 pt", 0.0001, 500}} {
		releases := tc.releases
		s := simulation{weights: steps, canary: 0.01, baseline: 0.01, metric: release.ErrorRateMetric{Margin: tc.margin}}
		failed, naive := s.detection(t, 42, releases)
		rate := float64(len(failed)) / float64(releases)
		t.Logf("%s: identical arms at 1%%, steps %v%% of %d s at %d calls/s: %d false rollbacks in %d releases (%.1f%%); a one-look z test at each second would have failed %d (%.1f%%)",
			tc.name, steps, simStepSec, simRate, len(failed), releases, rate*100, naive, float64(naive)/float64(releases)*100)
		assert.Less(t, rate, 0.01, tc.name)
	}
}

// Detection time of a canary at five times the baseline's error rate, and
// the non-detection of one at 1.2 times, which is below the margin.
func TestSimulationDetection(t *testing.T) {
	const releases = 200
	for _, tc := range []struct {
		name     string
		weight   int
		canary   float64
		metric   release.ErrorRateMetric
		detected float64 // least share of releases failed
		within   float64 // median seconds to Fail, at most
	}{
		{"5x at 50%", 50, 0.05, release.ErrorRateMetric{}, 0.99, 40},
		{"5x at 25%", 25, 0.05, release.ErrorRateMetric{}, 0.99, 60},
		{"5x at 50%, ceiling 2%", 50, 0.05, release.ErrorRateMetric{MaxErrorRate: 0.02}, 0.99, 40},
		{"50% errors at 50%", 50, 0.5, release.ErrorRateMetric{}, 1, 5},
	} {
		s := simulation{weights: []int{tc.weight, tc.weight, tc.weight, tc.weight, tc.weight}, canary: tc.canary, baseline: 0.01, metric: tc.metric}
		times, _ := s.detection(t, 7, releases)
		share := float64(len(times)) / releases
		t.Logf("%s (canary %.0f%% vs baseline 1%%): %d/%d detected; seconds to Fail: median %.0f, p95 %.0f",
			tc.name, tc.canary*100, len(times), releases, quantile(times, 0.5), quantile(times, 0.95))
		assert.GreaterOrEqual(t, share, tc.detected, tc.name)
		assert.LessOrEqual(t, quantile(times, 0.5), tc.within, tc.name)
	}

	// 1.2% against 1% is 0.2 pt, inside the default margin of 1 pt: the
	// analysis must not fail it.
	s := simulation{weights: []int{50, 50, 50, 50, 50}, canary: 0.012, baseline: 0.01}
	times, _ := s.detection(t, 8, releases)
	t.Logf("1.2x at 50%% (0.2 pt, inside the 1 pt margin): %d/%d failed", len(times), releases)
	assert.Less(t, float64(len(times))/releases, 0.01)

	// With a margin of 0.1 pt, 1.2× is 0.1 pt beyond it: found in part,
	// slowly, at 50 calls a second per arm.
	s.metric.Margin = 0.001
	times, _ = s.detection(t, 9, releases)
	t.Logf("1.2x at 50%%, margin 0.1 pt: %d/%d detected within 300 s; seconds to Fail: median %.0f, p95 %.0f",
		len(times), releases, quantile(times, 0.5), quantile(times, 0.95))
	assert.Less(t, len(times), releases/2, "0.1 pt beyond the margin at 50 calls a second is mostly not provable in 300 s")
}

// latencyDist is a path's latency as the probability of each histogram
// bucket: mostly about 1 to 2ms, with a tail to 16ms.
var latencyDist = map[int]float64{10: 0.30, 11: 0.55, 12: 0.10, 13: 0.04, 14: 0.008, 15: 0.002}

// simTimed is one second of an arm: n calls, all timed, whose buckets are
// drawn from dist shifted by shift buckets (1: twice as slow).
func simTimed(r *rand.Rand, n int, cdf []float64, shift int) release.Arm {
	a := release.Arm{Calls: uint64(n), Timed: uint64(n)}
	for range n {
		u := r.Float64()
		i := 0
		for i < len(cdf)-1 && u > cdf[i] {
			i++
		}
		a.Histogram.Counts[i+shift]++
	}
	return a
}

// The latency metric run as the controller runs it: false failures of
// identical arms, and the detection of a canary twice and four times as
// slow, at 50% of 100 calls a second.
func TestSimulationLatency(t *testing.T) {
	cdf := make([]float64, 16)
	var sum float64
	for i := range cdf {
		sum += latencyDist[i]
		cdf[i] = sum
	}
	plan := &release.Plan{
		ID:       "sim",
		Flags:    []release.FlagSpec{{Key: "f", Baseline: "off", Canary: "on"}},
		Steps:    []release.Step{{Weights: map[string]int{"f": 50}}},
		Analysis: release.Analysis{ErrorRate: &release.ErrorRateMetric{Disabled: true}},
	}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	run := func(r *rand.Rand, shift, steps int) int {
		var ms []release.Measurement
		for step := range steps {
			first := len(ms)
			w := release.Window{Flag: "f"}
			for sec := range simStepSec {
				w.Canary.Add(simTimed(r, simRate/2, cdf, shift))
				w.Baseline.Add(simTimed(r, simRate/2, cdf, 0))
				m := release.MeasureLatency(release.LatencyMetric{}, w, 0, start.Add(time.Duration(step*simStepSec+sec+1)*time.Second))
				ms = append(ms, m)
				if release.Judge(plan, 0, ms[first:]).Outcome == release.VerdictFail {
					return step*simStepSec + sec + 1
				}
			}
		}
		return -1
	}
	r := rand.New(rand.NewPCG(11, 1))
	const releases = 200
	falseFails := 0
	for range releases {
		if run(r, 0, 5) >= 0 {
			falseFails++
		}
	}
	t.Logf("latency, identical arms, %d releases of 5 steps of %d s at 50%%: %d false failures", releases, simStepSec, falseFails)
	assert.Less(t, float64(falseFails)/releases, 0.01, "a one-look U test here fails about 1%")

	for _, shift := range []int{1, 2} {
		var times []float64
		for range releases / 2 {
			if at := run(r, shift, 1); at >= 0 {
				times = append(times, float64(at))
			}
		}
		slices.Sort(times)
		t.Logf("latency, canary %d× as slow at 50%%: %d/%d detected within %d s; seconds to Fail: median %.0f, p95 %.0f",
			1<<shift, len(times), releases/2, simStepSec, quantile(times, 0.5), quantile(times, 0.95))
		assert.Equal(t, releases/2, len(times))
	}
}

// The ceiling test on the canary alone, as the analysis runs it at a step
// at 100%: false failures of canaries erring at exactly the ceiling over
// many steps of 60 s, looked at every second at 100 calls a second (the
// window, and the test, start again at each step: Alpha is per step); and
// the calls it takes to fail a canary erring at 5% against a ceiling of
// 1%, looked at every second at 10 calls a second. Beside it, on the same
// calls, the normal mixture that the ceiling test replaced.
func TestSimulationCeiling(t *testing.T) {
	alphas := [2]float64{0.01, 0.001}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const steps = 4000
	for _, c := range []float64{0.01, 0.05} {
		r := rand.New(rand.NewPCG(21, 1))
		metric := release.ErrorRateMetric{MaxErrorRate: c, Alpha: alphas[0]}
		var failed, oldFailed [2]int
		for range steps {
			w := release.Window{Flag: "f", CanaryOnly: true, From: start}
			var hit, oldHit [2]bool
			for sec := range simStepSec {
				w.Canary.Add(simArm(r, simRate, c))
				w.To = start.Add(time.Duration(sec+1) * time.Second)
				m := release.MeasureErrorRate(metric, w, 0, w.To)
				require.Equal(t, m.Statistic >= 1/alphas[0], m.Phase == release.PhaseFailed, m.Reason)
				old := oldCeilingLog(float64(w.Canary.Errors), float64(w.Canary.Calls), c, release.DefaultMargin)
				for i, a := range alphas {
					hit[i] = hit[i] || m.Statistic >= 1/a
					oldHit[i] = oldHit[i] || old >= math.Log(1/a)
				}
			}
			for i := range alphas {
				if hit[i] {
					failed[i]++
				}
				if oldHit[i] {
					oldFailed[i]++
				}
			}
		}
		for i, a := range alphas {
			t.Logf("canary at the ceiling of %.0f%%, %d steps of %d s at %d calls/s, alpha %v: %d false failures (%.2f%%); the normal mixture: %d (%.2f%%)",
				c*100, steps, simStepSec, simRate, a, failed[i], float64(failed[i])/steps*100, oldFailed[i], float64(oldFailed[i])/steps*100)
			assert.LessOrEqual(t, float64(failed[i])/steps, a, "ceiling %v, alpha %v", c, a)
		}
	}

	// Power: 5% against a ceiling of 1%, for at most five steps of 60 s.
	const rate, c, perSec, releases = 0.05, 0.01, 10, 1000
	r := rand.New(rand.NewPCG(22, 1))
	metric := release.ErrorRateMetric{MaxErrorRate: c, Alpha: alphas[0]}
	var calls, errs, oldCalls, oldErrs [2][]float64
	for range releases {
		w := release.Window{Flag: "f", CanaryOnly: true, From: start}
		var done, oldDone [2]bool
		for sec := 0; sec < 5*simStepSec && !(done[1] && oldDone[1]); sec++ {
			w.Canary.Add(simArm(r, perSec, rate))
			w.To = start.Add(time.Duration(sec+1) * time.Second)
			m := release.MeasureErrorRate(metric, w, 0, w.To)
			old := oldCeilingLog(float64(w.Canary.Errors), float64(w.Canary.Calls), c, release.DefaultMargin)
			n, k := float64(w.Canary.Calls), float64(w.Canary.Errors)
			for i, a := range alphas {
				if !done[i] && m.Statistic >= 1/a {
					done[i] = true
					calls[i], errs[i] = append(calls[i], n), append(errs[i], k)
				}
				if !oldDone[i] && old >= math.Log(1/a) {
					oldDone[i] = true
					oldCalls[i], oldErrs[i] = append(oldCalls[i], n), append(oldErrs[i], k)
				}
			}
		}
	}
	for i, a := range alphas {
		for _, s := range [][]float64{calls[i], errs[i], oldCalls[i], oldErrs[i]} {
			slices.Sort(s)
		}
		t.Logf("canary at 5%% against a ceiling of 1%%, %d calls/s, alpha %v: %d/%d failed, after %.0f calls median (p95 %.0f) and %.0f failed calls (p95 %.0f); the normal mixture: %d/%d, after %.0f calls (p95 %.0f) and %.0f failed calls (p95 %.0f)",
			perSec, a, len(calls[i]), releases, quantile(calls[i], 0.5), quantile(calls[i], 0.95), quantile(errs[i], 0.5), quantile(errs[i], 0.95),
			len(oldCalls[i]), releases, quantile(oldCalls[i], 0.5), quantile(oldCalls[i], 0.95), quantile(oldErrs[i], 0.5), quantile(oldErrs[i], 0.95))
		assert.Len(t, calls[i], releases, "alpha %v: every release fails", a)
		assert.Less(t, quantile(calls[i], 0.5), quantile(oldCalls[i], 0.5)/2, "alpha %v: fewer than half the calls of the normal mixture", a)
		assert.LessOrEqual(t, quantile(errs[i], 0.95), 20.0, "alpha %v: at most 20 failed calls in 95%% of releases", a)
	}
}
