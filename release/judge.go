package release

import (
	"fmt"
	"slices"
	"strings"
)

// VerdictOutcome is what a [Verdict] tells the controller to do.
type VerdictOutcome string

// The outcomes of a [Verdict].
const (
	// VerdictPass: the current step may advance; the latest measurement of
	// every expected metric in the step is Successful.
	VerdictPass VerdictOutcome = "pass"
	// VerdictHold: keep going, not yet.
	VerdictHold VerdictOutcome = "hold"
	// VerdictPause: a metric was inconclusive more than
	// [Analysis.InconclusiveLimit] times in a row; wait for a person.
	VerdictPause VerdictOutcome = "pause"
	// VerdictFail: a metric failed; roll back.
	VerdictFail VerdictOutcome = "fail"
	// VerdictError: a metric could not be measured more than
	// [Analysis.ConsecutiveErrorLimit] times in a row; roll back, since the
	// release can no longer be judged.
	VerdictError VerdictOutcome = "error"
)

// Verdict is the judgement of a release attempt at one step, by [Judge].
type Verdict struct {
	// Outcome: VerdictPass (the current step may advance: the latest
	// measurement of every expected metric for this step is Successful),
	// VerdictHold (keep going, not yet), VerdictPause (inconclusiveLimit
	// reached: wait for a person), VerdictFail (roll back), VerdictError
	// (consecutiveErrorLimit exceeded: roll back, cannot judge).
	Outcome VerdictOutcome
	// Reason says why in a line, for people.
	Reason string
	// Decisive is the measurement that decided a Fail, Error or Pause; nil
	// for Pass and Hold. It points into the slice given to Judge.
	Decisive *Measurement
}

// metricKey names one expected metric: a built-in one of a flag, or a
// Prometheus metric (flag empty).
type metricKey struct{ metric, flag string }

func (k metricKey) String() string {
	if k.flag == "" {
		return k.metric
	}
	return k.metric + " of " + k.flag
}

// metricRun is what Judge keeps of one expected metric's measurements:
// counts, and indexes into the measurements (-1: none), which unlike
// pointers cost the collector nothing to store.
type metricRun struct {
	failed, errors, inconclusive int
	fail, errored                int
	paused                       int // the last of the run of Inconclusive
	latest                       int // in the step judged
}

// Judge is the verdict of one release attempt of plan p at step (0-based),
// a pure function of the attempt's measurements ms, oldest first, as
// stored: every driver that reads the same measurements reaches the same
// verdict, and a driver that takes over resumes where the last one was.
//
// The expected metrics of the step are, for each flag of the plan, the
// error rate and the latency unless the plan disables them (a nil
// [Analysis.ErrorRate] or [Analysis.Latency] is the metric with its
// defaults), and each Prometheus metric of the plan. Measurements of other
// metrics, and of steps after step, are ignored. The rules, in the order in
// which they take precedence:
//
//   - Fail: a metric has more than [Analysis.FailureLimit] Failed
//     measurements in the whole attempt (a negative limit is 0), or a
//     Failed measurement marked Critical.
//   - Error: a metric had more than [Analysis.ConsecutiveErrorLimit] (nil:
//     [DefaultConsecutiveErrorLimit]) Error measurements in a row, at any
//     point of the attempt: a rollback once decided is not forgotten when
//     a later measurement succeeds. An unknown phase counts as Error.
//   - Pause: with an [Analysis.InconclusiveLimit] above 0, the latest
//     measurements of a metric in the step end with more than that many
//     Inconclusive ones that were not Starved. Starved and Error
//     measurements neither count in that run nor end it; a Successful or
//     Failed one ends it.
//   - Pass: every expected metric has a measurement in the step and its
//     latest one is Successful. A plan with no expected metric never
//     passes: no data is never success.
//   - Hold otherwise.
//
// The verdict depends on the order of each metric's measurements only:
// interleaving the measurements of different metrics otherwise does not
// change it. When several metrics decide, Decisive is the earliest
// measurement (by At; at the same moment, the metric first in the plan).
func Judge(p *Plan, step int, ms []Measurement) Verdict {
	if p == nil {
		return Verdict{Outcome: VerdictHold, Reason: "no plan to judge by"}
	}
	keys := expectedMetrics(p)
	if len(keys) == 0 {
		return Verdict{Outcome: VerdictHold, Reason: "the plan has no metric to judge the step by"}
	}
	failureLimit := max(p.Analysis.FailureLimit, 0)
	errorLimit := DefaultConsecutiveErrorLimit
	if l := p.Analysis.ConsecutiveErrorLimit; l != nil {
		errorLimit = max(*l, 0)
	}
	inconclusiveLimit := p.Analysis.InconclusiveLimit

	runs := make([]metricRun, len(keys))
	for i := range runs {
		runs[i] = metricRun{fail: -1, errored: -1, paused: -1, latest: -1}
	}
	k := -1
	for i := range ms {
		m := &ms[i]
		if m.Step > step {
			continue
		}
		// A plan has a few metrics, and measurements come in runs of
		// them: a scan from the last one found beats a map.
		if k < 0 || keys[k].metric != m.Metric || keys[k].flag != m.Flag {
			if k = slices.Index(keys, metricKey{m.Metric, m.Flag}); k < 0 {
				continue
			}
		}
		r := &runs[k]
		if m.Step == step {
			r.latest = i
		}
		switch m.Phase {
		case PhaseFailed:
			r.failed++
			r.errors, r.inconclusive = 0, 0
			if r.fail < 0 && (m.Critical || r.failed > failureLimit) {
				r.fail = i
			}
		case PhaseSuccessful:
			r.errors, r.inconclusive = 0, 0
		case PhaseInconclusive:
			r.errors = 0
			if !m.Starved && m.Step == step {
				r.inconclusive++
				r.paused = i
			}
		default: // PhaseError, or a phase this version does not know
			r.errors++
			if r.errored < 0 && r.errors > errorLimit {
				r.errored = i
			}
		}
	}
	for i := range runs {
		if inconclusiveLimit <= 0 || runs[i].inconclusive <= inconclusiveLimit {
			runs[i].paused = -1
		}
	}

	if k, m := earliest(keys, runs, ms, func(r *metricRun) int { return r.fail }); m != nil {
		why := fmt.Sprintf("more than %d Failed", failureLimit)
		if m.Critical {
			why = "a Failed critical measurement"
		}
		return Verdict{Outcome: VerdictFail, Decisive: m, Reason: fmt.Sprintf("%s: %s (step %d): %s", k, why, m.Step+1, m.Reason)}
	}
	if k, m := earliest(keys, runs, ms, func(r *metricRun) int { return r.errored }); m != nil {
		return Verdict{Outcome: VerdictError, Decisive: m, Reason: fmt.Sprintf("%s: more than %d Error measurements in a row (step %d): %s", k, errorLimit, m.Step+1, m.Reason)}
	}
	if k, m := earliest(keys, runs, ms, func(r *metricRun) int { return r.paused }); m != nil {
		return Verdict{Outcome: VerdictPause, Decisive: m, Reason: fmt.Sprintf("%s: more than %d Inconclusive measurements in a row (step %d): %s", k, inconclusiveLimit, m.Step+1, m.Reason)}
	}
	var waiting []string
	for i, k := range keys {
		switch l := runs[i].latest; {
		case l < 0:
			waiting = append(waiting, k.String()+": no measurement yet")
		case ms[l].Phase != PhaseSuccessful:
			waiting = append(waiting, k.String()+": "+phaseText(&ms[l]))
		}
	}
	if len(waiting) > 0 {
		return Verdict{Outcome: VerdictHold, Reason: fmt.Sprintf("step %d holds: %s", step+1, strings.Join(waiting, "; "))}
	}
	return Verdict{Outcome: VerdictPass, Reason: fmt.Sprintf("step %d: every expected metric Successful (%d)", step+1, len(keys))}
}

// expectedMetrics are the metrics that judge a step of p, in the plan's
// order.
func expectedMetrics(p *Plan) []metricKey {
	var keys []metricKey
	errorRate := p.Analysis.ErrorRate == nil || !p.Analysis.ErrorRate.Disabled
	latency := p.Analysis.Latency == nil || !p.Analysis.Latency.Disabled
	for _, f := range p.Flags {
		if errorRate {
			keys = append(keys, metricKey{MetricErrorRate, f.Key})
		}
		if latency {
			keys = append(keys, metricKey{MetricLatency, f.Key})
		}
	}
	for _, pm := range p.Analysis.Prometheus {
		keys = append(keys, metricKey{pm.Name, ""})
	}
	return keys
}

// earliest is the measurement of ms that pick returns for some run, the
// earliest by At and then by the order of keys, with its key.
func earliest(keys []metricKey, runs []metricRun, ms []Measurement, pick func(*metricRun) int) (metricKey, *Measurement) {
	var (
		key  metricKey
		best *Measurement
	)
	for i := range runs {
		if j := pick(&runs[i]); j >= 0 && (best == nil || ms[j].At.Before(best.At)) {
			key, best = keys[i], &ms[j]
		}
	}
	return key, best
}

func phaseText(m *Measurement) string {
	if m.Starved {
		return "Inconclusive, too few samples"
	}
	return string(m.Phase)
}
