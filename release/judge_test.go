package release_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// judgePlan is a plan of one flag, "checkout", with the error rate and the
// latency and, with prom, a Prometheus metric "p95".
func judgePlan(prom bool, a release.Analysis) *release.Plan {
	p := &release.Plan{
		ID:       "r1",
		Flags:    []release.FlagSpec{{Key: "checkout", Baseline: "off", Canary: "on"}},
		Steps:    []release.Step{{Weights: map[string]int{"checkout": 10}}, {Weights: map[string]int{"checkout": 50}}},
		Analysis: a,
	}
	if prom {
		p.Analysis.Prometheus = []release.PrometheusMetric{{Name: "p95", Address: "http://prom", Canary: "x"}}
	}
	return p
}

// meas is a measurement of metric (of "checkout" unless it is "p95") at
// step, sec seconds after at.
func meas(metric string, step, sec int, phase release.Phase) release.Measurement {
	m := release.Measurement{Metric: metric, Flag: "checkout", Step: step, At: at.Add(time.Duration(sec) * time.Second), Phase: phase, Reason: "r"}
	if metric == "p95" {
		m.Flag = ""
	}
	return m
}

func starved(metric string, step, sec int) release.Measurement {
	m := meas(metric, step, sec, release.PhaseInconclusive)
	m.Starved = true
	return m
}

const (
	er  = release.MetricErrorRate
	lat = release.MetricLatency
	S   = release.PhaseSuccessful
	F   = release.PhaseFailed
	I   = release.PhaseInconclusive
	E   = release.PhaseError
)

func intp(n int) *int { return &n }

func TestJudge(t *testing.T) {
	critical := meas(lat, 1, 5, F)
	critical.Critical = true
	cases := []struct {
		name     string
		plan     *release.Plan
		step     int
		ms       []release.Measurement
		outcome  release.VerdictOutcome
		decisive int // index into ms, -1: none
		reason   string
	}{
		{"nothing yet", judgePlan(false, release.Analysis{}), 0, nil, release.VerdictHold, -1, "error-rate of checkout: no measurement yet; latency of checkout: no measurement yet"},
		{"all successful", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S)}, release.VerdictPass, -1, "step 1: every expected metric Successful (2)"},
		{"one metric missing", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(er, 0, 2, S)}, release.VerdictHold, -1, "latency of checkout: no measurement yet"},
		{"the latest counts", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas(er, 0, 2, I)}, release.VerdictHold, -1, "error-rate of checkout: Inconclusive"},
		{"starved holds", judgePlan(false, release.Analysis{}), 0, []release.Measurement{starved(er, 0, 1), meas(lat, 0, 1, S)}, release.VerdictHold, -1, "too few samples"},
		{"success of an earlier step does not pass", judgePlan(false, release.Analysis{}), 1, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas(er, 1, 2, S)}, release.VerdictHold, -1, "step 2 holds: latency of checkout: no measurement yet"},
		{"later steps are ignored", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas(er, 1, 2, F)}, release.VerdictPass, -1, ""},
		{"a failure fails", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas(er, 0, 2, F), meas(er, 0, 3, S)}, release.VerdictFail, 2, "error-rate of checkout: more than 0 Failed (step 1)"},
		{"failure limit", judgePlan(false, release.Analysis{FailureLimit: 2}), 1, []release.Measurement{meas(er, 0, 1, F), meas(lat, 0, 1, S), meas(er, 1, 2, F), meas(lat, 1, 2, S), meas(er, 1, 3, S)}, release.VerdictPass, -1, ""},
		{"failures count over the attempt", judgePlan(false, release.Analysis{FailureLimit: 2}), 1, []release.Measurement{meas(er, 0, 1, F), meas(er, 1, 2, F), meas(lat, 1, 2, S), meas(er, 1, 3, F), meas(er, 1, 4, S)}, release.VerdictFail, 3, "more than 2 Failed"},
		{"failures count per metric", judgePlan(false, release.Analysis{FailureLimit: 1}), 1, []release.Measurement{meas(er, 1, 1, F), meas(lat, 1, 2, F), meas(er, 1, 3, S), meas(lat, 1, 3, S)}, release.VerdictPass, -1, ""},
		{"critical fails at once", judgePlan(false, release.Analysis{FailureLimit: 5}), 1, []release.Measurement{meas(er, 1, 1, S), critical, meas(lat, 1, 6, S)}, release.VerdictFail, 1, "a Failed critical measurement"},
		{"errors within the limit", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, E), meas(er, 0, 2, E), meas(er, 0, 3, E), meas(er, 0, 4, E), meas(er, 0, 5, S), meas(lat, 0, 5, S)}, release.VerdictPass, -1, ""},
		{"errors beyond the default limit", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, E), meas(er, 0, 2, E), meas(er, 0, 3, E), meas(er, 0, 4, E), meas(er, 0, 5, E)}, release.VerdictError, 4, "more than 4 Error measurements in a row"},
		{"an error rollback is not forgotten", judgePlan(false, release.Analysis{ConsecutiveErrorLimit: intp(1)}), 0, []release.Measurement{meas(lat, 0, 1, E), meas(lat, 0, 2, E), meas(lat, 0, 3, S), meas(er, 0, 3, S)}, release.VerdictError, 1, "latency of checkout: more than 1 Error"},
		{"a success breaks the errors", judgePlan(false, release.Analysis{ConsecutiveErrorLimit: intp(1)}), 0, []release.Measurement{meas(lat, 0, 1, E), meas(lat, 0, 2, S), meas(lat, 0, 3, E), meas(lat, 0, 4, S), meas(er, 0, 4, S)}, release.VerdictPass, -1, ""},
		{"zero error limit", judgePlan(false, release.Analysis{ConsecutiveErrorLimit: intp(0)}), 0, []release.Measurement{meas(er, 0, 1, E)}, release.VerdictError, 0, "more than 0 Error"},
		{"unknown phase is an error", judgePlan(false, release.Analysis{ConsecutiveErrorLimit: intp(0)}), 0, []release.Measurement{meas(er, 0, 1, "Bogus")}, release.VerdictError, 0, ""},
		{"fail before error", judgePlan(false, release.Analysis{ConsecutiveErrorLimit: intp(0)}), 0, []release.Measurement{meas(er, 0, 1, E), meas(lat, 0, 2, F)}, release.VerdictFail, 1, ""},
		{"inconclusive without a limit holds", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, I), meas(er, 0, 2, I), meas(er, 0, 3, I), meas(lat, 0, 3, S)}, release.VerdictHold, -1, ""},
		{"inconclusive limit pauses", judgePlan(false, release.Analysis{InconclusiveLimit: 2}), 0, []release.Measurement{meas(er, 0, 1, I), meas(er, 0, 2, I), meas(er, 0, 3, I), meas(lat, 0, 3, S)}, release.VerdictPause, 2, "more than 2 Inconclusive"},
		{"starved and errors do not count", judgePlan(false, release.Analysis{InconclusiveLimit: 2}), 0, []release.Measurement{meas(er, 0, 1, I), starved(er, 0, 2), meas(er, 0, 3, E), meas(er, 0, 4, I), starved(er, 0, 5)}, release.VerdictHold, -1, ""},
		{"nor do they end the run", judgePlan(false, release.Analysis{InconclusiveLimit: 2}), 0, []release.Measurement{meas(er, 0, 1, I), starved(er, 0, 2), meas(er, 0, 3, I), meas(er, 0, 4, E), meas(er, 0, 5, I), starved(er, 0, 6)}, release.VerdictPause, 4, ""},
		{"a success ends the run", judgePlan(false, release.Analysis{InconclusiveLimit: 2}), 0, []release.Measurement{meas(er, 0, 1, I), meas(er, 0, 2, I), meas(er, 0, 3, I), meas(er, 0, 4, S), meas(lat, 0, 4, S)}, release.VerdictPass, -1, ""},
		{"runs of earlier steps do not count", judgePlan(false, release.Analysis{InconclusiveLimit: 2}), 1, []release.Measurement{meas(er, 0, 1, I), meas(er, 0, 2, I), meas(er, 1, 3, I), meas(er, 1, 4, I)}, release.VerdictHold, -1, ""},
		{"disabled metrics are not expected", judgePlan(false, release.Analysis{Latency: &release.LatencyMetric{Disabled: true}}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, F)}, release.VerdictPass, -1, ""},
		{"prometheus is expected", judgePlan(true, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S)}, release.VerdictHold, -1, "p95: no measurement yet"},
		{"prometheus passes", judgePlan(true, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas("p95", 0, 1, S)}, release.VerdictPass, -1, "every expected metric Successful (3)"},
		{"unknown metrics are ignored", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(er, 0, 1, S), meas(lat, 0, 1, S), meas("gone", 0, 2, F)}, release.VerdictPass, -1, ""},
		{"the earliest decides", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(lat, 0, 9, F), meas(er, 0, 4, F)}, release.VerdictFail, 1, "error-rate of checkout"},
		{"at one moment, the plan's order", judgePlan(false, release.Analysis{}), 0, []release.Measurement{meas(lat, 0, 4, F), meas(er, 0, 4, F)}, release.VerdictFail, 1, "error-rate of checkout"},
		{"nothing to judge by", judgePlan(false, release.Analysis{ErrorRate: &release.ErrorRateMetric{Disabled: true}, Latency: &release.LatencyMetric{Disabled: true}}), 0, []release.Measurement{meas(er, 0, 1, S)}, release.VerdictHold, -1, "no metric"},
		{"no plan", nil, 0, []release.Measurement{meas(er, 0, 1, S)}, release.VerdictHold, -1, "no plan"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := release.Judge(tc.plan, tc.step, tc.ms)
			assert.Equal(t, tc.outcome, v.Outcome, v.Reason)
			assert.Contains(t, v.Reason, tc.reason)
			if tc.decisive < 0 {
				assert.Nil(t, v.Decisive)
				return
			}
			require.NotNil(t, v.Decisive)
			assert.Same(t, &tc.ms[tc.decisive], v.Decisive)
		})
	}
}

// The reason of a Fail carries the decisive measurement's.
func TestJudgeReasonNamesTheMeasurement(t *testing.T) {
	w := errWindow(200, 2000, 20, 2000)
	m := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 0, at)
	m.Step = 1
	v := release.Judge(judgePlan(false, release.Analysis{}), 1, []release.Measurement{m})
	require.Equal(t, release.VerdictFail, v.Outcome)
	assert.Equal(t, "error-rate of checkout: more than 0 Failed (step 2): "+m.Reason, v.Reason)
}
