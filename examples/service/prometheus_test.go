package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/promtest"
	"github.com/rollsafe/rollsafe/release"
)

// errorRatioQuery is the error ratio of one arm of orders-summary-v2 as
// release.MeasurePrometheus documents it, over the last 10 s.
func errorRatioQuery(path string) string {
	sel := fmt.Sprintf(`{feature_flag_key="orders-summary-v2",rollsafe_switch_path=%q}[10s]`, path)
	return fmt.Sprintf(`(sum(rate(rollsafe_flags_switch_errors_total%s)) or vector(0)) / (sum(rate(rollsafe_flags_switch_calls_total%s)) > 0)`, sel, sel)
}

// A real Prometheus scrapes the service's /metrics while the new summary
// fails (demonstration faults): the Prometheus metric of a plan fails the
// new path's arm and passes the old one's.
func TestPrometheusScrapesTheService(t *testing.T) {
	bin := promtest.Binary(t)
	base := launch(t, io.Discard, "--db", filepath.Join(t.TempDir(), "orders.db"), "--demo-faults").wait(t)
	waitReady(t, base)
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, bin, target.Host)

	// The new path fails until the breaker opens; then the old path serves.
	l := startLoadOn(50, "/summary?fail=new", base)
	defer l.end()
	measure := func(m release.PrometheusMetric) release.Measurement {
		return release.MeasurePrometheus(context.Background(), m, http.DefaultClient, 0, time.Now())
	}
	canary := release.PrometheusMetric{Name: "new-path-errors", Address: prom.URL, Canary: errorRatioQuery("new"), Max: 0.1}
	baseline := release.PrometheusMetric{Name: "old-path-errors", Address: prom.URL, Canary: errorRatioQuery("old"), Max: 0.1}
	var got release.Measurement
	prom.Poll(t, 60*time.Second, "both arms scraped", func() bool {
		got = measure(canary)
		return got.Phase == release.PhaseFailed && measure(baseline).Phase == release.PhaseSuccessful
	})
	if assert.NotNil(t, got.Canary, got.Reason) {
		assert.Greater(t, *got.Canary, 0.1, got.Reason)
	}
	old := measure(baseline)
	if assert.NotNil(t, old.Canary, old.Reason) {
		assert.Equal(t, 0.0, *old.Canary, old.Reason)
	}
}
