package release

import (
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
// The ceiling. When MaxErrorRate is set, the same test on the canary alone
// (H0: p_canary ≤ MaxErrorRate, same τ and Alpha) fails the measurement
// too, with or without a baseline. Each of the two tests runs at Alpha.
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
	if m.MaxErrorRate > 0 && c.Calls > 0 {
		ceilLR = msprt(pc, m.MaxErrorRate, vc, 2*margin)
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
