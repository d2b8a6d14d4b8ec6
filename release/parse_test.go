package release_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// problemsOf returns the problems of err, which must be a *PlanError
// wrapping ErrInvalidPlan.
func problemsOf(t *testing.T, err error) []release.PlanProblem {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, release.ErrInvalidPlan)
	var pe *release.PlanError
	require.ErrorAs(t, err, &pe)
	require.NotEmpty(t, pe.Problems)
	return pe.Problems
}

func TestParsePlanReadsEveryField(t *testing.T) {
	p, err := release.ParsePlanFile("testdata/plans/full.yaml")
	require.NoError(t, err)
	zero := 0
	want := &release.Plan{
		ID:          "checkout-v3",
		Description: "The new checkout and its price service, together.",
		Flags: []release.FlagSpec{
			{Key: "checkout-v3", Baseline: "v2", Canary: "v3"},
			{Key: "price-service", Baseline: "legacy", Canary: "grpc"},
		},
		Steps: []release.Step{
			{Weights: map[string]int{"checkout-v3": 1, "price-service": 1}, Bake: release.Duration(time.Minute), MinSamples: 500},
			{Weights: map[string]int{"checkout-v3": 10, "price-service": 10}, Bake: release.Duration(5 * time.Minute)},
			{Weights: map[string]int{"checkout-v3": 50, "price-service": 100}, Bake: release.Duration(10 * time.Minute), MinSamples: 2000},
			{Weights: map[string]int{"checkout-v3": 100, "price-service": 100}},
		},
		Analysis: release.Analysis{
			Interval:  release.Duration(5 * time.Second),
			ErrorRate: &release.ErrorRateMetric{Margin: 0.005, Alpha: 0.01, MaxErrorRate: 0.05, Critical: true},
			Latency:   &release.LatencyMetric{Quantile: 0.95, MaxRatio: 1.2, Alpha: 0.01, MaxP99: release.Duration(800 * time.Millisecond)},
			Prometheus: []release.PrometheusMetric{
				{
					Name: "http-5xx", Address: "http://prometheus.monitoring:9090",
					Canary:   `sum(rate(http_requests_total{code=~"5..",track="canary"}[1m]))`,
					Baseline: `sum(rate(http_requests_total{code=~"5..",track="baseline"}[1m]))`,
					MaxRatio: 2, Max: 10, Timeout: release.Duration(2 * time.Second),
				},
				{Name: "queue-depth", Address: "https://prometheus.example.com", Canary: "max(checkout_queue_depth)", Max: 1000, Critical: true},
			},
			FailureLimit:          2,
			InconclusiveLimit:     10,
			ConsecutiveErrorLimit: &zero,
		},
		SchemaFloor: 41,
		Requires:    ">= 3.0.0, < 4.0.0",
		Approval:    release.Approval{Steps: []int{2, 3}, Promoters: []string{"alice", "bob"}},
		StepTimeout: release.Duration(time.Hour),
		OnTimeout:   release.TimeoutRollback,
		Webhooks: []release.Webhook{
			{Name: "change-freeze", Type: release.WebhookConfirmPromotion, URL: "https://freeze.example.com/check", Timeout: release.Duration(3 * time.Second)},
			{Name: "pager", Type: release.WebhookRollback, URL: "http://pager.internal/rollback-gate", OnFailure: release.WebhookHold},
		},
	}
	assert.Equal(t, want, p)

	fromJSON, err := release.ParsePlanFile("testdata/plans/full.json")
	require.NoError(t, err)
	assert.Equal(t, p, fromJSON, "the JSON and the YAML of one plan read the same")
}

func TestParsePlanSniffsTheFormat(t *testing.T) {
	data, err := os.ReadFile("testdata/plans/minimal.json")
	require.NoError(t, err)
	fromJSON, err := release.ParsePlan(data)
	require.NoError(t, err)
	fromYAML, err := release.ParsePlan([]byte("id: search-ranking\nflags:\n  - {key: ranking-v2, baseline: \"off\", canary: \"on\"}\nsteps:\n  - weights: {ranking-v2: 100}\n"))
	require.NoError(t, err)
	assert.Equal(t, fromJSON, fromYAML)
	assert.Equal(t, "search-ranking", fromJSON.ID)
	assert.Equal(t, map[string]int{"ranking-v2": 100}, fromJSON.Steps[0].Weights)

	dir := t.TempDir()
	noExt := filepath.Join(dir, "plan")
	require.NoError(t, os.WriteFile(noExt, data, 0o600))
	p, err := release.ParsePlanFile(noExt)
	require.NoError(t, err)
	assert.Equal(t, fromJSON, p)

	// The extension decides: YAML in a .json file is malformed JSON.
	yamlInJSON := filepath.Join(dir, "plan.json")
	require.NoError(t, os.WriteFile(yamlInJSON, []byte("id: x\n"), 0o600))
	ps := problemsOf(t, func() error { _, err := release.ParsePlanFile(yamlInJSON); return err }())
	assert.Contains(t, ps[0].Message, "malformed JSON at line 1, column 1")
}

func TestParsePlanFileUnreadableIsNoPlanError(t *testing.T) {
	_, err := release.ParsePlanFile(filepath.Join(t.TempDir(), "absent.yaml"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, release.ErrInvalidPlan)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.True(t, strings.HasPrefix(err.Error(), "release: plan: "), err.Error())
}

func TestParsePlanProblems(t *testing.T) {
	const flags = `"flags": [{"key": "a", "baseline": "off", "canary": "on"}]`
	const steps = `"steps": [{"weights": {"a": 10}}]`
	tests := []struct {
		name, in     string
		field, inMsg string
	}{
		{"json syntax with position", "{\n  \"id\": \"x\",\n  \"flags\": [,]\n}", "", "malformed JSON at line 3, column 13"},
		{"json cut short", "{\n  \"id\": \"x\",\n", "", "unexpected end of input"},
		{"json trailing data", `{"id": "x"} {}`, "", "data after the plan"},
		{"json duplicate key", "{\"id\": \"x\",\n\"id\": \"y\"}", "id", "given twice (again at line 2)"},
		{"yaml syntax with line", "id: x\nflags:\n  - key: a\n   baseline: b\n", "", "malformed YAML: line 2"},
		{"yaml duplicate key", "id: x\nid: y\n", "", "already defined"},
		{"yaml two documents", "id: x\n---\nid: y\n", "", "a second one follows"},
		{"yaml non-string keys", "id: x\nsteps:\n  - weights: {1: 10}\n", "", "YAML that JSON cannot express"},
		{"empty", "  \n", "", "the plan is empty"},
		{"not an object", "- a\n- b\n", "", "the plan is a list, not an object"},
		{"unknown top-level field", `{"id": "x", "stepps": [], ` + flags + `, ` + steps + `}`, "stepps", "unknown field"},
		{"unknown nested field", `{"id": "x", ` + flags + `, ` + steps + `, "analysis": {"errorRate": {"margn": 0.1}}}`, "analysis.errorRate.margn", "unknown field"},
		{"field names are case-sensitive", `{"ID": "x"}`, "ID", "unknown field"},
		{"odd unknown key quoted", `{"id": "x", "a b": 1}`, `["a b"]`, "unknown field"},
		{"string for number", `{"id": "x", "schemaFloor": "2"}`, "schemaFloor", `is the string "2", not a whole number`},
		{"fraction for whole number", `{"id": "x", "steps": [{"weights": {"a": 1.5}}]}`, `steps[0].weights["a"]`, "1.5 is not a whole number"},
		{"number for string", `{"id": 7}`, "id", "is the number 7, not a string"},
		{"object for list", `{"id": "x", "flags": {}}`, "flags", "is an object, not a list"},
		{"list for object", `{"id": "x", "analysis": []}`, "analysis", "is a list, not an object"},
		{"bool", `{"id": "x", "analysis": {"latency": {"disabled": "yes"}}}`, "analysis.latency.disabled", "not true or false"},
		{"number for duration", `{"id": "x", "stepTimeout": 30}`, "stepTimeout", `duration 30 is not a string such as "30s"`},
		{"negative duration", `{"id": "x", "stepTimeout": "-1s"}`, "stepTimeout", "is negative"},
		{"bad duration", `{"id": "x", "steps": [{"bake": "soon"}]}`, "steps[0].bake", `duration "soon"`},
		{"huge number", `{"id": "x", "analysis": {"errorRate": {"margin": 1e999}}}`, "analysis.errorRate.margin", "not a number in range"},
		{"yaml number for duration", "id: x\nanalysis:\n  interval: 5\n", "analysis.interval", "duration 5 is not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := release.ParsePlan([]byte(tt.in))
			ps := problemsOf(t, err)
			var found bool
			for _, p := range ps {
				if p.Field == tt.field && strings.Contains(p.Message, tt.inMsg) {
					found = true
				}
			}
			assert.True(t, found, "no problem %s: ...%s... in\n%s", tt.field, tt.inMsg, err)
		})
	}
}

func TestParsePlanListsEveryProblem(t *testing.T) {
	_, err := release.ParsePlanFile("testdata/plans/invalid.yaml")
	ps := problemsOf(t, err)
	fields := map[string]bool{}
	for _, p := range ps {
		fields[p.Field] = true
	}
	for _, f := range []string{
		"id", "flags[0].canary", "flags[1].key", "flags[2].key", "flags[2].canary",
		`steps[0].weights["checkout"]`, "steps[0].bake", `steps[1].weights["ghost"]`, "steps[1].minSamples",
		`steps[2].weights["checkout"]`, "steps[2].colour",
		"analysis.interval", "analysis.errorRate.margin", "analysis.errorRate.alpha",
		"analysis.latency.quantile", "analysis.latency.maxRatio", "analysis.failureLimit",
		"analysis.prometheus[0].name", "analysis.prometheus[0].address", "analysis.prometheus[0].canary",
		"analysis.prometheus[0].maxRatio", "requires",
		"approval.steps[0]", "approval.steps[2]", "approval.steps[3]", "onTimeout",
		"webhooks[0].type", "webhooks[0].url", "webhooks[0].onFailure", "webhooks[1].name",
	} {
		assert.True(t, fields[f], "no problem for %s", f)
	}
	assert.Len(t, ps, 30, "one problem each, none repeated")
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, len(ps), "one line a problem")
	for i, l := range lines {
		assert.Equal(t, "release: plan: "+ps[i].String(), l)
	}
	assert.Contains(t, err.Error(), `release: plan: steps[0].weights["checkout"]: 120 is above 100`)
}

func TestParsePlanLeavesOutProblemsOfAFieldItCouldNotRead(t *testing.T) {
	// flags[0].key is not a string: it is not also reported as missing, and
	// the steps do not say that flag "" has no weight.
	_, err := release.ParsePlan([]byte(`{"id": "x", "flags": [{"key": 1, "baseline": "off", "canary": "on"}], "steps": [{"weights": {}}]}`))
	ps := problemsOf(t, err)
	assert.Equal(t, []release.PlanProblem{{Field: "flags[0].key", Message: "is the number 1, not a string"}}, ps)
}

func TestParsePlanNullIsAbsent(t *testing.T) {
	p, err := release.ParsePlan([]byte("id: x\ndescription:\nflags:\n  - {key: a, baseline: b, canary: c}\nsteps:\n  - weights: {a: 5}\nanalysis:\n  errorRate:\n  consecutiveErrorLimit:\n"))
	require.NoError(t, err)
	assert.Nil(t, p.Analysis.ErrorRate)
	assert.Nil(t, p.Analysis.ConsecutiveErrorLimit)
	assert.Empty(t, p.Description)
}

func TestPlanErrorIs(t *testing.T) {
	err := error(&release.PlanError{Problems: []release.PlanProblem{{Message: "malformed"}}})
	assert.True(t, errors.Is(err, release.ErrInvalidPlan))
	assert.Equal(t, "release: plan: malformed", err.Error())
}
