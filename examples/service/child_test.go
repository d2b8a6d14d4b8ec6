package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envChild makes the test binary run as the service, with the JSON array
// of arguments it holds: real processes, which a test can SIGKILL.
const envChild = "ORDERS_TEST_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(envChild); args != "" {
		os.Exit(runChild(args))
	}
	os.Exit(m.Run())
}

// runChild runs the service and prints "listening ADDR" on stdout once it
// accepts connections.
func runChild(args string) int {
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	started := make(chan string, 1)
	go func() {
		if addr, ok := <-started; ok {
			fmt.Printf("listening %s\n", addr)
		}
	}()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, argv, logger, started); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// child is the service running in a process of its own.
type child struct {
	cmd    *exec.Cmd
	base   string
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited, once exited is closed
}

// startChild starts the service as a child process and waits until it
// listens. The test's cleanup stops it (SIGTERM, then SIGKILL).
func startChild(t *testing.T, logs io.Writer, args ...string) *child {
	t.Helper()
	argv, err := json.Marshal(append([]string{"--addr", "127.0.0.1:0", "--drain-delay", "10ms"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(argv))
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("child did not stop on SIGTERM")
		}
	})
	select {
	case a := <-addr:
		c.base = "http://" + a
	case <-c.exited:
		t.Fatalf("child exited before listening: %v", c.err)
	case <-time.After(60 * time.Second):
		t.Fatal("child did not listen within 60s")
	}
	return c
}

// kill ends the child with SIGKILL: no drain, no goodbye, its lease left to
// lapse.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("killed child did not exit")
	}
}
