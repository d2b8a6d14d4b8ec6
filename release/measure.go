package release

import (
	"time"

	"github.com/rollsafe/rollsafe/flags"
)

// Phase is the outcome of one measurement, as in Argo Rollouts.
type Phase string

const (
	// PhaseSuccessful: enough samples in every arm, and nothing wrong.
	PhaseSuccessful Phase = "Successful"
	// PhaseFailed: the canary is worse, with the evidence the metric asks.
	PhaseFailed Phase = "Failed"
	// PhaseInconclusive: neither; too few samples always is, never
	// Successful.
	PhaseInconclusive Phase = "Inconclusive"
	// PhaseError: the measurement could not be taken (a query failed).
	PhaseError Phase = "Error"
)

// Names of the built-in metrics in measurements.
const (
	MetricErrorRate = "error-rate"
	MetricLatency   = "latency"
)

// Arm is one arm's counts over a window, summed over the instances.
type Arm struct {
	// Calls and Errors count the arm's calls and the failed ones.
	Calls  uint64 `json:"calls"`
	Errors uint64 `json:"errors"`
	// Panics counts calls that panicked (in Errors too).
	Panics uint64 `json:"panics,omitempty"`
	// Rejected counts, for the canary arm, the calls assigned to it that a
	// Switch sent to the old path instead because its breaker was open (or
	// it was killed on that instance): the new path failed there by the
	// Switch's own measure. Not in Calls.
	Rejected uint64 `json:"rejected,omitempty"`
	// Timed is how many calls were timed; Histogram counts them by
	// duration (see [flags.PathStats]).
	Timed     uint64                 `json:"timed"`
	Latency   time.Duration          `json:"latencyNs"`
	Histogram flags.LatencyHistogram `json:"-"`
}

// Add adds b's counts to a.
func (a *Arm) Add(b Arm) {
	a.Calls += b.Calls
	a.Errors += b.Errors
	a.Panics += b.Panics
	a.Rejected += b.Rejected
	a.Timed += b.Timed
	a.Latency += b.Latency
	for i := range a.Histogram.Counts {
		a.Histogram.Counts[i] += b.Histogram.Counts[i]
	}
}

// ErrorRate is Errors / Calls, or 0 without calls.
func (a Arm) ErrorRate() float64 {
	if a.Calls == 0 {
		return 0
	}
	return float64(a.Errors) / float64(a.Calls)
}

// Window is both arms of one flag over the same time, summed over every
// instance that recorded samples in it.
type Window struct {
	Flag string `json:"flag"`
	// From and To bound the window: samples whose interval ended after From
	// and not after To.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Instances is how many instances contributed samples.
	Instances int `json:"instances"`
	Canary    Arm `json:"canary"`
	Baseline  Arm `json:"baseline"`
	// CanaryOnly is set for a step that sends all traffic to the canary
	// (100%): there is no baseline to compare with, whatever calls the
	// baseline arm still counts, and the canary is judged on the ceilings
	// alone. Unset, a baseline arm short of samples holds the step.
	CanaryOnly bool `json:"canaryOnly,omitempty"`
}

// Measurement is one metric's judgement of one flag at one moment; the
// verdict of a release is a function of its stored measurements alone (see
// [Judge]).
type Measurement struct {
	// Metric is [MetricErrorRate], [MetricLatency] or the name of a
	// Prometheus metric.
	Metric string `json:"metric"`
	// Flag is the flag judged; empty for a Prometheus metric.
	Flag string `json:"flag,omitempty"`
	// Step is the step (0-based) during which the measurement was taken.
	Step int `json:"step"`
	// At is when it was taken.
	At    time.Time `json:"at"`
	Phase Phase     `json:"phase"`
	// Starved is set on an Inconclusive measurement whose cause is too few
	// samples: it holds the step and never counts toward
	// [Analysis.InconclusiveLimit].
	Starved bool `json:"starved,omitempty"`
	// Critical is copied from the metric: its first Failed fails the
	// release.
	Critical bool `json:"critical,omitempty"`
	// Canary and Baseline are the values compared (an error rate as a
	// fraction, a latency in seconds, a Prometheus query's result);
	// Baseline is nil when there was none.
	Canary   *float64 `json:"canary,omitempty"`
	Baseline *float64 `json:"baseline,omitempty"`
	// Statistic is the test's figure, named by StatisticName (such as the
	// mSPRT's likelihood ratio or the U test's p-value); 0 when none.
	Statistic     float64 `json:"statistic,omitempty"`
	StatisticName string  `json:"statisticName,omitempty"`
	// CanaryCalls and BaselineCalls are the samples judged.
	CanaryCalls   uint64 `json:"canaryCalls"`
	BaselineCalls uint64 `json:"baselineCalls"`
	// Reason says in a line why the phase is what it is, for people.
	Reason string `json:"reason"`
}
