package main

import (
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
	in := launch(t, logs, args...)
	return in.wait(t), in.stop, in.done
}

// instance is a service started by launch.
type instance struct {
	started chan string
	done    chan error
	stop    context.CancelFunc
}

// launch starts the example without waiting for it to listen, so that
// several can start together; wait returns its base URL. The test's
// cleanup stops it.
func launch(t *testing.T, logs io.Writer, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{started: make(chan string, 1), done: make(chan error, 1), stop: cancel}
	stopped := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(logs, nil))
	go func() {
		defer close(stopped)
		in.done <- run(ctx, append([]string{"--addr", "127.0.0.1:0", "--drain-delay", "10ms"}, args...), logger, in.started)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Error("service did not stop")
		}
	})
	return in
}

func (in *instance) wait(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-in.started:
		return "http://" + addr
	case err := <-in.done:
		t.Fatalf("service did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start in 30s")
	}
	return ""
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
	waitReady(t, base)
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
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dialect", "oracle"}, `unknown dialect "oracle"`},
		{[]string{"--dialect", "postgres"}, "--dialect postgres needs --dsn"},
		{[]string{"--dsn", "postgres://127.0.0.1/app"}, "--dsn is for postgres and mysql"},
		{[]string{"--dialect", "mysql", "--dsn", "root@tcp(127.0.0.1:1)/app", "--db", "orders.db"}, "--db is the SQLite file"},
		{[]string{"--dialect", "mysql", "--dsn", "root:secret@tcp(127.0.0.1:1/app"}, "--dsn: not a MySQL DSN"},
	} {
		err := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, c.args...), logger, nil)
		assert.ErrorContains(t, err, c.want, "%q", c.args)
		if err != nil {
			assert.NotContains(t, err.Error(), "secret", "%q", c.args)
		}
	}
}

// A database that does not answer stops the start-up with an error that
// names it without its password.
func TestServiceReportsAnUnreachableDatabaseWithoutItsPassword(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--dialect", "postgres",
		"--dsn", "postgres://orders:s3cret-pw@127.0.0.1:1/orders?connect_timeout=2"}, logger, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database postgres 127.0.0.1/orders")
	assert.NotContains(t, err.Error(), "s3cret-pw")
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
