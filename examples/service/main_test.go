package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// service starts the example on a free port of 127.0.0.1 and returns its base
// URL, the function that stops it, and the channel run's result arrives on.
func service(t *testing.T, args ...string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	return serviceLogging(t, io.Discard, args...)
}

// serviceLogging is service with the log written to logs.
func serviceLogging(t *testing.T, logs io.Writer, args ...string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	stopped := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(logs, nil))
	go func() {
		defer close(stopped)
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0", "--drain-delay", "10ms"}, args...), logger, started)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Error("service did not stop")
		}
	})
	select {
	case addr := <-started:
		return "http://" + addr, cancel, done
	case err := <-done:
		t.Fatalf("service did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start in 30s")
	}
	return "", nil, nil
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func healthStatus(t *testing.T, body []byte) string {
	t.Helper()
	var doc struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(body, &doc), string(body))
	return doc.Status
}

func TestServiceServesHealthAndDrains(t *testing.T) {
	base, stop, done := service(t, "--drain-delay", "1s", "--db", filepath.Join(t.TempDir(), "orders.db"))

	resp, body := get(t, base+"/livez")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/health+json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "pass", healthStatus(t, body))

	// Ready once the migrations are in.
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	resp, body = get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "pass", healthStatus(t, body))
	for _, check := range []string{"database", "migrations", "schema", "peers", "orders-summary-v2"} {
		assert.Contains(t, string(body), `"`+check+`"`)
	}

	resp, body = get(t, base+"/.well-known/rollsafe")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"service": "orders"`)

	resp, body = get(t, base+"/summary")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "new", resp.Header.Get("X-Code-Path"))
	assert.JSONEq(t, `[{"customer":"Ada","orders":2,"totalCents":2050},{"customer":"Grace","orders":1,"totalCents":4100}]`, string(body))

	// SIGTERM: readiness fails at once, liveness stays, the server still
	// answers during the drain delay, then run returns.
	stop()
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 5*time.Second, 10*time.Millisecond)
	resp, _ = get(t, base+"/livez")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("service did not stop after draining")
	}
	_, err := http.Get(base + "/livez")
	assert.Error(t, err, "the server must be closed after shutdown")
}

func TestServiceFlagFileAndBreaker(t *testing.T) {
	flagsPath := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(flagsPath, defaultFlags, 0o644))
	base, _, _ := service(t, "--flags", flagsPath, "--demo-faults")
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)

	resp, _ := get(t, base+"/summary")
	require.Equal(t, "new", resp.Header.Get("X-Code-Path"))

	// The new path fails: once five calls are counted (one success, four
	// failures) the breaker trips and the old path serves, with readiness
	// warning but still passing.
	for i := range 4 {
		resp, body := get(t, base+"/summary?fail=new")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "call %d: %s %s", i, resp.Header.Get("X-Code-Path"), body)
	}
	resp, body := get(t, base+"/summary")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "old", resp.Header.Get("X-Code-Path"))
	assert.JSONEq(t, `[{"customer":"Ada","orders":2,"totalCents":2050},{"customer":"Grace","orders":1,"totalCents":4100}]`, string(body))
	resp, body = get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "warn", healthStatus(t, body))
}

func TestServiceFollowsFlagFile(t *testing.T) {
	flagsPath := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(flagsPath, defaultFlags, 0o644))
	base, _, _ := service(t, "--flags", flagsPath)
	resp, _ := get(t, base+"/summary")
	require.Equal(t, "new", resp.Header.Get("X-Code-Path"))

	// Switch the feature off by editing the file.
	off := []byte(`{"flags":{"orders-summary-v2":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}}}`)
	require.NoError(t, os.WriteFile(flagsPath, off, 0o644))
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/summary")
		return resp.Header.Get("X-Code-Path") == "old"
	}, 10*time.Second, 20*time.Millisecond)
}

func TestServiceRejectsBadArguments(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "extra"}, logger, nil)
	assert.ErrorContains(t, err, "unexpected arguments")
	err = run(context.Background(), []string{"--peer", "http://127.0.0.1:1", "--addr", "127.0.0.1:0"}, logger, nil)
	assert.ErrorContains(t, err, "refusing to start")
}

// Without --demo-faults, ?fail=new is an ordinary query parameter: no caller
// can make the new path fail, let alone trip the breaker for everyone.
func TestServiceIgnoresFailWithoutDemoFaults(t *testing.T) {
	flagsPath := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(flagsPath, defaultFlags, 0o644))
	base, _, _ := service(t, "--flags", flagsPath)
	require.Eventually(t, func() bool {
		resp, _ := get(t, base+"/readyz")
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)

	// More calls than it takes to trip the breaker with --demo-faults.
	for i := range 10 {
		resp, body := get(t, base+"/summary?fail=new")
		require.Equal(t, http.StatusOK, resp.StatusCode, "call %d: %s", i, body)
		require.Equal(t, "new", resp.Header.Get("X-Code-Path"), "call %d", i)
	}
	resp, body := get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "pass", healthStatus(t, body), "the breaker must not have tripped")
}

// watchedFile receives the log line in which the service names the flag
// file it watches (slog writes each record in one Write).
type watchedFile chan string

func (c watchedFile) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`msg="watching flag file"`)) {
		select {
		case c <- string(p):
		default:
		}
	}
	return len(p), nil
}

// Started from any directory without --flags, the service watches the
// example's own flags.json and says so, so that the README's edit of that
// file switches the running demo.
func TestServiceWatchesTheExampleFlagFileFromAnyDirectory(t *testing.T) {
	own, err := filepath.Abs("flags.json")
	require.NoError(t, err)
	t.Chdir(t.TempDir())
	logged := make(watchedFile, 1)
	base, _, _ := serviceLogging(t, logged)
	resp, _ := get(t, base+"/summary")
	assert.Equal(t, "new", resp.Header.Get("X-Code-Path"))
	// Logged before the server listens, so before service returned.
	select {
	case line := <-logged:
		assert.Contains(t, line, own)
	default:
		t.Fatal("the service did not log the flag file it watches")
	}
}
