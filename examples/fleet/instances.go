package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rollsafe/rollsafe/internal/gobuild"
)

// servicePackage is what the command builds when --service is not given.
const servicePackage = "github.com/rollsafe/rollsafe/examples/service"

// buildService builds examples/service into dir with the go tool, from the
// module the command runs in.
func buildService(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "service")
	if err := gobuild.Build(ctx, servicePackage, bin); err != nil {
		return "", fmt.Errorf("%w\n(run from the rollsafe module, or give a built one with --service)", err)
	}
	return bin, nil
}

// instance is one examples/service process.
type instance struct {
	name    string // "instance 1", ...
	addr    string // host:port
	base    string // http://host:port
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	err     error         // how it exited, once exited is closed
	mu      sync.Mutex
	killed  bool // by --chaos or stop: its end is expected
	crash   bool // it exited by itself
}

// startInstance starts one instance on addr, its log in logDir. env holds
// what the instance reads from its environment.
func startInstance(bin string, n int, addr string, args []string, env []string, logDir string) (*instance, error) {
	in := &instance{name: "instance " + strconv.Itoa(n), addr: addr, base: "http://" + addr,
		logPath: filepath.Join(logDir, fmt.Sprintf("instance-%d.log", n)), exited: make(chan struct{})}
	logFile, err := os.Create(in.logPath)
	if err != nil {
		return nil, err
	}
	in.cmd = exec.Command(bin, append([]string{"--addr", addr}, args...)...)
	in.cmd.Env = append(os.Environ(), env...)
	in.cmd.Stdout, in.cmd.Stderr = logFile, logFile
	if err := in.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	go func() {
		err := in.cmd.Wait()
		_ = logFile.Close()
		in.mu.Lock()
		in.err, in.crash = err, !in.killed
		in.mu.Unlock()
		close(in.exited)
	}()
	return in, nil
}

// freeAddrs returns n distinct addresses of 127.0.0.1 that nothing listens
// on now: each is held until all are chosen, or the system could hand one
// port out twice.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// waitReady polls /readyz until it answers 200, the process exits or ctx
// ends.
func (in *instance) waitReady(ctx context.Context, client *http.Client) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", in.name, in.exitErr(), in.logTail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready in time: %w; its log ends:\n%s", in.name, ctx.Err(), in.logTail(20))
		case <-t.C:
		}
	}
}

func (in *instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// alive says whether the process still runs.
func (in *instance) alive() bool {
	select {
	case <-in.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL: no drain, its lease left to lapse.
func (in *instance) kill() error {
	in.mu.Lock()
	in.killed = true
	in.mu.Unlock()
	if err := in.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill %s: %w", in.name, err)
	}
	<-in.exited
	return nil
}

// crashed says whether the process ended by itself: not killed by --chaos,
// not stopped by stop.
func (in *instance) crashed() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.crash
}

// stop ends the process with SIGTERM (it drains and leaves the registry),
// or SIGKILL when it has not exited within grace. It returns how the
// process exited when that was not cleanly.
func (in *instance) stop(grace time.Duration) error {
	if !in.alive() {
		return nil
	}
	in.mu.Lock()
	in.killed = true // from here on, an exit is expected
	in.mu.Unlock()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", in.name, err)
	}
	select {
	case <-in.exited:
		if err := in.exitErr(); err != nil {
			return fmt.Errorf("%s exited with %v on SIGTERM; its log ends:\n%s", in.name, err, in.logTail(10))
		}
		return nil
	case <-time.After(grace):
		_ = in.cmd.Process.Kill()
		<-in.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", in.name, grace)
	}
}

// logTail returns the last n lines of the instance's log.
func (in *instance) logTail(n int) string {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
