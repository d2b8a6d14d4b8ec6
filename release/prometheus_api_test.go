package release_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// fakePrometheus answers /api/v1/query as a Prometheus server would, from a
// table of answers by query; a query it does not know is a bad_data error.
type fakePrometheus struct {
	*httptest.Server
	answers map[string]fakeAnswer

	mu    sync.Mutex
	times []string // the time parameter of each query, in order
}

// fakeAnswer is one query's answer: an HTTP status and a JSON body, or
// block, which answers nothing until the request ends.
type fakeAnswer struct {
	status int
	body   string
	block  bool
}

func newFakePrometheus(t *testing.T, answers map[string]fakeAnswer) *fakePrometheus {
	t.Helper()
	f := &fakePrometheus{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePrometheus) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" || r.ParseForm() != nil {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.times = append(f.times, r.Form.Get("time"))
	f.mu.Unlock()
	a, ok := f.answers[r.Form.Get("query")]
	if !ok {
		a = fakeAnswer{status: http.StatusBadRequest,
			body: `{"status":"error","errorType":"bad_data","error":"unknown query"}`}
	}
	if a.block {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (f *fakePrometheus) queryTimes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.times...)
}

// promSuccess is a 200 answer of resultType with result, and warnings.
func promSuccess(resultType, result string, warnings ...string) fakeAnswer {
	w, _ := json.Marshal(warnings)
	return fakeAnswer{status: http.StatusOK, body: fmt.Sprintf(
		`{"status":"success","data":{"resultType":%q,"result":%s},"warnings":%s}`, resultType, result, w)}
}

func promScalar(v string) fakeAnswer { return promSuccess("scalar", `[1700000000,"`+v+`"]`) }

func promVector(values ...string) fakeAnswer {
	result := "["
	for i, v := range values {
		if i > 0 {
			result += ","
		}
		result += fmt.Sprintf(`{"metric":{"instance":"i%d"},"value":[1700000000,%q]}`, i, v)
	}
	return promSuccess("vector", result+"]")
}

func TestMeasurePrometheusJudges(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 500_000_000, time.UTC)
	fake := newFakePrometheus(t, map[string]fakeAnswer{
		"low":      promScalar("0.05"),
		"high":     promVector("0.3"),
		"one-pct":  promVector("0.01"),
		"zero":     promScalar("0"),
		"ratio-3":  promScalar("0.03"),
		"ratio-15": promScalar("0.015"),
		"empty":    promVector(),
		"warned":   promSuccess("scalar", `[1700000000,"0.02"]`, "PromQL warning: something odd"),
	})
	for _, c := range []struct {
		name             string
		metric           release.PrometheusMetric
		phase            release.Phase
		starved          bool
		canary, baseline *float64
		statistic        float64
		reason           []string
	}{
		{name: "under max", metric: release.PrometheusMetric{Canary: "low", Max: 0.1},
			phase: release.PhaseSuccessful, canary: promFloat(0.05), reason: []string{"canary 0.05 ≤ max 0.1"}},
		{name: "over max", metric: release.PrometheusMetric{Canary: "high", Max: 0.1},
			phase: release.PhaseFailed, canary: promFloat(0.3), reason: []string{"canary 0.3 > max 0.1"}},
		{name: "over the baseline's ratio", metric: release.PrometheusMetric{Canary: "ratio-3", Baseline: "one-pct", MaxRatio: 2},
			phase: release.PhaseFailed, canary: promFloat(0.03), baseline: promFloat(0.01), statistic: 3,
			reason: []string{"canary 0.03 > baseline 0.01 × 2 (ratio 3)"}},
		{name: "within the baseline's ratio", metric: release.PrometheusMetric{Canary: "ratio-15", Baseline: "one-pct", MaxRatio: 2},
			phase: release.PhaseSuccessful, canary: promFloat(0.015), baseline: promFloat(0.01), statistic: 1.5},
		{name: "within max, over the ratio", metric: release.PrometheusMetric{Canary: "ratio-3", Baseline: "one-pct", MaxRatio: 2, Max: 0.1},
			phase: release.PhaseFailed, canary: promFloat(0.03), baseline: promFloat(0.01), statistic: 3,
			reason: []string{"canary 0.03 ≤ max 0.1", "canary 0.03 > baseline 0.01 × 2"}},
		{name: "above a zero baseline", metric: release.PrometheusMetric{Canary: "one-pct", Baseline: "zero", MaxRatio: 2},
			phase: release.PhaseFailed, canary: promFloat(0.01), baseline: promFloat(0.0), reason: []string{"canary 0.01 > baseline 0 × 2"}},
		{name: "zero and zero", metric: release.PrometheusMetric{Canary: "zero", Baseline: "zero", MaxRatio: 2},
			phase: release.PhaseSuccessful, canary: promFloat(0.0), baseline: promFloat(0.0)},
		{name: "baseline without ratio", metric: release.PrometheusMetric{Canary: "high", Baseline: "low"},
			phase: release.PhaseSuccessful, canary: promFloat(0.3), baseline: promFloat(0.05), reason: []string{"no limit"}},
		{name: "no canary data", metric: release.PrometheusMetric{Canary: "empty", Baseline: "low", Max: 0.1},
			phase: release.PhaseInconclusive, starved: true, reason: []string{`canary query "empty": no data`}},
		{name: "no baseline data", metric: release.PrometheusMetric{Canary: "low", Baseline: "empty", MaxRatio: 2},
			phase: release.PhaseInconclusive, starved: true, canary: promFloat(0.05), reason: []string{`baseline query "empty": no data`}},
		{name: "warnings", metric: release.PrometheusMetric{Canary: "warned", Max: 0.1},
			phase: release.PhaseSuccessful, canary: promFloat(0.02), reason: []string{"canary query warning: PromQL warning: something odd"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.metric
			m.Name, m.Address, m.Critical = "custom", fake.URL, true
			got := release.MeasurePrometheus(context.Background(), m, nil, 2, now)
			assert.Equal(t, c.phase, got.Phase, got.Reason)
			assert.Equal(t, c.starved, got.Starved)
			assert.Equal(t, "custom", got.Metric)
			assert.Empty(t, got.Flag)
			assert.Equal(t, 2, got.Step)
			assert.True(t, got.At.Equal(now))
			assert.True(t, got.Critical)
			assert.Equal(t, c.canary, got.Canary)
			assert.Equal(t, c.baseline, got.Baseline)
			if c.statistic != 0 {
				assert.InDelta(t, c.statistic, got.Statistic, 1e-9)
				assert.Equal(t, release.StatisticRatio, got.StatisticName)
			} else {
				assert.Zero(t, got.Statistic)
				assert.Empty(t, got.StatisticName)
			}
			for _, r := range c.reason {
				assert.Contains(t, got.Reason, r)
			}
			assert.NotContains(t, got.Reason, "\n")
			// A measurement is stored as JSON: no NaN or infinity in it.
			_, err := json.Marshal(got)
			assert.NoError(t, err)
		})
	}

	// Every query is evaluated at now.
	times := fake.queryTimes()
	require.NotEmpty(t, times)
	for _, ts := range times {
		sec, err := strconv.ParseFloat(ts, 64)
		require.NoError(t, err, ts)
		assert.InDelta(t, float64(now.UnixNano())/1e9, sec, 1e-3)
	}
}

func TestMeasurePrometheusErrors(t *testing.T) {
	fake := newFakePrometheus(t, map[string]fakeAnswer{
		"ok":       promScalar("0.01"),
		"several":  promVector("0.1", "0.2", "0.3", "0.4"),
		"nan":      promVector("NaN"),
		"inf":      promScalar("+Inf"),
		"range":    promSuccess("matrix", `[{"metric":{},"values":[[1700000000,"1"]]}]`),
		"string":   promSuccess("string", `[1700000000,"hello"]`),
		"bad(":     {status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"parse error: unclosed left parenthesis"}`},
		"internal": {status: http.StatusInternalServerError, body: "upstream\nexploded"},
		"slow":     {block: true},
	})
	for _, c := range []struct {
		name   string
		metric release.PrometheusMetric
		reason []string
	}{
		{"no canary query", release.PrometheusMetric{Address: fake.URL}, []string{"no canary query"}},
		{"no address", release.PrometheusMetric{Canary: "ok"}, []string{"no Prometheus address"}},
		{"bad address", release.PrometheusMetric{Canary: "ok", Address: "http://user:secret@[::1"}, []string{"Prometheus address: missing ']' in host"}},
		{"several series", release.PrometheusMetric{Canary: "several", Address: fake.URL},
			[]string{`canary query "several": 4 series, not one: {instance="i0"}, {instance="i1"}, {instance="i2"}, …`}},
		{"NaN", release.PrometheusMetric{Canary: "nan", Address: fake.URL}, []string{`canary query "nan": NaN`}},
		{"infinity", release.PrometheusMetric{Canary: "inf", Address: fake.URL}, []string{`canary query "inf": +Inf`}},
		{"range vector", release.PrometheusMetric{Canary: "range", Address: fake.URL}, []string{"a range vector"}},
		{"string", release.PrometheusMetric{Canary: "string", Address: fake.URL}, []string{`canary query "string": `, `"string"`}},
		{"bad PromQL", release.PrometheusMetric{Canary: "bad(", Address: fake.URL},
			[]string{`canary query "bad(": bad_data: parse error: unclosed left parenthesis`}},
		{"server error", release.PrometheusMetric{Canary: "internal", Address: fake.URL}, []string{`canary query "internal": server_error`}},
		{"bad baseline", release.PrometheusMetric{Canary: "ok", Baseline: "several", MaxRatio: 2, Address: fake.URL},
			[]string{`baseline query "several": 4 series`}},
		{"timeout", release.PrometheusMetric{Canary: "slow", Address: fake.URL, Timeout: release.Duration(50 * time.Millisecond)},
			[]string{`canary query "slow": timed out after 50ms`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.metric.Name = "custom"
			got := release.MeasurePrometheus(context.Background(), c.metric, nil, 0, time.Now())
			assert.Equal(t, release.PhaseError, got.Phase, got.Reason)
			assert.False(t, got.Starved)
			for _, r := range c.reason {
				assert.Contains(t, got.Reason, r)
			}
			assert.NotContains(t, got.Reason, "\n")
			assert.NotContains(t, got.Reason, "secret")
			_, err := json.Marshal(got)
			assert.NoError(t, err)
		})
	}
}

func TestMeasurePrometheusStopsWithItsContext(t *testing.T) {
	fake := newFakePrometheus(t, map[string]fakeAnswer{"slow": {block: true}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan release.Measurement, 1)
	go func() {
		done <- release.MeasurePrometheus(ctx, release.PrometheusMetric{Name: "custom", Address: fake.URL, Canary: "slow"},
			fake.Client(), 0, time.Now())
	}()
	cancel()
	select {
	case got := <-done:
		assert.Equal(t, release.PhaseError, got.Phase)
		assert.Contains(t, got.Reason, `canary query "slow": stopped: context canceled`)
	case <-time.After(10 * time.Second):
		t.Fatal("the measurement did not end with its context")
	}
}

func TestMeasurePrometheusUnreachable(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	addr := strings.Replace(gone.URL, "http://", "http://user:secret@", 1)
	gone.Close()
	got := release.MeasurePrometheus(context.Background(),
		release.PrometheusMetric{Name: "custom", Address: addr, Canary: "up", Max: 1}, nil, 0, time.Now())
	assert.Equal(t, release.PhaseError, got.Phase)
	assert.Contains(t, got.Reason, `canary query "up": `)
	assert.Contains(t, got.Reason, "connection refused")
	assert.NotContains(t, got.Reason, "secret")
}

func promFloat(v float64) *float64 { return &v }

// BenchmarkMeasurePrometheus is one measurement of two queries, canary and
// baseline, against a local fake: the cost on the driver's side of a
// Prometheus metric per interval.
func BenchmarkMeasurePrometheus(b *testing.B) {
	fake := &fakePrometheus{answers: map[string]fakeAnswer{"canary": promVector("0.03"), "baseline": promScalar("0.01")}}
	fake.Server = httptest.NewServer(http.HandlerFunc(fake.serve))
	defer fake.Close()
	m := release.PrometheusMetric{Name: "custom", Address: fake.URL, Canary: "canary", Baseline: "baseline", MaxRatio: 2}
	client := fake.Client()
	for b.Loop() {
		if got := release.MeasurePrometheus(context.Background(), m, client, 0, time.Now()); got.Phase != release.PhaseFailed {
			b.Fatal(got.Reason)
		}
		fake.mu.Lock()
		fake.times = fake.times[:0]
		fake.mu.Unlock()
	}
}
