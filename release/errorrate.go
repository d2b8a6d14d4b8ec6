package release

import (
	"math"
	"strconv"
	"time"
)

// MeasureErrorRate judges the canary's error rate against the baseline's
// over w, the window of one flag, at now. It is a pure function: the same
// arguments give the same measurement.
//
// The zero fields of m take their defaults: Margin 0.01 ([DefaultMargin]),
// Alpha 0.001 ([DefaultAlpha]); a Margin that is not above 0, or an Alpha
// not inside (0, 1), is taken as 0. minSamples ≤ 0 means
// [DefaultMinSamples].
//
// Samples. An arm with fewer than minSamples calls makes the measurement
// Inconclusive and Starved, never Successful: too little data holds a
// step. It may be Failed, when the test below already has the evidence
// (the test is valid at any sample size; minSamples guards successes).
// One exception: a window of a step at 100% ([Window].CanaryOnly) has no
// baseline to compare with, and is judged on MaxErrorRate alone once the
// canary has minSamples; without a ceiling it is Successful (the steps
// before it compared the arms). Below 100%, a baseline arm short of
// samples holds the step like a canary arm.
//
// The breaker. A canary arm with Rejected calls is Failed at once: a
// Switch turned calls assigned to the canary away from the new path
// because its breaker opened (or it was killed), which is the Switch's own
// measure of a failing path, and those calls are in no count here.
//
// The test. The analysis looks at a growing window every interval, so a
// test that is only valid for one look (a z test, a Wilson bound, a
// Bayesian posterior probability) would, looked at every second, fail
// identical arms far more often than its alpha says. The test is instead a
// mixture sequential probability ratio test (mSPRT, Johari, Pekelis and
// Walsh, "Always valid inference"), whose false-failure rate stays below
// Alpha however many times it is looked at: with the difference of the
// observed rates θ̂ = p̂canary − p̂baseline, its variance V, and a normal
// mixing distribution of standard deviation τ over the excess above the
// margin δ,
//
//	Λ = sqrt(V/(V+τ²)) · exp((θ̂−δ)² τ² / (2V(V+τ²)))   for θ̂ > δ
//
// and the measurement is Failed when Λ ≥ 1/Alpha, which rejects
// H0: p_canary − p_baseline ≤ Margin. τ is twice the margin: the mixture
// puts its weight on excesses of the size a person said matters, where the
// test is most powerful. A much larger τ raises the bar on every look by
// about ln(τ/√V) and delays excesses near the margin; a smaller one needs
// more samples for the large ones. Against a baseline at 1% with the
// default margin, and of the τ from half to four times the margin, twice
// the margin needs 4% more samples per arm than the best τ for an excess of
// 1 pt, none more for 3 pt, 14% more for 9 pt and 50% for 49 pt, where
// τ = Margin needs 0%, 17%, 86% and 150% more. V is the sum of the arms'
// binomial variances taken at the Jeffreys estimate (errors+½)/(calls+1),
// so that an arm with no errors (3 in 100 against 0 in 100) has a variance
// above zero.
//
// The ceiling. When MaxErrorRate c is set (below 1), a second test on the
// canary alone, with or without a baseline, fails the measurement too when
// it rejects H0: p_canary ≤ c. It is exact, not a normal approximation:
// with k errors in n canary calls,
//
//	Λ = ∫ p^k (1−p)^(n−k) / (c^k (1−c)^(n−k)) dπ(p),   π uniform on (c, min(1, 5c)]
//
// is the binomial likelihood ratio of each rate p above the ceiling against
// the ceiling itself, averaged over π. If the true rate p' is at most c,
// each call multiplies the ratio of a p by a factor whose expectation,
// 1 + (p−c)(p'−c)/(c(1−c)), is at most 1: each ratio, and so their average
// Λ, is a nonnegative supermartingale that is 1 before the first call, and
// by Ville's inequality the probability that Λ ever reaches 1/Alpha is at
// most Alpha. That holds exactly, at any n (also with a handful of
// expected errors, where the binomial tail is far from normal) and however
// many times it is looked at. The prior spans four times the ceiling above
// it, for power across the excesses that matter: against a ceiling of 1% at
// Alpha 0.01, a canary erring at 2%, 5% and 50% fails after a median of
// about 1,250, 115 and 8 calls (1,930, 170 and 12 at Alpha 0.001). A prior
// on (c, 3c] needs some 6% fewer calls at 2% but 35% more at 5% and 50%
// more at 50%; one on (c, 10c] 4% fewer at 5% and 2 fewer at 50%, but 13%
// more at 2%; one as wide as 4 × Margin, tied to the margin as the
// difference test's τ is, ignores the ceiling's scale and needs 2.5 times
// the calls against 5× a ceiling of 5%. The normal mixture that this test
// replaced needed about 2,630, 410 and 84. Λ is computed in log space, by
// Gauss-Legendre quadrature on each side of the integrand's peak: finite,
// and within a relative 1e-8, for any n and k. Each of the two tests runs
// at Alpha.
//
// The phase. Failed when either test rejects; Successful when no arm is
// short of samples, nothing failed, the canary's observed rate is at most
// the baseline's plus Margin and, with a ceiling, at most MaxErrorRate;
// Inconclusive otherwise (worse than allowed, not yet proven). Statistic is
// the larger Λ of the two tests, named [StatisticMSPRT].
func MeasureErrorRate(m ErrorRateMetric, w Window, minSamples int, now time.Time) Measurement {
	margin := orDefault(m.Margin, DefaultMargin, 1)
	alpha := orDefault(m.Alpha, DefaultAlpha, 1)
	need := effectiveMinSamples(minSamples)
	c, b := w.Canary, w.Baseline
	ce, be := min(c.Errors, c.Calls), min(b.Errors, b.Calls)
	out := Measurement{
		Metric:        MetricErrorRate,
		Flag:          w.Flag,
		At:            now,
		Critical:      m.Critical,
		Canary:        ptr(c.ErrorRate()),
		CanaryCalls:   c.Calls,
		BaselineCalls: b.Calls,
		StatisticName: StatisticMSPRT,
	}
	// The reason is built in one buffer: the analysis takes a measurement
	// of every flag every second, and most of its cost would be formatting.
	r := make([]byte, 0, 160)
	r = append(r, "canary "...)
	r = appendRate(r, c.ErrorRate(), ce, c.Calls)
	alone := w.CanaryOnly
	if b.Calls > 0 {
		out.Baseline = ptr(b.ErrorRate())
	}
	if !alone {
		r = append(r, " vs baseline "...)
		r = appendRate(r, b.ErrorRate(), be, b.Calls)
		r = append(r, ", margin "...)
		r = strconv.AppendFloat(r, margin*100, 'f', 1, 64)
		r = append(r, " pt"...)
	}
	if c.Rejected > 0 {
		// A Switch's breaker opened (or the Switch was killed) on an
		// instance: the new path failed there by the Switch's own measure,
		// and the calls it turned away never reach this test. Waiting for
		// samples the breaker withholds would hold a failing step forever.
		out.Phase = PhaseFailed
		r = append(r, ": a Switch sent "...)
		r = strconv.AppendUint(r, c.Rejected, 10)
		out.Reason = string(append(r, " canary calls to the old path (its breaker opened, or it was killed)"...))
		return out
	}

	nc, pc := float64(c.Calls), c.ErrorRate()
	vc := smoothedVariance(float64(ce), nc)
	threshold := 1 / alpha
	var diffLR, ceilLR float64
	if !alone && c.Calls > 0 && b.Calls > 0 {
		nb, pb := float64(b.Calls), b.ErrorRate()
		diffLR = msprt(pc-pb, margin, vc+smoothedVariance(float64(be), nb), 2*margin)
	}
	if m.MaxErrorRate > 0 && m.MaxErrorRate < 1 {
		ceilLR = ceilingLR(ce, c.Calls, m.MaxErrorRate)
	}
	out.Statistic = max(diffLR, ceilLR)
	// Too few samples never make a success; evidence of failure is taken
	// whenever it is there: the test is valid at any sample size.
	if (c.Calls < need || (!alone && b.Calls < need)) && diffLR < threshold && ceilLR < threshold {
		out.Phase, out.Starved = PhaseInconclusive, true
		r = append(r, ": too few calls, "...)
		r = strconv.AppendUint(r, need, 10)
		out.Reason = string(append(r, " per arm needed"...))
		return out
	}
	ceiling := func(r []byte) []byte {
		r = append(r, ": above the ceiling of "...)
		return appendPercent(r, m.MaxErrorRate)
	}
	switch {
	case ceilLR >= threshold:
		out.Phase = PhaseFailed
		r = appendLR(ceiling(r), ", ", ceilLR, " ≥ ", threshold, "")
	case diffLR >= threshold:
		out.Phase = PhaseFailed
		r = appendLR(r, ": ", diffLR, " ≥ ", threshold, "")
	case m.MaxErrorRate > 0 && pc > m.MaxErrorRate:
		out.Phase = PhaseInconclusive
		r = appendLR(ceiling(r), ", not proven (", ceilLR, " < ", threshold, ")")
	case !alone && pc > b.ErrorRate()+margin:
		out.Phase = PhaseInconclusive
		r = appendLR(append(r, ": above the margin"...), ", not proven (", diffLR, " < ", threshold, ")")
	case alone && m.MaxErrorRate == 0:
		out.Phase = PhaseSuccessful
		r = append(r, ": no baseline and no ceiling to compare with"...)
	case alone:
		out.Phase = PhaseSuccessful
		r = append(r, ": within the ceiling of "...)
		r = append(appendPercent(r, m.MaxErrorRate), ", no baseline"...)
	default:
		out.Phase = PhaseSuccessful
		r = append(r, ": within the margin"...)
	}
	out.Reason = string(r)
	return out
}

// ceilingPriorSpan is the width of the ceiling test's prior over the error
// rates above the ceiling c, as a multiple of c: π is uniform on
// (c, min(1, c+ceilingPriorSpan·c)].
const ceilingPriorSpan = 4

// ceilingCut is how far below its maximum, in log, the integrand of the
// ceiling test is cut: what lies beyond is below e⁻³⁰ of the integral.
const ceilingCut = 30

// ceilingLR is the mixture likelihood ratio of errors out of calls against
// H0: p ≤ c, for c in (0, 1), described in [MeasureErrorRate]:
//
//	Λ = (1/w) ∫₀ʷ exp(g(d)) dd,   g(d) = k·ln(1 + d/c) + (n−k)·ln(1 − d/(1−c))
//
// over the offset d = p − c of the rates of the prior, of width w. Offsets
// rather than rates keep full precision when c is near 0 or 1. g is
// concave, so the integrand has one peak, at d* (the observed rate's
// offset, within [0, w]), and falls away from it on both sides: each side
// is integrated up to where g is ceilingCut below its peak, by a
// Gauss-Legendre rule, and the sum is taken relative to exp(g(d*)), so
// that nothing overflows however large n is. The cost is 19 to some 40
// evaluations of g, whatever n.
func ceilingLR(errors, calls uint64, c float64) float64 {
	if calls == 0 {
		return 1
	}
	n := float64(calls)
	r := binomialRatio{k: float64(min(errors, calls)), c: c, q: 1 - c}
	r.m = n - r.k
	w := min(ceilingPriorSpan*c, r.q)
	peak := min(max(r.k/n-c, 0), w)
	top := r.log(peak)
	// Where g falls ceilingCut below its peak, on a line of its slope at
	// the peak or a parabola of its curvature there, whichever is nearer:
	// the first guess of the search below, floored so that it ends whatever
	// the figures.
	var curv, slope float64
	p, notP := c+peak, r.q-peak
	if r.k > 0 {
		curv, slope = math.Sqrt(r.k)/p, r.k/p
	}
	if r.m > 0 {
		curv, slope = math.Hypot(curv, math.Sqrt(r.m)/notP), slope-r.m/notP
	}
	guess := max(min(ceilingCut/math.Abs(slope), math.Sqrt(2*ceilingCut)/curv), w*0x1p-60)
	floor := top - ceilingCut
	var sum float64
	if peak < w {
		sum += r.integrate(peak, r.reach(peak, w, guess, floor), top)
	}
	if peak > 0 {
		sum += r.integrate(r.reach(peak, 0, guess, floor), peak, top)
	}
	return math.Exp(min(top+math.Log(sum/w), maxLogLR))
}

// binomialRatio is the log likelihood ratio of k errors and m successes at
// the rate c+d against the rate c, as a function of the offset d; q is 1−c.
type binomialRatio struct{ k, m, c, q float64 }

func (r binomialRatio) log(d float64) float64 {
	var g float64
	if r.k > 0 {
		g = r.k * math.Log1p(d/r.c)
	}
	if r.m > 0 {
		g += r.m * math.Log1p(-d/r.q)
	}
	return g
}

// reach is a point between from, the peak, and to beyond which the log
// ratio is below floor: steps from the peak double from guess until one
// lands below floor, and two halvings of the last step bring the point
// within a quarter of that step of the crossing, never short of it (g is
// concave: once below floor, it stays below).
func (r binomialRatio) reach(from, to, guess, floor float64) float64 {
	span, dir := to-from, 1.0
	if span < 0 {
		span, dir = -span, -1
	}
	in, out := 0.0, span
	for t, i := guess, 0; t < span && i < 128; t, i = 2*t, i+1 {
		if r.log(from+dir*t) <= floor {
			out = t
			break
		}
		in = t
	}
	if out == span && r.log(to) > floor {
		return to
	}
	for range 2 {
		mid := 0.5 * (in + out)
		if r.log(from+dir*mid) > floor {
			in = mid
		} else {
			out = mid
		}
	}
	return from + dir*out
}

// integrate is ∫ exp(g(d) − top) dd over [lo, hi] by the 16-point
// Gauss-Legendre rule.
func (r binomialRatio) integrate(lo, hi, top float64) float64 {
	h, mid := 0.5*(hi-lo), 0.5*(hi+lo)
	var sum float64
	for i, x := range gaussLegendre16Nodes {
		sum += gaussLegendre16Weights[i] * (math.Exp(r.log(mid-h*x)-top) + math.Exp(r.log(mid+h*x)-top))
	}
	return h * sum
}

// The positive nodes of the 16-point Gauss-Legendre rule on [−1, 1] (the
// others are their opposites) and their weights.
var (
	gaussLegendre16Nodes = [8]float64{
		0.095012509837637441, 0.28160355077925892, 0.45801677765722737, 0.61787624440264377,
		0.755404408355003, 0.86563120238783176, 0.9445750230732326, 0.98940093499164994,
	}
	gaussLegendre16Weights = [8]float64{
		0.18945061045506847, 0.18260341504492361, 0.16915651939500256, 0.14959598881657682,
		0.12462897125553395, 0.095158511682492897, 0.062253523938647776, 0.027152459411754058,
	}
)
