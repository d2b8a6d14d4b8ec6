package release_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rollsafe/rollsafe/release"
)

// benchArm is an interval of one instance's arm: 20 calls, errors at p,
// timed calls of about 1 to 4ms.
func benchArm(r *rand.Rand, p float64) release.Arm {
	a := release.Arm{Calls: 20, Timed: 20}
	for range 20 {
		if r.Float64() < p {
			a.Errors++
		}
		b := 10 + r.IntN(3)
		a.Histogram.Counts[b]++
		a.Latency += bucketMid(b)
	}
	return a
}

// bucketMid is about the middle of a histogram bucket.
func bucketMid(bucket int) time.Duration {
	return time.Duration(1<<uint(bucket)) * time.Microsecond * 3 / 4
}

// benchWindow is a window of 50 instances × 60 intervals.
func benchWindow() release.Window {
	r := rand.New(rand.NewPCG(1, 1))
	w := release.Window{Flag: "checkout", From: at.Add(-time.Minute), To: at, Instances: 50}
	for range 50 * 60 {
		w.Canary.Add(benchArm(r, 0.012))
		w.Baseline.Add(benchArm(r, 0.01))
	}
	return w
}

// BenchmarkMeasurement is one look of the analysis at one flag: both
// built-in metrics on a window, then the verdict over the measurements of
// an attempt at its fifth step, a minute into it (600 measurements).
func BenchmarkMeasurement(b *testing.B) {
	plan := judgePlan(false, release.Analysis{})
	w := benchWindow()
	var ms []release.Measurement
	for sec := range 300 {
		for _, m := range []release.Measurement{
			release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, at.Add(time.Duration(sec)*time.Second)),
			release.MeasureLatency(release.LatencyMetric{}, w, 0, at.Add(time.Duration(sec)*time.Second)),
		} {
			m.Step = sec / 60
			ms = append(ms, m)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		e := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, at)
		l := release.MeasureLatency(release.LatencyMetric{}, w, 0, at)
		e.Step, l.Step = 4, 4
		ms[len(ms)-2], ms[len(ms)-1] = e, l
		if v := release.Judge(plan, 4, ms); v.Outcome != release.VerdictPass {
			b.Fatal(v.Reason)
		}
	}
}

// BenchmarkAnalysisWindow sums the samples of 50 instances × 60 intervals
// into a window, then measures both built-in metrics on it.
func BenchmarkAnalysisWindow(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	type sample struct{ canary, baseline release.Arm }
	samples := make([]sample, 50*60)
	for i := range samples {
		samples[i] = sample{benchArm(r, 0.012), benchArm(r, 0.01)}
	}
	b.ReportAllocs()
	for b.Loop() {
		w := release.Window{Flag: "checkout", From: at.Add(-time.Minute), To: at, Instances: 50}
		for i := range samples {
			w.Canary.Add(samples[i].canary)
			w.Baseline.Add(samples[i].baseline)
		}
		e := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, at)
		l := release.MeasureLatency(release.LatencyMetric{}, w, 0, at)
		if e.Phase != release.PhaseSuccessful || l.Phase != release.PhaseSuccessful {
			b.Fatal(e.Reason, l.Reason)
		}
	}
}
