package release

import (
	"math"
	"testing"
	"time"

	"github.com/aclements/go-moremath/stats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchmath"

	"github.com/rollsafe/rollsafe/flags"
)

// histogram is a LatencyHistogram with counts[bucket] = n.
func histogram(counts map[int]uint64) flags.LatencyHistogram {
	var h flags.LatencyHistogram
	for i, n := range counts {
		h.Counts[i] = n
	}
	return h
}

// expand is one value per call of h, the call's bucket index: calls of one
// bucket are ties, as the U test from the bucket counts takes them.
func expand(h flags.LatencyHistogram) []float64 {
	var xs []float64
	for i, n := range h.Counts {
		for range n {
			xs = append(xs, float64(i))
		}
	}
	return xs
}

// The U statistic and p-value computed from the 32 bucket counts are those
// of x/perf's Mann-Whitney U test on the expanded samples (normal
// approximation with tie and continuity corrections, which it uses beyond
// 25 samples per side when there are ties).
func TestMannWhitneyMatchesPerf(t *testing.T) {
	cases := []struct {
		name             string
		canary, baseline flags.LatencyHistogram
	}{
		{"one bucket slower", histogram(map[int]uint64{10: 40, 11: 120, 12: 30}), histogram(map[int]uint64{9: 35, 10: 150, 11: 20})},
		{"close", histogram(map[int]uint64{10: 100, 11: 52, 12: 9, 14: 1}), histogram(map[int]uint64{10: 104, 11: 47, 12: 8})},
		{"long tail", histogram(map[int]uint64{8: 200, 9: 60, 15: 12, 20: 4}), histogram(map[int]uint64{8: 210, 9: 70, 10: 3})},
		{"faster", histogram(map[int]uint64{5: 80, 6: 30}), histogram(map[int]uint64{6: 70, 7: 60})},
		{"uneven sizes", histogram(map[int]uint64{3: 30, 4: 4, 31: 2}), histogram(map[int]uint64{0: 5, 3: 300, 4: 40, 5: 9})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, b := expand(tc.canary), expand(tc.baseline)
			u, sigma, n1n2 := mannWhitneyU(tc.canary, tc.baseline)
			require.Positive(t, sigma)
			p := mannWhitneyGreater(tc.canary, tc.baseline)

			want, err := stats.MannWhitneyUTest(c, b, stats.LocationGreater)
			require.NoError(t, err)
			assert.InDelta(t, want.U, u, 1e-9, "U")
			assert.Equal(t, float64(len(c)*len(b)), n1n2)
			assert.InDelta(t, want.P, p, 1e-12, "one-sided p")

			// benchmath's comparison is two-sided: where the canary is the
			// slower, its p is twice the one-sided one.
			thr := benchmath.DefaultThresholds
			cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(c, &thr), benchmath.NewSample(b, &thr))
			if u > n1n2/2 {
				assert.InDelta(t, cmp.P, 2*p, 1e-12, "two-sided p")
			} else {
				assert.Greater(t, p, 0.5)
			}
		})
	}
}

func TestMannWhitneyOneBucket(t *testing.T) {
	h := histogram(map[int]uint64{7: 500})
	assert.Equal(t, 1.0, mannWhitneyGreater(h, h), "nothing can be told apart")
	assert.Equal(t, 1.0, mannWhitneyGreater(flags.LatencyHistogram{}, h))
}

func TestMannWhitneyBigCountsStayFinite(t *testing.T) {
	c := histogram(map[int]uint64{10: 3e9, 11: 3e9})
	b := histogram(map[int]uint64{10: 4e9, 11: 2e9})
	p := mannWhitneyGreater(c, b)
	assert.False(t, math.IsNaN(p))
	assert.Less(t, p, 1e-6)
}

func TestHistogramQuantileInterpolates(t *testing.T) {
	ms := time.Millisecond.Seconds()
	// Bucket 11 is [1.024ms, 2.048ms).
	h := histogram(map[int]uint64{11: 100})
	assert.InDelta(t, 1.536*ms, histogramQuantile(h, 0.5), 1e-12)
	assert.InDelta(t, 1.024*ms+0.99*1.024*ms, histogramQuantile(h, 0.99), 1e-12)

	// 90 calls in [1µs, 2µs), 10 in [512µs, 1.024ms): the p95 is half-way
	// through the slow bucket.
	h = histogram(map[int]uint64{1: 90, 10: 10})
	assert.InDelta(t, 0.768*ms, histogramQuantile(h, 0.95), 1e-12)
	assert.InDelta(t, 1.5e-6, histogramQuantile(h, 0.45), 1e-12)

	h = histogram(map[int]uint64{0: 10})
	assert.InDelta(t, 0.5e-6, histogramQuantile(h, 0.5), 1e-15, "bucket 0 is [0, 1µs)")
	assert.Zero(t, histogramQuantile(flags.LatencyHistogram{}, 0.99))
}

func TestHistogramAbove(t *testing.T) {
	ms := time.Millisecond.Seconds()
	h := histogram(map[int]uint64{10: 10, 11: 100, 12: 7})
	assert.InDelta(t, 57.0, histogramAbove(h, 1.536*ms), 1e-9, "half of bucket 11 and all of bucket 12")
	assert.InDelta(t, 117.0, histogramAbove(h, 0), 1e-9)
	assert.InDelta(t, 0.0, histogramAbove(h, 10), 1e-9)
}

func TestMSPRT(t *testing.T) {
	// No evidence at or below the margin.
	assert.Less(t, msprt(0.01, 0.01, 1e-4, 0.01), 1.0)
	assert.Equal(t, msprt(-0.5, 0.01, 1e-4, 0.01), msprt(0.01, 0.01, 1e-4, 0.01))
	// More evidence with a larger excess or a smaller variance.
	assert.Greater(t, msprt(0.05, 0.01, 1e-4, 0.01), msprt(0.03, 0.01, 1e-4, 0.01))
	assert.Greater(t, msprt(0.03, 0.01, 1e-5, 0.01), msprt(0.03, 0.01, 1e-4, 0.01))
	// The closed form, computed another way.
	v, tau, d := 2e-4, 0.01, 0.04
	want := math.Sqrt(v/(v+tau*tau)) * math.Exp(d*d*tau*tau/(2*v*(v+tau*tau)))
	assert.InDelta(t, want, msprt(0.05, 0.01, v, tau), want*1e-12)
	// Capped, finite.
	assert.False(t, math.IsInf(msprt(1, 0, 1e-12, 0.01), 0))
}

// The always-valid p-value asks more evidence than the one-look one, and
// none is found where the canary is not slower.
func TestMannWhitneyAlwaysValid(t *testing.T) {
	slow := histogram(map[int]uint64{10: 40, 11: 120, 12: 30})
	fast := histogram(map[int]uint64{9: 35, 10: 150, 11: 20})
	p, once := mannWhitneyAlwaysValid(slow, fast), mannWhitneyGreater(slow, fast)
	assert.Greater(t, p, once)
	assert.Less(t, p, 1e-6)
	assert.Equal(t, 1.0, mannWhitneyAlwaysValid(fast, slow))
	assert.Equal(t, 1.0, mannWhitneyAlwaysValid(fast, fast))

	// More of the same evidence, smaller p.
	var slow4, fast4 flags.LatencyHistogram
	for i := range slow.Counts {
		slow4.Counts[i], fast4.Counts[i] = 4*slow.Counts[i], 4*fast.Counts[i]
	}
	assert.Less(t, mannWhitneyAlwaysValid(slow4, fast4), p)
}
