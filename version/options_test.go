package version_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rollsafe/rollsafe/version"
)

// Each option is accepted by exactly the calls it applies to. The static
// types make the compiler refuse the rest (version.Fetch(ctx, url,
// version.WithPolicy(version.Refuse)) does not compile); the test asserts
// the method sets behind them, so that no option type is widened by
// mistake.
func TestOptionsApplyWhereTheyMean(t *testing.T) {
	const (
		fetch = iota
		negotiate
		checker
		monitor
	)
	tests := []struct {
		name  string
		opt   version.MonitorOption
		first int // the narrowest call that accepts it; every wider one does too
	}{
		{"WithTimeout", version.WithTimeout(time.Second), fetch},
		{"WithHTTPClient", version.WithHTTPClient(http.DefaultClient), fetch},
		{"WithPath", version.WithPath("/m"), fetch},
		{"WithConcurrency", version.WithConcurrency(2), negotiate},
		{"WithPrereleases", version.WithPrereleases(), negotiate},
		{"WithMeterProvider", version.WithMeterProvider(noop.NewMeterProvider()), negotiate},
		{"WithTracerProvider", version.WithTracerProvider(tracenoop.NewTracerProvider()), negotiate},
		{"WithPolicy", version.WithPolicy(version.Warn), checker},
		{"WithRequireAll", version.WithRequireAll(), checker},
		{"WithLogger", version.WithLogger(slog.New(slog.DiscardHandler)), checker},
		{"WithInterval", version.WithInterval(time.Minute), monitor},
		{"WithObserver", version.WithObserver(func(version.Report, error) {}), monitor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, isFetch := tt.opt.(version.FetchOption)
			_, isNegotiate := tt.opt.(version.NegotiateOption)
			_, isChecker := tt.opt.(version.CheckerOption)
			assert.Equal(t, tt.first <= fetch, isFetch, "applies to Fetch")
			assert.Equal(t, tt.first <= negotiate, isNegotiate, "applies to Negotiate")
			assert.Equal(t, tt.first <= checker, isChecker, "applies to NewChecker")
		})
	}
}

func TestOptionsRefuseNil(t *testing.T) {
	_, err := version.Fetch(context.Background(), "http://127.0.0.1:1/", nil)
	assert.ErrorContains(t, err, "version: nil option")
	_, err = version.NewChecker(orders, version.WithTimeout(time.Second), nil)
	assert.ErrorContains(t, err, "version: nil option")
	_, err = version.NewMonitor(orders, version.Static{}, nil)
	assert.ErrorContains(t, err, "version: nil option")
	_, err = version.Negotiate(context.Background(), orders, nil, version.WithConcurrency(0))
	assert.ErrorContains(t, err, "version: concurrency 0 is less than 1")
}

// The issue's own example: options a call would ignore do not compile there.
// The program is built through an overlay, as a package beside this one.
func TestOptionsMisappliedDoNotCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil { // go test runs from a toolchain; its go command is beside GOROOT
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := func(t *testing.T, body string) (string, error) {
		dir := t.TempDir()
		src := filepath.Join(dir, "x.go")
		require.NoError(t, os.WriteFile(src, []byte(`package x

import (
	"context"

	"github.com/rollsafe/rollsafe/version"
)

func f(ctx context.Context) {
	`+body+`
}
`), 0o644))
		here, err := os.Getwd()
		require.NoError(t, err)
		overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(here, "optioncheck_overlay", "x.go"): src}})
		require.NoError(t, err)
		ov := filepath.Join(dir, "overlay.json")
		require.NoError(t, os.WriteFile(ov, overlay, 0o644))
		out, err := exec.Command(gobin, "build", "-overlay", ov, "./optioncheck_overlay").CombinedOutput()
		return string(out), err
	}
	out, err := build(t, `_, _ = version.Fetch(ctx, "http://x/", version.WithTimeout(1), version.WithPath("/m"))`)
	require.NoError(t, err, "a call with the options it uses compiles: %s", out)

	out, err = build(t, `_, _ = version.Fetch(ctx, "http://x/", version.WithPolicy(version.Refuse), version.WithInterval(1))`)
	require.Error(t, err)
	assert.Contains(t, out, "version.WithPolicy(version.Refuse) (value of interface type version.CheckerOption) as version.FetchOption")
	assert.Contains(t, out, "version.WithInterval(1) (value of interface type version.MonitorOption) as version.FetchOption")

	out, err = build(t, `_, _ = version.Negotiate(ctx, version.Manifest{}, nil, version.WithObserver(nil))`)
	require.Error(t, err)
	assert.Contains(t, out, "as version.NegotiateOption")
}
