// Package promtest runs a real Prometheus server for tests: the binary
// named by $ROLLSAFE_TEST_PROMETHEUS, on 127.0.0.1, scraping the targets a
// test gives it every second.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The tests that need a Prometheus server run the binary named by
// ROLLSAFE_TEST_PROMETHEUS; without it they are skipped, unless
// ROLLSAFE_TEST_REQUIRE_PROMETHEUS is "1", under which they fail instead.
const (
	EnvBinary  = "ROLLSAFE_TEST_PROMETHEUS"
	EnvRequire = "ROLLSAFE_TEST_REQUIRE_PROMETHEUS"
)

// Binary returns the Prometheus binary to run, or skips (fails under
// $ROLLSAFE_TEST_REQUIRE_PROMETHEUS=1) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(EnvBinary); bin != "" {
		return bin
	}
	msg := EnvBinary + " is not set to a Prometheus binary"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg + " (" + EnvRequire + "=1)")
	}
	t.Skip(msg)
	return ""
}

// Server is a running Prometheus.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
	// Exited receives how the process ended, if it ends before the test.
	Exited <-chan error
}

// Start runs bin on 127.0.0.1, scraping target (host:port; metrics at
// /metrics) every second, and returns once it is ready. The test's cleanup
// stops it with SIGTERM and checks that it exited cleanly.
func Start(t testing.TB, bin, target string) *Server {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: target
    static_configs:
      - targets: [%q]
`, target)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Stopped with SIGTERM, as a service manager would; killed if it has
	// not exited after 10 s.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-exited:
			// Ended by the cleanup's SIGTERM (Wait then reports the
			// cancellation), and gracefully: not killed after WaitDelay.
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("prometheus: %v", err)
			}
			if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
				t.Errorf("prometheus did not exit cleanly: %v", cmd.ProcessState)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("prometheus (pid %d) did not exit", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs)
		}
	})

	s := &Server{URL: "http://" + addr, Exited: exited}
	s.Poll(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(s.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// Poll calls ok every 100ms until it returns true, failing the test after
// timeout or when the server exits.
func (s *Server) Poll(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case err := <-s.Exited:
			t.Fatalf("%s: prometheus exited: %v", what, err)
		case <-deadline.C:
			t.Fatalf("%s: not after %v", what, timeout)
		case <-tick.C:
		}
	}
}

// syncBuffer is a buffer a child process writes while the test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns an address of 127.0.0.1 that nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
