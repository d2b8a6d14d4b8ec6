package release

import (
	"encoding/json"
	"fmt"
	"time"
)

// Plan is a release, as data: the flags it moves, the steps it takes, how
// each step is judged and what a rollback may not undo. Read one from a file
// with [ParsePlan]; a Go value is checked by [Plan.Validate].
type Plan struct {
	// ID names the release; required. It is the release id on every flag
	// change the release makes and the key of its state. 1 to 64 bytes of
	// letters, digits, '.', '_' and '-'.
	ID string `json:"id"`
	// Description says what the release is, for people; optional.
	Description string `json:"description,omitempty"`
	// Flags are the flags the release moves, at least one; a flag appears
	// once.
	Flags []FlagSpec `json:"flags"`
	// Steps are taken in order, at least one. The last one's weights are
	// where the release ends when it is promoted.
	Steps []Step `json:"steps"`
	// Analysis is how each step is judged.
	Analysis Analysis `json:"analysis"`
	// SchemaFloor is the lowest migration version the previous release runs
	// on: a rollback of the schema never goes below it. 0 means the plan
	// says nothing about the schema, and no schema rollback is allowed.
	SchemaFloor int64 `json:"schemaFloor,omitempty"`
	// Requires is a semver constraint (Masterminds/semver syntax, such as
	// ">= 1.5.0") that the version of every live instance of the fleet
	// must meet before the first step: the new code path must be on every
	// instance before any traffic is sent to it. Empty: no requirement.
	Requires string `json:"requires,omitempty"`
	// Approval lists the steps that wait for a person's promote, and who
	// may give it.
	Approval Approval `json:"approval,omitzero"`
	// StepTimeout bounds how long a step may hold (too few samples, an
	// inconclusive analysis, a webhook that says wait) before OnTimeout.
	// 0 means [DefaultStepTimeout] (30 minutes).
	StepTimeout Duration `json:"stepTimeout,omitempty"`
	// OnTimeout is what happens when a step has held for StepTimeout:
	// [TimeoutPause] ([DefaultOnTimeout], when empty) or [TimeoutRollback].
	OnTimeout string `json:"onTimeout,omitempty"`
	// Webhooks are outside gates consulted while the release runs.
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// What a step does when it has held for [Plan.StepTimeout].
const (
	TimeoutPause    = "pause"
	TimeoutRollback = "rollback"
)

// FlagSpec is one flag a release moves between two of its variants.
type FlagSpec struct {
	// Key is the flag's key in the store; required.
	Key string `json:"key"`
	// Baseline is the variant that is the old code path (for a
	// [flags.Switch], the variant whose value is false); required. A
	// rollback sends all traffic to it.
	Baseline string `json:"baseline"`
	// Canary is the variant that is the new code path; required, and not
	// Baseline.
	Canary string `json:"canary"`
}

// Step is one step of a release.
type Step struct {
	// Weights gives, for each flag of the plan, the percentage (0 to 100)
	// of traffic its canary variant receives during the step; the rest
	// goes to the baseline. Every flag of the plan is given.
	Weights map[string]int `json:"weights"`
	// Bake is how long the step runs at least before the next one; 0: no
	// minimum.
	Bake Duration `json:"bake,omitempty"`
	// MinSamples is how many calls each arm (canary and baseline) of each
	// flag must have made during the step before the step can be judged
	// successful. 0 means [DefaultMinSamples]. A step at 100% canary has no
	// baseline arm: its canary alone must reach MinSamples.
	MinSamples int `json:"minSamples,omitempty"`
}

// The defaults of a plan: what a zero (or, for
// [Analysis.ConsecutiveErrorLimit], nil) field means. [Plan.WithDefaults]
// fills them in; code that reads a plan without it applies the same
// constants.
const (
	// DefaultMinSamples is a step's minimum samples per arm
	// ([Step.MinSamples]).
	DefaultMinSamples = 100
	// DefaultStepTimeout is how long a step may hold ([Plan.StepTimeout]).
	DefaultStepTimeout = 30 * time.Minute
	// DefaultOnTimeout is what a step does when it has held too long
	// ([Plan.OnTimeout]).
	DefaultOnTimeout = TimeoutPause
	// DefaultInterval is how often a measurement is taken
	// ([Analysis.Interval]).
	DefaultInterval = time.Second
	// DefaultConsecutiveErrorLimit is how many consecutive Error
	// measurements are tolerated ([Analysis.ConsecutiveErrorLimit]).
	DefaultConsecutiveErrorLimit = 4
	// DefaultMargin is how much higher the canary's error rate may be
	// ([ErrorRateMetric.Margin]).
	DefaultMargin = 0.01
	// DefaultAlpha is the false-failure rate of the error-rate and
	// latency tests ([ErrorRateMetric.Alpha], [LatencyMetric.Alpha]).
	DefaultAlpha = 0.001
	// DefaultQuantile is the latency quantile compared
	// ([LatencyMetric.Quantile]).
	DefaultQuantile = 0.99
	// DefaultMaxRatio is how many times the baseline's latency the
	// canary's may be ([LatencyMetric.MaxRatio]).
	DefaultMaxRatio = 1.5
	// DefaultLatencySlack is how much slower, in absolute terms, the
	// canary's latency may be before the ratio matters
	// ([LatencyMetric.Slack]).
	DefaultLatencySlack = 5 * time.Millisecond
	// DefaultWebhookTimeout bounds each webhook call ([Webhook.Timeout]).
	DefaultWebhookTimeout = 5 * time.Second
	// DefaultQueryTimeout bounds each Prometheus query
	// ([PrometheusMetric.Timeout]).
	DefaultQueryTimeout = 5 * time.Second
)

// Approval is the steps of a plan that wait for a person.
type Approval struct {
	// Steps are the numbers (1-based, as people count them) of the steps
	// that, once judged successful, wait for a promote before the next
	// step; like a pause step of Argo Rollouts.
	Steps []int `json:"steps,omitempty"`
	// Promoters are the actors allowed to promote; empty: any actor the
	// caller's authorizer lets through.
	Promoters []string `json:"promoters,omitempty"`
}

// Webhook is an outside gate: an HTTP POST of the release's status whose
// answer decides. A 2xx answer passes; any other answer, a timeout or a
// connection failure does not, and OnFailure says what follows.
type Webhook struct {
	// Name names the gate in events; required, unique within the plan.
	Name string `json:"name"`
	// Type is when the gate is asked: [WebhookConfirmPromotion] before each
	// promotion to the next step, [WebhookRollback] at every measurement.
	Type string `json:"type"`
	// URL is where the POST goes; http or https, required.
	URL string `json:"url"`
	// Timeout bounds each call; 0 means [DefaultWebhookTimeout] (5
	// seconds). The driver also ends every call a tick before its look
	// ends (lease − 3 ticks: 2.25 s with the Controller's defaults), so
	// that no instance drives on an expired lease.
	Timeout Duration `json:"timeout,omitempty"`
	// OnFailure is [WebhookHold] (the default for confirm-promotion: the
	// step holds and asks again) or [WebhookRollback] (the default for
	// rollback: the release rolls back).
	OnFailure string `json:"onFailure,omitempty"`
}

// Webhook types and failure actions.
const (
	WebhookConfirmPromotion = "confirm-promotion"
	WebhookRollback         = "rollback"
	WebhookHold             = "hold"
)

// Analysis is how a step is judged: the built-in metrics on the samples the
// instances record, metrics of a Prometheus server, and the limits that
// turn measurements into a verdict, as in Argo Rollouts.
type Analysis struct {
	// Interval is how often a measurement is taken; 0 means
	// [DefaultInterval] (1 second). It may not exceed the step timeout.
	Interval Duration `json:"interval,omitempty"`
	// ErrorRate compares the arms' error rates; nil means the default
	// metric (see [ErrorRateMetric]); set Disabled to turn it off.
	ErrorRate *ErrorRateMetric `json:"errorRate,omitempty"`
	// Latency compares the arms' latency; nil means the default metric
	// (see [LatencyMetric]); set Disabled to turn it off.
	Latency *LatencyMetric `json:"latency,omitempty"`
	// Prometheus metrics, each a PromQL query per arm.
	Prometheus []PrometheusMetric `json:"prometheus,omitempty"`
	// FailureLimit is how many Failed measurements of a metric are
	// tolerated: one more fails the release. Default 0: the first Failed
	// fails it.
	FailureLimit int `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many consecutive Inconclusive measurements
	// of a metric with enough samples are tolerated before the release
	// pauses for a person. 0: no limit; the step holds until
	// [Plan.StepTimeout]. Measurements inconclusive for want of samples
	// never count: they only hold the step.
	InconclusiveLimit int `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many consecutive Error measurements of a
	// metric are tolerated; one more rolls the release back, since it can
	// no longer be judged. nil means [DefaultConsecutiveErrorLimit] (4);
	// a pointer to 0 tolerates none.
	ConsecutiveErrorLimit *int `json:"consecutiveErrorLimit,omitempty"`
}

// ErrorRateMetric compares the canary's error rate with the baseline's.
type ErrorRateMetric struct {
	// Disabled turns the metric off.
	Disabled bool `json:"disabled,omitempty"`
	// Margin is how much higher (absolute, as a fraction: 0.01 is one
	// percentage point) the canary's error rate may be than the
	// baseline's. 0 means [DefaultMargin] (0.01).
	Margin float64 `json:"margin,omitempty"`
	// Alpha is the sequential test's false-failure rate per step; 0 means
	// [DefaultAlpha] (0.001).
	Alpha float64 `json:"alpha,omitempty"`
	// MaxErrorRate is an absolute ceiling on the canary's error rate,
	// judged with or without a baseline; 0: no ceiling.
	MaxErrorRate float64 `json:"maxErrorRate,omitempty"`
	// Critical makes the first Failed measurement fail the release,
	// whatever FailureLimit.
	Critical bool `json:"critical,omitempty"`
}

// LatencyMetric compares the canary's latency with the baseline's.
type LatencyMetric struct {
	// Disabled turns the metric off.
	Disabled bool `json:"disabled,omitempty"`
	// Quantile is the quantile compared; 0 means [DefaultQuantile] (0.99).
	Quantile float64 `json:"quantile,omitempty"`
	// MaxRatio is how many times the baseline's quantile the canary's may
	// be; 0 means [DefaultMaxRatio] (1.5).
	MaxRatio float64 `json:"maxRatio,omitempty"`
	// Slack is how much slower than the baseline's the canary's quantile
	// may be whatever the ratio: a path of 1ms that takes 2ms is twice as
	// slow and still fast. The ratio fails a measurement only beyond it. 0
	// means [DefaultLatencySlack] (5ms); to compare on the ratio alone, set
	// it to "1ns".
	Slack Duration `json:"slack,omitempty"`
	// Alpha is the significance the canary must be slower at to fail: an
	// always-valid p-value of a one-sided Mann-Whitney U test on the arms'
	// timed calls, which stays valid when it is looked at every interval;
	// 0 means [DefaultAlpha] (0.001).
	Alpha float64 `json:"alpha,omitempty"`
	// MaxP99 is an absolute ceiling on the canary's quantile, judged with
	// or without a baseline; 0: no ceiling.
	MaxP99 Duration `json:"maxP99,omitempty"`
	// Critical makes the first Failed measurement fail the release.
	Critical bool `json:"critical,omitempty"`
}

// PrometheusMetric is a metric read from a Prometheus server: one instant
// PromQL query per arm, each returning one number.
type PrometheusMetric struct {
	// Name names the metric in measurements; required, unique.
	Name string `json:"name"`
	// Address is the Prometheus server's base URL; required.
	Address string `json:"address"`
	// Canary and Baseline are the queries; Canary is required. Without
	// Baseline only Max applies.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline,omitempty"`
	// MaxRatio fails the measurement when canary > baseline × MaxRatio;
	// 0: no ratio test.
	MaxRatio float64 `json:"maxRatio,omitempty"`
	// Max fails the measurement when canary > Max; 0: no ceiling.
	Max float64 `json:"max,omitempty"`
	// Timeout bounds each query; 0 means [DefaultQueryTimeout] (5
	// seconds). The driver also ends every query a tick before its look
	// ends (lease − 3 ticks: 2.25 s with the Controller's defaults); a
	// query cut short is an Error measurement.
	Timeout Duration `json:"timeout,omitempty"`
	// Critical makes the first Failed measurement fail the release.
	Critical bool `json:"critical,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s",
// "1m30s") in JSON and YAML; a bare number is refused, since its unit
// would be a guess.
type Duration time.Duration

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string; it refuses numbers and negative
// durations.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s is not a string such as \"30s\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}
