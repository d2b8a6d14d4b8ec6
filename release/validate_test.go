package release_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// validPlan is a small valid plan for each test to break in one place.
func validPlan() *release.Plan {
	return &release.Plan{
		ID:    "orders-v2",
		Flags: []release.FlagSpec{{Key: "a", Baseline: "off", Canary: "on"}, {Key: "b", Baseline: "old", Canary: "new"}},
		Steps: []release.Step{
			{Weights: map[string]int{"a": 10, "b": 0}},
			{Weights: map[string]int{"a": 100, "b": 100}},
		},
	}
}

func TestValidateAcceptsValidPlans(t *testing.T) {
	require.NoError(t, validPlan().Validate())
	p, err := release.ParsePlanFile("testdata/plans/full.yaml")
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	require.NoError(t, p.WithDefaults().Validate(), "the defaults are valid")
}

func TestExampleServicePlanIsValid(t *testing.T) {
	p, err := release.ParsePlanFile("../examples/service/release.yaml")
	require.NoError(t, err)
	assert.Equal(t, "orders-summary-v2", p.ID)
	assert.Equal(t, []release.FlagSpec{{Key: "orders-summary-v2", Baseline: "off", Canary: "on"}}, p.Flags)
	var weights []int
	for _, s := range p.Steps {
		weights = append(weights, s.Weights["orders-summary-v2"])
		assert.Positive(t, s.Bake.D())
		assert.LessOrEqual(t, s.Bake.D(), 10*time.Second, "a bake of a few seconds")
		assert.Positive(t, s.MinSamples)
	}
	assert.Equal(t, []int{1, 5, 25, 50, 100}, weights)
	assert.Equal(t, int64(2), p.SchemaFloor)
	assert.Equal(t, ">=1.4.0", p.Requires)
	assert.Equal(t, release.Analysis{Latency: &release.LatencyMetric{MaxRatio: 3, Slack: release.Duration(20 * time.Millisecond)}}, p.Analysis,
		"the default analysis, with room for the new summary's slower query")
}

func TestValidateRules(t *testing.T) {
	neg := -1
	tests := []struct {
		name  string
		edit  func(p *release.Plan)
		field string
		inMsg string
	}{
		{"no id", func(p *release.Plan) { p.ID = "" }, "id", "is required"},
		{"long id", func(p *release.Plan) { p.ID = strings.Repeat("x", 65) }, "id", "65 bytes, more than 64"},
		{"id characters", func(p *release.Plan) { p.ID = "a/b" }, "id", "characters other than"},
		{"no flags", func(p *release.Plan) { p.Flags = nil }, "flags", "at least one flag"},
		{"empty key", func(p *release.Plan) { p.Flags[1].Key = "" }, "flags[1].key", "is required"},
		{"duplicate key", func(p *release.Plan) { p.Flags[1].Key = "a" }, "flags[1].key", `"a" is also flags[0]`},
		{"no baseline", func(p *release.Plan) { p.Flags[0].Baseline = "" }, "flags[0].baseline", "is required"},
		{"no canary", func(p *release.Plan) { p.Flags[0].Canary = "" }, "flags[0].canary", "is required"},
		{"canary is baseline", func(p *release.Plan) { p.Flags[0].Canary = "off" }, "flags[0].canary", "also the baseline"},
		{"no steps", func(p *release.Plan) { p.Steps = nil }, "steps", "at least one step"},
		{"missing weight", func(p *release.Plan) { delete(p.Steps[1].Weights, "b") }, "steps[1].weights", `no weight for flag "b"`},
		{"weight of no flag", func(p *release.Plan) { p.Steps[0].Weights["c"] = 1 }, `steps[0].weights["c"]`, "not a flag of the plan"},
		{"weight above 100", func(p *release.Plan) { p.Steps[1].Weights["a"] = 120 }, `steps[1].weights["a"]`, "120 is above 100"},
		{"weight below 0", func(p *release.Plan) { p.Steps[0].Weights["b"] = -1 }, `steps[0].weights["b"]`, "-1 is below 0"},
		{"step goes back", func(p *release.Plan) { p.Steps[1].Weights["a"] = 5 }, `steps[1].weights["a"]`, "5 is below the 10 of steps[0]"},
		{"negative bake", func(p *release.Plan) { p.Steps[0].Bake = -1 }, "steps[0].bake", "negative"},
		{"negative min samples", func(p *release.Plan) { p.Steps[0].MinSamples = -1 }, "steps[0].minSamples", "negative"},
		{"bad requires", func(p *release.Plan) { p.Requires = "1.x.y.z" }, "requires", "not a version constraint"},
		{"approval step 0", func(p *release.Plan) { p.Approval.Steps = []int{0} }, "approval.steps[0]", "numbered 1 to 2"},
		{"approval step past the end", func(p *release.Plan) { p.Approval.Steps = []int{3} }, "approval.steps[0]", "numbered 1 to 2"},
		{"approval step twice", func(p *release.Plan) { p.Approval.Steps = []int{1, 1} }, "approval.steps[1]", "also approval.steps[0]"},
		{"empty promoter", func(p *release.Plan) { p.Approval.Promoters = []string{" "} }, "approval.promoters[0]", "is empty"},
		{"negative floor", func(p *release.Plan) { p.SchemaFloor = -1 }, "schemaFloor", "negative"},
		{"negative step timeout", func(p *release.Plan) { p.StepTimeout = -1 }, "stepTimeout", "negative"},
		{"on timeout", func(p *release.Plan) { p.OnTimeout = "retry" }, "onTimeout", `"retry" is not`},
		{"webhook name", func(p *release.Plan) { p.Webhooks = []release.Webhook{{Type: "rollback", URL: "http://x"}} }, "webhooks[0].name", "is required"},
		{"webhook name twice", func(p *release.Plan) {
			p.Webhooks = []release.Webhook{{Name: "w", Type: "rollback", URL: "http://x"}, {Name: "w", Type: "rollback", URL: "http://x"}}
		}, "webhooks[1].name", "also webhooks[0]"},
		{"webhook type", func(p *release.Plan) { p.Webhooks = []release.Webhook{{Name: "w", URL: "http://x"}} }, "webhooks[0].type", "is required"},
		{"webhook relative url", func(p *release.Plan) { p.Webhooks = []release.Webhook{{Name: "w", Type: "rollback", URL: "/gate"}} }, "webhooks[0].url", "absolute http or https"},
		{"webhook no url", func(p *release.Plan) { p.Webhooks = []release.Webhook{{Name: "w", Type: "rollback"}} }, "webhooks[0].url", "is required"},
		{"webhook on failure", func(p *release.Plan) {
			p.Webhooks = []release.Webhook{{Name: "w", Type: "rollback", URL: "http://x", OnFailure: "pause"}}
		}, "webhooks[0].onFailure", `"pause" is not`},
		{"webhook timeout", func(p *release.Plan) {
			p.Webhooks = []release.Webhook{{Name: "w", Type: "rollback", URL: "http://x", Timeout: -1}}
		}, "webhooks[0].timeout", "negative"},
		{"negative interval", func(p *release.Plan) { p.Analysis.Interval = -1 }, "analysis.interval", "negative"},
		{"interval past step timeout", func(p *release.Plan) {
			p.StepTimeout = release.Duration(time.Minute)
			p.Analysis.Interval = release.Duration(2 * time.Minute)
		}, "analysis.interval", "longer than the step timeout, 1m"},
		{"margin 1", func(p *release.Plan) { p.Analysis.ErrorRate = &release.ErrorRateMetric{Margin: 1} }, "analysis.errorRate.margin", "not from 0"},
		{"margin NaN", func(p *release.Plan) { p.Analysis.ErrorRate = &release.ErrorRateMetric{Margin: math.NaN()} }, "analysis.errorRate.margin", "not from 0"},
		{"alpha 0.5", func(p *release.Plan) { p.Analysis.ErrorRate = &release.ErrorRateMetric{Alpha: 0.5} }, "analysis.errorRate.alpha", "not between 0 and 0.5"},
		{"negative alpha", func(p *release.Plan) { p.Analysis.Latency = &release.LatencyMetric{Alpha: -0.1} }, "analysis.latency.alpha", "not between 0 and 0.5"},
		{"max error rate", func(p *release.Plan) { p.Analysis.ErrorRate = &release.ErrorRateMetric{MaxErrorRate: 1.1} }, "analysis.errorRate.maxErrorRate", "not from 0 to 1"},
		{"quantile 1", func(p *release.Plan) { p.Analysis.Latency = &release.LatencyMetric{Quantile: 1} }, "analysis.latency.quantile", "not between 0 and 1"},
		{"max ratio below 1", func(p *release.Plan) { p.Analysis.Latency = &release.LatencyMetric{MaxRatio: 0.9} }, "analysis.latency.maxRatio", "from 1"},
		{"negative max p99", func(p *release.Plan) { p.Analysis.Latency = &release.LatencyMetric{MaxP99: -1} }, "analysis.latency.maxP99", "negative"},
		{"failure limit", func(p *release.Plan) { p.Analysis.FailureLimit = -1 }, "analysis.failureLimit", "negative"},
		{"inconclusive limit", func(p *release.Plan) { p.Analysis.InconclusiveLimit = -1 }, "analysis.inconclusiveLimit", "negative"},
		{"consecutive error limit", func(p *release.Plan) { p.Analysis.ConsecutiveErrorLimit = &neg }, "analysis.consecutiveErrorLimit", "negative"},
		{"nothing judges", func(p *release.Plan) {
			p.Analysis.ErrorRate = &release.ErrorRateMetric{Disabled: true}
			p.Analysis.Latency = &release.LatencyMetric{Disabled: true}
		}, "analysis", "nothing would judge"},
	}
	prom := func(edit func(m *release.PrometheusMetric)) func(p *release.Plan) {
		return func(p *release.Plan) {
			m := release.PrometheusMetric{Name: "5xx", Address: "http://prom:9090", Canary: "c", Baseline: "b", MaxRatio: 2}
			edit(&m)
			p.Analysis.Prometheus = []release.PrometheusMetric{m}
		}
	}
	tests = append(tests, []struct {
		name  string
		edit  func(p *release.Plan)
		field string
		inMsg string
	}{
		{"prometheus no name", prom(func(m *release.PrometheusMetric) { m.Name = "" }), "analysis.prometheus[0].name", "is required"},
		{"prometheus built-in name", prom(func(m *release.PrometheusMetric) { m.Name = "error-rate" }), "analysis.prometheus[0].name", "built-in metric"},
		{"prometheus name twice", func(p *release.Plan) {
			m := release.PrometheusMetric{Name: "q", Address: "http://prom", Canary: "c", Max: 1}
			p.Analysis.Prometheus = []release.PrometheusMetric{m, m}
		}, "analysis.prometheus[1].name", "also analysis.prometheus[0]"},
		{"prometheus address", prom(func(m *release.PrometheusMetric) { m.Address = "prom:9090" }), "analysis.prometheus[0].address", "absolute http or https"},
		{"prometheus no canary", prom(func(m *release.PrometheusMetric) { m.Canary = " " }), "analysis.prometheus[0].canary", "is required"},
		{"prometheus negative ratio", prom(func(m *release.PrometheusMetric) { m.MaxRatio = -1; m.Max = 1 }), "analysis.prometheus[0].maxRatio", "from 0"},
		{"prometheus negative max", prom(func(m *release.PrometheusMetric) { m.Max = -1 }), "analysis.prometheus[0].max", "from 0"},
		{"prometheus no test", prom(func(m *release.PrometheusMetric) { m.MaxRatio = 0 }), "analysis.prometheus[0]", "neither maxRatio nor max"},
		{"prometheus ratio without baseline", prom(func(m *release.PrometheusMetric) { m.Baseline = "" }), "analysis.prometheus[0].maxRatio", "needs a baseline"},
		{"prometheus timeout", prom(func(m *release.PrometheusMetric) { m.Timeout = -1 }), "analysis.prometheus[0].timeout", "negative"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlan()
			tt.edit(p)
			ps := problemsOf(t, p.Validate())
			// Without its flag, a step's weight names no flag: true, and
			// said after the cause.
			if flagGone := tt.name == "no flags" || tt.name == "empty key" || tt.name == "duplicate key"; !flagGone {
				require.Len(t, ps, 1, "%v", ps)
			}
			assert.Equal(t, tt.field, ps[0].Field)
			assert.Contains(t, ps[0].Message, tt.inMsg)
		})
	}
}

func TestValidateAllowsWhatIsNotWrong(t *testing.T) {
	for name, edit := range map[string]func(p *release.Plan){
		"a weight that stays":          func(p *release.Plan) { p.Steps[1].Weights["b"] = 0 },
		"zero consecutive error limit": func(p *release.Plan) { zero := 0; p.Analysis.ConsecutiveErrorLimit = &zero },
		"one built-in metric disabled": func(p *release.Plan) { p.Analysis.Latency = &release.LatencyMetric{Disabled: true} },
		"both disabled, prometheus judges": func(p *release.Plan) {
			p.Analysis.ErrorRate = &release.ErrorRateMetric{Disabled: true}
			p.Analysis.Latency = &release.LatencyMetric{Disabled: true}
			p.Analysis.Prometheus = []release.PrometheusMetric{{Name: "q", Address: "https://prom", Canary: "c", Max: 5}}
		},
		"interval equal to step timeout": func(p *release.Plan) { p.Analysis.Interval = release.Duration(release.DefaultStepTimeout) },
		"a step at 0":                    func(p *release.Plan) { p.Steps[0].Weights["a"] = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			p := validPlan()
			edit(p)
			assert.NoError(t, p.Validate())
		})
	}
}

func TestWithDefaults(t *testing.T) {
	p := validPlan()
	p.Webhooks = []release.Webhook{
		{Name: "gate", Type: release.WebhookConfirmPromotion, URL: "https://gate"},
		{Name: "pager", Type: release.WebhookRollback, URL: "https://pager"},
	}
	p.Analysis.Prometheus = []release.PrometheusMetric{{Name: "q", Address: "https://prom", Canary: "c", Max: 5}}
	before := validPlan()
	before.Webhooks = append([]release.Webhook(nil), p.Webhooks...)
	before.Analysis.Prometheus = append([]release.PrometheusMetric(nil), p.Analysis.Prometheus...)

	d := p.WithDefaults()
	assert.Equal(t, before, p, "the plan itself is not changed")
	limit := release.DefaultConsecutiveErrorLimit
	assert.Equal(t, release.Analysis{
		Interval:              release.Duration(time.Second),
		ErrorRate:             &release.ErrorRateMetric{Margin: 0.01, Alpha: 0.001},
		Latency:               &release.LatencyMetric{Quantile: 0.99, MaxRatio: 1.5, Slack: release.Duration(5 * time.Millisecond), Alpha: 0.001},
		Prometheus:            []release.PrometheusMetric{{Name: "q", Address: "https://prom", Canary: "c", Max: 5, Timeout: release.Duration(5 * time.Second)}},
		ConsecutiveErrorLimit: &limit,
	}, d.Analysis)
	assert.Equal(t, 4, limit)
	assert.Equal(t, release.Duration(30*time.Minute), d.StepTimeout)
	assert.Equal(t, release.TimeoutPause, d.OnTimeout)
	for _, s := range d.Steps {
		assert.Equal(t, release.DefaultMinSamples, s.MinSamples)
	}
	assert.Equal(t, release.WebhookHold, d.Webhooks[0].OnFailure)
	assert.Equal(t, release.WebhookRollback, d.Webhooks[1].OnFailure)
	assert.Equal(t, release.Duration(5*time.Second), d.Webhooks[0].Timeout)
	assert.Equal(t, d, d.WithDefaults(), "defaults twice are defaults once")

	d.Steps[0].Weights["a"] = 50
	assert.Equal(t, 10, p.Steps[0].Weights["a"], "the copy shares no map")

	// What is set stays; a disabled metric is left as it is.
	p.StepTimeout = release.Duration(time.Hour)
	p.Analysis.ErrorRate = &release.ErrorRateMetric{Margin: 0.02}
	p.Analysis.Latency = &release.LatencyMetric{Disabled: true}
	d = p.WithDefaults()
	assert.Equal(t, release.Duration(time.Hour), d.StepTimeout)
	assert.Equal(t, &release.ErrorRateMetric{Margin: 0.02, Alpha: 0.001}, d.Analysis.ErrorRate)
	assert.Equal(t, &release.LatencyMetric{Disabled: true}, d.Analysis.Latency)
}
