package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape reads GET /metrics as a Prometheus server would.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, string(body))
	return families
}

// sample returns the value of the counter or gauge, or the count of the
// histogram, of family whose labels include want, and whether there is one.
func sample(families map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f, ok := families[family]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount()), true
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestServiceServesSwitchMetrics(t *testing.T) {
	flagsPath := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(flagsPath, defaultFlags, 0o644))
	base, _, _ := service(t, "--flags", flagsPath, "--demo-faults")
	waitReady(t, base)

	// One success and four failures of the new path trip the breaker
	// (--min-calls 5 in run); the two calls after it take the old path.
	resp, _ := get(t, base+"/summary")
	require.Equal(t, "new", resp.Header.Get("X-Code-Path"))
	for range 4 {
		resp, _ := get(t, base+"/summary?fail=new")
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	}
	for range 2 {
		resp, _ := get(t, base+"/summary")
		require.Equal(t, "old", resp.Header.Get("X-Code-Path"))
	}

	families := scrape(t, base)
	flag := map[string]string{"feature_flag_key": "orders-summary-v2"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"feature_flag_key": flag["feature_flag_key"]}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"rollsafe_flags_switch_calls_total", with("rollsafe_switch_path", "new", "rollsafe_switch_cause", "flag"), 5},
		{"rollsafe_flags_switch_calls_total", with("rollsafe_switch_path", "old", "rollsafe_switch_cause", "breaker"), 2},
		{"rollsafe_flags_switch_errors_total", with("rollsafe_switch_path", "new"), 4},
		{"rollsafe_flags_switch_state_changes_total", with("rollsafe_switch_state", "open"), 1},
	} {
		got, ok := sample(families, c.family, c.labels)
		if assert.True(t, ok, "%s%v is not on /metrics", c.family, c.labels) {
			assert.Equal(t, c.want, got, "%s%v", c.family, c.labels)
		}
	}
	// The old path never failed: no series, rather than a zero.
	_, ok := sample(families, "rollsafe_flags_switch_errors_total", with("rollsafe_switch_path", "old"))
	assert.False(t, ok)
	// The first call of a path is always timed.
	timed, ok := sample(families, "rollsafe_flags_switch_duration_seconds", with("rollsafe_switch_path", "new"))
	if assert.True(t, ok, "the duration histogram is not on /metrics") {
		assert.GreaterOrEqual(t, timed, 1.0)
	}
	_, ok = sample(families, "target_info", map[string]string{"service_name": "orders"})
	assert.True(t, ok, "target_info does not name the service")
	// The flags telemetry hook records on the same provider.
	evaluations, ok := sample(families, "rollsafe_flags_evaluations_total", flag)
	if assert.True(t, ok, "the evaluation counter is not on /metrics") {
		assert.GreaterOrEqual(t, evaluations, 7.0)
	}
}
