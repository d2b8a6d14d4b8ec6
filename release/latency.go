package release

import (
	"fmt"
	"math"
	"time"

	"github.com/rollsafe/rollsafe/flags"
)

// MeasureLatency judges the canary's latency against the baseline's over
// w, the window of one flag, at now. It is a pure function: the same
// arguments give the same measurement. Canary and Baseline are the arms'
// quantiles in seconds; CanaryCalls and BaselineCalls are their timed
// calls, the samples judged.
//
// The zero fields of m take their defaults: Quantile 0.99
// ([DefaultQuantile]), MaxRatio 1.5 ([DefaultMaxRatio]),
// Alpha 0.001 ([DefaultAlpha]); a Quantile or Alpha not inside (0, 1), or a
// MaxRatio not above 0, is taken as 0. minSamples ≤ 0 means
// [DefaultMinSamples].
//
// Samples. A path whose calls take less than [flags.FastCall] times only
// one call in [flags.FastCallSampling], so an arm's timed calls can be an
// eighth of its calls. An arm is short of samples, and the measurement
// Inconclusive and Starved, when it has fewer than minSamples calls (as for
// [MeasureErrorRate]) or fewer than minSamples/FastCallSampling (rounded
// up) timed calls: an arm that made enough calls has, sampled or not,
// enough timed ones. As for the error rate, the window of a step at 100%
// ([Window].CanaryOnly) with enough canary samples is judged on MaxP99
// alone, and is Successful without one.
//
// The quantile. The histograms have power-of-two buckets of microseconds
// (see [flags.LatencyHistogram]); the quantile is found in its bucket by
// linear interpolation between the bucket's bounds, as Prometheus'
// histogram_quantile does: the error is within one bucket, at most a factor
// of two, and the same for both arms.
//
// The ratio test. Failed when the canary's quantile is above the
// baseline's × MaxRatio, and more than Slack (default
// [DefaultLatencySlack]) above it, and a one-sided Mann-Whitney U test says the
// canary's timed calls are slower at p < Alpha. U is computed from the
// bucket counts (each bucket is one group of ties), with its standard
// deviation under H0 with the tie correction, in time proportional to the
// number of buckets whatever the samples. A U test's usual p-value (the
// normal approximation) is valid for one look only: looked at every second
// on a growing window, identical arms failed 2 of 200 simulated releases
// of five 60 s steps. The p-value compared with Alpha is instead an always-valid one,
// 1/Λ of the error rate's sequential test ([MeasureErrorRate]) on the
// probability that a canary call is slower than a baseline call, estimated
// by U/(n₁n₂) − ½ with variance σ_U²/(n₁n₂)², H0 that it is ½ (no slower)
// and τ = 0.1 (a canary call slower in 60% of the pairs is a shift worth
// finding). The reason gives the one-look p-value too.
//
// The ceiling. With MaxP99 set, Failed also when the canary's quantile is
// above it and the share of canary calls slower than MaxP99 is, by the
// error rate's sequential test ([MeasureErrorRate]; τ = 2(1 − Quantile)),
// above 1 − Quantile at Alpha: with or without a baseline.
//
// The phase. Successful when no arm is short of samples, nothing failed,
// and the canary's quantile is within the baseline's × MaxRatio and MaxP99;
// Inconclusive otherwise. Statistic is the U test's always-valid p-value
// ([StatisticMannWhitney]), or without a baseline the ceiling test's Λ
// ([StatisticMSPRT]).
func MeasureLatency(m LatencyMetric, w Window, minSamples int, now time.Time) Measurement {
	q := orDefault(m.Quantile, DefaultQuantile, 1)
	ratio := orDefault(m.MaxRatio, DefaultMaxRatio, math.Inf(1))
	alpha := orDefault(m.Alpha, DefaultAlpha, 1)
	need := effectiveMinSamples(minSamples)
	needTimed := (need + flags.FastCallSampling - 1) / flags.FastCallSampling
	c, b := w.Canary, w.Baseline
	ct, bt := histogramTotal(c.Histogram), histogramTotal(b.Histogram)
	cq := histogramQuantile(c.Histogram, q)
	out := Measurement{
		Metric:        MetricLatency,
		Flag:          w.Flag,
		At:            now,
		Critical:      m.Critical,
		Canary:        ptr(cq),
		CanaryCalls:   ct,
		BaselineCalls: bt,
	}
	name := quantileName(q)
	reason := fmt.Sprintf("canary %s %s (%d timed)", name, seconds(cq), ct)
	alone := w.CanaryOnly
	var bq float64
	if bt > 0 {
		bq = histogramQuantile(b.Histogram, q)
		out.Baseline = ptr(bq)
	}
	if !alone {
		reason += fmt.Sprintf(" vs baseline %s (%d timed), max ratio %g", seconds(bq), bt, ratio)
	}
	if c.Calls < need || ct < needTimed || (!alone && (b.Calls < need || bt < needTimed)) {
		out.Phase, out.Starved = PhaseInconclusive, true
		out.Reason = fmt.Sprintf("%s: too few samples, %d calls and %d timed per arm needed", reason, need, needTimed)
		return out
	}

	ceiling := m.MaxP99.D().Seconds()
	var ceilLR float64
	if ceiling > 0 {
		slow := histogramAbove(c.Histogram, ceiling)
		share := 1 - q
		ceilLR = msprt(slow/float64(ct), share, smoothedVariance(slow, float64(ct)), 2*share)
	}
	ceilFailed := ceiling > 0 && cq > ceiling && ceilLR >= 1/alpha
	if alone {
		out.Statistic, out.StatisticName = ceilLR, StatisticMSPRT
		switch {
		case ceilFailed:
			out.Phase = PhaseFailed
			out.Reason = fmt.Sprintf("%s: above the ceiling of %s, mSPRT Λ=%s ≥ %s", reason, seconds(ceiling), sci(ceilLR), limit(1/alpha))
		case ceiling > 0 && cq > ceiling:
			out.Phase = PhaseInconclusive
			out.Reason = fmt.Sprintf("%s: above the ceiling of %s, not proven (mSPRT Λ=%s < %s)", reason, seconds(ceiling), sci(ceilLR), limit(1/alpha))
		case ceiling > 0:
			out.Phase = PhaseSuccessful
			out.Reason = fmt.Sprintf("%s: within the ceiling of %s, no baseline", reason, seconds(ceiling))
		default:
			out.Phase = PhaseSuccessful
			out.Reason = reason + ": no baseline and no ceiling to compare with"
		}
		return out
	}

	p := mannWhitneyAlwaysValid(c.Histogram, b.Histogram)
	out.Statistic, out.StatisticName = p, StatisticMannWhitney
	slack := orDefault(m.Slack.D().Seconds(), DefaultLatencySlack.Seconds(), math.Inf(1))
	slower := cq > bq*ratio && cq-bq > slack
	switch {
	case ceilFailed:
		out.Phase = PhaseFailed
		out.Reason = fmt.Sprintf("%s: above the ceiling of %s, mSPRT Λ=%s ≥ %s", reason, seconds(ceiling), sci(ceilLR), limit(1/alpha))
	case slower && p < alpha:
		out.Phase = PhaseFailed
		out.Reason = fmt.Sprintf("%s: ratio %.2f, U test always-valid p=%s < %g (one look: %s)", reason, cq/bq, sci(p), alpha, sci(mannWhitneyGreater(c.Histogram, b.Histogram)))
	case ceiling > 0 && cq > ceiling:
		out.Phase = PhaseInconclusive
		out.Reason = fmt.Sprintf("%s: above the ceiling of %s, not proven (mSPRT Λ=%s < %s)", reason, seconds(ceiling), sci(ceilLR), limit(1/alpha))
	case slower:
		out.Phase = PhaseInconclusive
		out.Reason = fmt.Sprintf("%s: ratio %.2f, not proven (U test always-valid p=%s ≥ %g, one look: %s)", reason, cq/bq, sci(p), alpha, sci(mannWhitneyGreater(c.Histogram, b.Histogram)))
	case cq > bq*ratio:
		out.Phase = PhaseSuccessful
		out.Reason = fmt.Sprintf("%s: ratio %.2f, within the slack of %s", reason, cq/bq, seconds(slack))
	default:
		out.Phase = PhaseSuccessful
		out.Reason = reason + ": within the ratio"
	}
	return out
}

func histogramTotal(h flags.LatencyHistogram) uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// bucketBounds are bucket i's bounds in seconds: [0, 1µs) for bucket 0,
// [2^(i-1), 2^i) µs for the others; the last bucket, which has no upper
// bound, is given twice its lower one.
func bucketBounds(i int) (lo, hi float64) {
	hi = flags.BucketUpperBound(i).Seconds()
	if i == 0 {
		return 0, hi
	}
	return hi / 2, hi
}

// histogramQuantile is the q-quantile of h in seconds, interpolated
// linearly inside the bucket that holds it; 0 for an empty histogram.
func histogramQuantile(h flags.LatencyHistogram, q float64) float64 {
	total := histogramTotal(h)
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		n := float64(c)
		if seen+n >= rank {
			lo, hi := bucketBounds(i)
			return lo + (hi-lo)*max(rank-seen, 0)/n
		}
		seen += n
	}
	_, hi := bucketBounds(flags.LatencyBuckets - 1)
	return hi
}

// histogramAbove is how many calls of h took longer than x seconds, the
// calls of the bucket that holds x taken as spread evenly over it.
func histogramAbove(h flags.LatencyHistogram, x float64) float64 {
	var n float64
	for i, c := range h.Counts {
		lo, hi := bucketBounds(i)
		switch {
		case lo >= x:
			n += float64(c)
		case hi > x:
			n += float64(c) * (hi - x) / (hi - lo)
		}
	}
	return n
}

// mannWhitneyU is the Mann-Whitney U statistic of the canary's calls
// against the baseline's, calls of one bucket being ties: the number of
// (canary, baseline) pairs in which the canary call is slower, plus half
// the pairs in one bucket. It also returns the standard deviation of U
// under H0 with the tie correction, and n1·n2.
func mannWhitneyU(canary, baseline flags.LatencyHistogram) (u, sigma, n1n2 float64) {
	var n1, n2, below, ties float64
	for i := range canary.Counts {
		c, b := float64(canary.Counts[i]), float64(baseline.Counts[i])
		u += c * (below + b/2)
		below += b
		n1 += c
		n2 += b
		t := c + b
		ties += t*t*t - t
	}
	n := n1 + n2
	n1n2 = n1 * n2
	if n < 2 {
		return u, 0, n1n2
	}
	sigma = math.Sqrt(n1n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	return u, sigma, n1n2
}

// mannWhitneyGreater is the one-sided p-value of the U test that the
// canary's calls are slower than the baseline's: the normal approximation
// with the tie and continuity corrections. It is 1 when every call is in
// one bucket, since nothing can be told apart.
func mannWhitneyGreater(canary, baseline flags.LatencyHistogram) float64 {
	u, sigma, n1n2 := mannWhitneyU(canary, baseline)
	if sigma == 0 || math.IsNaN(sigma) {
		return 1
	}
	return normalSF((u - n1n2/2 - 0.5) / sigma)
}

// uTau is the standard deviation of the mixing distribution of the
// sequential U test, on the probability that a canary call is slower.
const uTau = 0.1

// mannWhitneyAlwaysValid is the always-valid one-sided p-value that the
// canary's calls are slower: 1/Λ, at most 1, of the mixture sequential
// test on U/(n₁n₂) − ½. It is 1 when every call is in one bucket.
func mannWhitneyAlwaysValid(canary, baseline flags.LatencyHistogram) float64 {
	u, sigma, n1n2 := mannWhitneyU(canary, baseline)
	if sigma == 0 || math.IsNaN(sigma) {
		return 1
	}
	sd := sigma / n1n2
	return min(1, 1/msprt(u/n1n2-0.5, 0, sd*sd, uTau))
}
