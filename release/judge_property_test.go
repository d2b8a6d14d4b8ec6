package release_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// judgeCase is a random plan, a step and, for each metric, its
// measurements in order.
type judgeCase struct {
	plan   *release.Plan
	step   int
	series [][]release.Measurement
}

// genJudgeCase draws a case whose phases are drawn from phases (all of
// them when empty).
func genJudgeCase(r *rand.Rand, phases ...release.Phase) judgeCase {
	a := release.Analysis{FailureLimit: r.IntN(3), InconclusiveLimit: r.IntN(3)}
	if r.IntN(2) == 0 {
		a.ConsecutiveErrorLimit = intp(r.IntN(4))
	}
	if r.IntN(4) == 0 {
		a.Latency = &release.LatencyMetric{Disabled: true}
	}
	c := judgeCase{plan: judgePlan(r.IntN(2) == 0, a), step: r.IntN(3)}
	metrics := []string{er, lat, "p95", "gone"}
	if len(phases) == 0 {
		phases = []release.Phase{S, F, I, E}
	}
	for _, metric := range metrics {
		var s []release.Measurement
		step, sec := 0, r.IntN(5)
		for range r.IntN(12) {
			if r.IntN(5) == 0 && step <= c.step {
				step++
			}
			sec += r.IntN(3) // measurements of one metric can share a moment with another's
			m := meas(metric, step, sec, phases[r.IntN(len(phases))])
			m.Starved = m.Phase == I && r.IntN(3) == 0
			m.Critical = m.Phase == F && r.IntN(6) == 0
			s = append(s, m)
		}
		c.series = append(c.series, s)
	}
	return c
}

// interleave merges the series in a random order that keeps each
// series' own order.
func interleave(r *rand.Rand, series [][]release.Measurement) []release.Measurement {
	next := make([]int, len(series))
	var out []release.Measurement
	for {
		var open []int
		for i, s := range series {
			if next[i] < len(s) {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return out
		}
		i := open[r.IntN(len(open))]
		out = append(out, series[i][next[i]])
		next[i]++
	}
}

const judgeRounds = 5000

func TestJudgePropertyNoPassFromFailuresAndErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range judgeRounds {
		c := genJudgeCase(r, F, E)
		ms := interleave(r, c.series)
		v := release.Judge(c.plan, c.step, ms)
		require.NotEqual(t, release.VerdictPass, v.Outcome, "%+v", ms)
		if c.plan.Analysis.FailureLimit == 0 && slices.ContainsFunc(ms, func(m release.Measurement) bool {
			return m.Phase == F && m.Step <= c.step && expected(c.plan, m.Metric)
		}) {
			require.Equal(t, release.VerdictFail, v.Outcome, "the first Failed fails")
		}
	}
}

// expected says whether metric judges a step of plan (a judgePlan).
func expected(plan *release.Plan, metric string) bool {
	switch metric {
	case er:
		return true
	case lat:
		return plan.Analysis.Latency == nil
	case "p95":
		return len(plan.Analysis.Prometheus) > 0
	}
	return false
}

func TestJudgePropertyNothingHolds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range judgeRounds / 10 {
		c := genJudgeCase(r)
		for _, ms := range [][]release.Measurement{nil, {}} {
			v := release.Judge(c.plan, c.step, ms)
			assert.Equal(t, release.VerdictHold, v.Outcome)
			assert.Nil(t, v.Decisive)
		}
	}
}

// The same measurements, in any interleaving of the metrics that keeps
// each metric's order, give the same verdict; twice the same input gives
// the same verdict, and Judge leaves its input as it was.
func TestJudgePropertyDeterministicAndInterleavingFree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range judgeRounds {
		c := genJudgeCase(r)
		ms := interleave(r, c.series)
		before := slices.Clone(ms)
		v := release.Judge(c.plan, c.step, ms)
		require.Equal(t, before, ms, "Judge changed its input")
		require.Equal(t, v, release.Judge(c.plan, c.step, ms))
		other := release.Judge(c.plan, c.step, interleave(r, c.series))
		require.Equal(t, v.Outcome, other.Outcome)
		require.Equal(t, v.Reason, other.Reason)
		if v.Decisive == nil {
			require.Nil(t, other.Decisive)
		} else {
			require.NotNil(t, other.Decisive)
			require.Equal(t, *v.Decisive, *other.Decisive)
		}
	}
}

// A Fail or an Error, once reached, stays whatever measurements follow:
// a rollback is never forgotten.
func TestJudgePropertyRollbackStays(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range judgeRounds {
		c := genJudgeCase(r)
		ms := interleave(r, c.series)
		for n := range len(ms) {
			v := release.Judge(c.plan, c.step, ms[:n])
			if v.Outcome != release.VerdictFail && v.Outcome != release.VerdictError {
				continue
			}
			all := release.Judge(c.plan, c.step, ms)
			if v.Outcome == release.VerdictFail {
				require.Equal(t, release.VerdictFail, all.Outcome)
			} else {
				require.Contains(t, []release.VerdictOutcome{release.VerdictFail, release.VerdictError}, all.Outcome)
			}
			break
		}
	}
}

// A Pass has, for every expected metric, a latest measurement in the step
// that is Successful, and no Failed critical measurement before it.
func TestJudgePropertyPassIsEarned(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	passes := 0
	for range judgeRounds {
		c := genJudgeCase(r, S, S, S, I, E, F)
		ms := interleave(r, c.series)
		v := release.Judge(c.plan, c.step, ms)
		if v.Outcome != release.VerdictPass {
			continue
		}
		passes++
		latest := map[string]release.Measurement{}
		for _, m := range ms {
			require.False(t, m.Critical && m.Phase == F && m.Step <= c.step && expected(c.plan, m.Metric), "passed over a critical failure")
			if m.Step == c.step {
				latest[m.Metric] = m
			}
		}
		for _, metric := range []string{er, lat, "p95"} {
			if !expected(c.plan, metric) {
				continue
			}
			l, ok := latest[metric]
			require.True(t, ok, "%s has no measurement in the step", metric)
			require.Equal(t, S, l.Phase, metric)
		}
	}
	assert.Greater(t, passes, judgeRounds/100, "the generator makes passing cases too")
}

// Starved measurements appended to a held step never make it pass.
func TestJudgePropertyStarvedNeverPasses(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range judgeRounds {
		c := genJudgeCase(r)
		ms := interleave(r, c.series)
		if release.Judge(c.plan, c.step, ms).Outcome != release.VerdictHold {
			continue
		}
		m := starved(er, c.step, 100)
		ms = append(ms, m, starved(lat, c.step, 100))
		require.NotEqual(t, release.VerdictPass, release.Judge(c.plan, c.step, ms).Outcome)
	}
}
