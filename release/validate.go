package release

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ErrInvalidPlan is wrapped by every [*PlanError]: a plan that cannot be
// run as written.
var ErrInvalidPlan = errors.New("release: invalid plan")

// MaxPlanIDLen is the longest [Plan.ID].
const MaxPlanIDLen = 64

// PlanProblem is one thing wrong with a plan.
type PlanProblem struct {
	// Field is the path of the field, as in a JSON path with 0-based
	// indexes: "steps[2].weights[\"orders-v2\"]", "analysis.errorRate.margin".
	// Empty for a problem of the document as a whole (a syntax error).
	Field string `json:"field,omitempty"`
	// Message says what is wrong, for people.
	Message string `json:"message"`
}

// String is "field: message", or the message alone without a field.
func (p PlanProblem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// PlanError lists every problem of a plan, in the order they were found:
// those of reading it first, then those of [Plan.Validate]. It wraps
// [ErrInvalidPlan].
type PlanError struct {
	Problems []PlanProblem
}

// Error lists the problems, one a line, each as "release: plan: field:
// message".
func (e *PlanError) Error() string {
	if len(e.Problems) == 0 {
		return "release: plan: invalid"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "release: plan: " + p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns [ErrInvalidPlan].
func (e *PlanError) Unwrap() error { return ErrInvalidPlan }

func planError(ps ...PlanProblem) *PlanError { return &PlanError{Problems: ps} }

// problems collects what is wrong while a plan is read or checked.
type problems struct{ list []PlanProblem }

func (ps *problems) add(field, format string, args ...any) {
	ps.list = append(ps.list, PlanProblem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate checks a plan given as a Go value by the rules [ParsePlan]
// applies to a file, and returns a [*PlanError] listing every problem, or
// nil. The rules, beyond what each field's documentation says: every step
// gives a weight from 0 to 100 for exactly the plan's flags, and no step
// lowers a flag's canary weight below the step before it (a release moves
// forward; a rollback is the way back); the analysis interval is at most
// the step timeout; Prometheus metric names are unique and not those of
// the built-in metrics; and the analysis judges something: a plan whose
// built-in metrics are both disabled and that has no Prometheus metric is
// refused, since no data is never success.
func (p *Plan) Validate() error {
	var ps problems
	p.validate(&ps)
	if len(ps.list) > 0 {
		return planError(ps.list...)
	}
	return nil
}

func (p *Plan) validate(ps *problems) {
	switch {
	case p.ID == "":
		ps.add("id", "is required")
	case len(p.ID) > MaxPlanIDLen:
		ps.add("id", "is %d bytes, more than %d", len(p.ID), MaxPlanIDLen)
	case strings.IndexFunc(p.ID, func(r rune) bool { return !isIDRune(r) }) >= 0:
		ps.add("id", "%q has characters other than letters, digits, '.', '_' and '-'", abbreviate(p.ID))
	}
	p.validateFlags(ps)
	p.validateSteps(ps)
	if p.Requires != "" {
		if _, err := semver.NewConstraint(p.Requires); err != nil {
			ps.add("requires", "%q is not a version constraint such as \">= 1.5.0\": %v", abbreviate(p.Requires), err)
		}
	}
	seen := map[int]int{}
	for i, n := range p.Approval.Steps {
		f := fmt.Sprintf("approval.steps[%d]", i)
		if n < 1 || n > len(p.Steps) {
			ps.add(f, "%d is not a step: steps are numbered 1 to %d", n, len(p.Steps))
		} else if j, dup := seen[n]; dup {
			ps.add(f, "step %d is also approval.steps[%d]", n, j)
		} else {
			seen[n] = i
		}
	}
	for i, who := range p.Approval.Promoters {
		if strings.TrimSpace(who) == "" {
			ps.add(fmt.Sprintf("approval.promoters[%d]", i), "is empty")
		}
	}
	if p.SchemaFloor < 0 {
		ps.add("schemaFloor", "%d is negative", p.SchemaFloor)
	}
	if p.StepTimeout < 0 {
		ps.add("stepTimeout", "%v is negative", p.StepTimeout)
	}
	switch p.OnTimeout {
	case "", TimeoutPause, TimeoutRollback:
	default:
		ps.add("onTimeout", "%q is not %q or %q", abbreviate(p.OnTimeout), TimeoutPause, TimeoutRollback)
	}
	p.validateWebhooks(ps)
	p.validateAnalysis(ps)
}

func isIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

func (p *Plan) validateFlags(ps *problems) {
	if len(p.Flags) == 0 {
		ps.add("flags", "a release moves at least one flag")
	}
	seen := map[string]int{}
	for i, f := range p.Flags {
		at := fmt.Sprintf("flags[%d]", i)
		if f.Key == "" {
			ps.add(at+".key", "is required")
		} else if j, dup := seen[f.Key]; dup {
			ps.add(at+".key", "%q is also flags[%d]", abbreviate(f.Key), j)
		} else {
			seen[f.Key] = i
		}
		if f.Baseline == "" {
			ps.add(at+".baseline", "is required")
		}
		if f.Canary == "" {
			ps.add(at+".canary", "is required")
		} else if f.Canary == f.Baseline {
			ps.add(at+".canary", "%q is also the baseline: a release moves traffic between two variants", abbreviate(f.Canary))
		}
	}
}

func (p *Plan) validateSteps(ps *problems) {
	if len(p.Steps) == 0 {
		ps.add("steps", "a release takes at least one step")
	}
	keys := map[string]bool{}
	for _, f := range p.Flags {
		keys[f.Key] = true
	}
	for i, s := range p.Steps {
		at := fmt.Sprintf("steps[%d]", i)
		for _, f := range p.Flags {
			if _, ok := s.Weights[f.Key]; !ok && f.Key != "" {
				ps.add(at+".weights", "no weight for flag %q: every step gives one for each flag of the plan", abbreviate(f.Key))
			}
		}
		for _, k := range sortedKeys(s.Weights) {
			w, wf := s.Weights[k], at+".weights["+strconv.Quote(k)+"]"
			switch {
			case !keys[k]:
				ps.add(wf, "%q is not a flag of the plan", abbreviate(k))
			case w < 0:
				ps.add(wf, "%d is below 0", w)
			case w > 100:
				ps.add(wf, "%d is above 100", w)
			case i > 0:
				if prev, ok := p.Steps[i-1].Weights[k]; ok && w < prev && prev <= 100 {
					ps.add(wf, "%d is below the %d of steps[%d]: a release only moves forward; a rollback is the way back", w, prev, i-1)
				}
			}
		}
		if s.Bake < 0 {
			ps.add(at+".bake", "%v is negative", s.Bake)
		}
		if s.MinSamples < 0 {
			ps.add(at+".minSamples", "%d is negative", s.MinSamples)
		}
	}
}

func (p *Plan) validateWebhooks(ps *problems) {
	seen := map[string]int{}
	for i, w := range p.Webhooks {
		at := fmt.Sprintf("webhooks[%d]", i)
		if w.Name == "" {
			ps.add(at+".name", "is required")
		} else if j, dup := seen[w.Name]; dup {
			ps.add(at+".name", "%q is also webhooks[%d]", abbreviate(w.Name), j)
		} else {
			seen[w.Name] = i
		}
		switch w.Type {
		case WebhookConfirmPromotion, WebhookRollback:
		case "":
			ps.add(at+".type", "is required: %q or %q", WebhookConfirmPromotion, WebhookRollback)
		default:
			ps.add(at+".type", "%q is not %q or %q", abbreviate(w.Type), WebhookConfirmPromotion, WebhookRollback)
		}
		if msg := checkHTTPURL(w.URL); msg != "" {
			ps.add(at+".url", "%s", msg)
		}
		if w.Timeout < 0 {
			ps.add(at+".timeout", "%v is negative", w.Timeout)
		}
		switch w.OnFailure {
		case "", WebhookHold, WebhookRollback:
		default:
			ps.add(at+".onFailure", "%q is not %q or %q", abbreviate(w.OnFailure), WebhookHold, WebhookRollback)
		}
	}
}

// checkHTTPURL says what is wrong with s as an absolute http or https URL,
// or "".
func checkHTTPURL(s string) string {
	if s == "" {
		return "is required"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", abbreviate(s), errors.Unwrap(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http or https URL", abbreviate(s))
	}
	return ""
}

func (p *Plan) validateAnalysis(ps *problems) {
	a := p.Analysis
	stepTimeout := p.StepTimeout.D()
	if stepTimeout == 0 {
		stepTimeout = DefaultStepTimeout
	}
	switch {
	case a.Interval < 0:
		ps.add("analysis.interval", "%v is negative", a.Interval)
	case a.Interval.D() > stepTimeout && p.StepTimeout >= 0:
		ps.add("analysis.interval", "%s is longer than the step timeout, %s: a step would time out before its first measurement", human(a.Interval), human(Duration(stepTimeout)))
	}
	if e := a.ErrorRate; e != nil {
		if !(e.Margin >= 0 && e.Margin < 1) {
			ps.add("analysis.errorRate.margin", "%v is not from 0 up to (not including) 1", e.Margin)
		}
		checkAlpha(ps, "analysis.errorRate.alpha", e.Alpha)
		if !(e.MaxErrorRate >= 0 && e.MaxErrorRate <= 1) {
			ps.add("analysis.errorRate.maxErrorRate", "%v is not from 0 to 1", e.MaxErrorRate)
		}
	}
	if l := a.Latency; l != nil {
		if l.Quantile != 0 && !(l.Quantile > 0 && l.Quantile < 1) {
			ps.add("analysis.latency.quantile", "%v is not between 0 and 1 (0.99 is the 99th percentile)", l.Quantile)
		}
		if l.MaxRatio != 0 && !(l.MaxRatio >= 1 && !math.IsInf(l.MaxRatio, 0)) {
			ps.add("analysis.latency.maxRatio", "%v is not a finite number from 1: below 1 the canary would fail for being as fast as the baseline", l.MaxRatio)
		}
		checkAlpha(ps, "analysis.latency.alpha", l.Alpha)
		if l.Slack < 0 {
			ps.add("analysis.latency.slack", "%v is negative", l.Slack)
		}
		if l.MaxP99 < 0 {
			ps.add("analysis.latency.maxP99", "%v is negative", l.MaxP99)
		}
	}
	if a.FailureLimit < 0 {
		ps.add("analysis.failureLimit", "%d is negative", a.FailureLimit)
	}
	if a.InconclusiveLimit < 0 {
		ps.add("analysis.inconclusiveLimit", "%d is negative", a.InconclusiveLimit)
	}
	if a.ConsecutiveErrorLimit != nil && *a.ConsecutiveErrorLimit < 0 {
		ps.add("analysis.consecutiveErrorLimit", "%d is negative", *a.ConsecutiveErrorLimit)
	}
	seen := map[string]int{}
	for i, m := range a.Prometheus {
		at := fmt.Sprintf("analysis.prometheus[%d]", i)
		switch j, dup := seen[m.Name]; {
		case m.Name == "":
			ps.add(at+".name", "is required")
		case m.Name == MetricErrorRate || m.Name == MetricLatency:
			ps.add(at+".name", "%q is the name of a built-in metric", m.Name)
		case dup:
			ps.add(at+".name", "%q is also analysis.prometheus[%d]", abbreviate(m.Name), j)
		default:
			seen[m.Name] = i
		}
		if msg := checkHTTPURL(m.Address); msg != "" {
			ps.add(at+".address", "%s", msg)
		}
		if strings.TrimSpace(m.Canary) == "" {
			ps.add(at+".canary", "is required: the PromQL query of the canary")
		}
		if !(m.MaxRatio >= 0 && !math.IsInf(m.MaxRatio, 0)) {
			ps.add(at+".maxRatio", "%v is not a finite number from 0", m.MaxRatio)
		} else if m.MaxRatio > 0 && strings.TrimSpace(m.Baseline) == "" {
			ps.add(at+".maxRatio", "needs a baseline query to compare with")
		}
		if !(m.Max >= 0 && !math.IsInf(m.Max, 0)) {
			ps.add(at+".max", "%v is not a finite number from 0", m.Max)
		}
		if m.MaxRatio == 0 && m.Max == 0 {
			ps.add(at, "sets neither maxRatio nor max: nothing would fail it")
		}
		if m.Timeout < 0 {
			ps.add(at+".timeout", "%v is negative", m.Timeout)
		}
	}
	if a.ErrorRate != nil && a.ErrorRate.Disabled && a.Latency != nil && a.Latency.Disabled && len(a.Prometheus) == 0 {
		ps.add("analysis", "both built-in metrics are disabled and there is no Prometheus metric: nothing would judge the release, and no data is never success")
	}
}

// checkAlpha refuses a significance that is set and not between 0 and 0.5.
func checkAlpha(ps *problems, field string, alpha float64) {
	if alpha != 0 && !(alpha > 0 && alpha < 0.5) {
		ps.add(field, "%v is not between 0 and 0.5 (0.001 is one false failure in a thousand)", alpha)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
