package main

// The fleet the drill tests run against: examples/service, built once, in
// processes of their own on the test's database.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/gobuild"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// drillFlag is the flag examples/service seeds its store with.
const drillFlag = "orders-summary-v2"

// serviceBuild is examples/service built once for the test binary, into a
// directory TestMain removes.
var serviceBuild struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if serviceBuild.dir != "" {
		_ = os.RemoveAll(serviceBuild.dir) // a temporary directory: nothing to report
	}
	os.Exit(code)
}

// serviceBinary returns the path of examples/service, built the first time.
func serviceBinary(t *testing.T) string {
	t.Helper()
	serviceBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "rollsafe-drill-test-")
		if err != nil {
			serviceBuild.err = err
			return
		}
		serviceBuild.dir, serviceBuild.path = dir, filepath.Join(dir, "service")
		serviceBuild.err = gobuild.Build(context.Background(), "github.com/rollsafe/rollsafe/examples/service", serviceBuild.path)
	})
	require.NoError(t, serviceBuild.err)
	return serviceBuild.path
}

// service is one instance of examples/service in a process of its own.
type service struct {
	cmd     *exec.Cmd
	address string // the base URL it registers
	id      string // its registry entry
	exited  chan struct{}
}

// lockedBuffer collects a process's log from the goroutine that copies it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startFleet starts n instances of examples/service on db and waits until
// the registry lists each ready, serving a flag revision. They are stopped
// with SIGTERM at cleanup.
func startFleet(t *testing.T, db *testdb.DB, n int) []*service {
	t.Helper()
	bin := serviceBinary(t)
	args := []string{"--db", db.Name}
	if db.Dialect != dialect.SQLite {
		args = []string{"--dialect", db.Dialect.String(), "--dsn", db.DSN}
	}
	args = append(args, "--addr", "127.0.0.1:0", "--drain-delay", "10ms")
	fleetOut := make([]*service, n)
	type heard struct {
		i    int
		addr string
	}
	addrs := make(chan heard, n)
	for i := range fleetOut {
		cmd := exec.Command(bin, args...)
		stderr, err := cmd.StderrPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		s := &service{cmd: cmd, exited: make(chan struct{})}
		fleetOut[i] = s
		logs := &lockedBuffer{}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				line := sc.Text()
				fmt.Fprintln(logs, line)
				if m := listening.FindStringSubmatch(line); m != nil {
					addrs <- heard{i, "http://" + m[1]}
				}
			}
			_, _ = io.Copy(logs, stderr) // a line too long for the scanner
		}()
		go func() {
			<-copied // Wait closes the pipe: the copy must be over first
			_ = cmd.Wait()
			close(s.exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-s.exited
				t.Errorf("instance %d did not stop on SIGTERM", i)
			}
			if t.Failed() {
				t.Logf("instance %d (%s) log:\n%s", i, s.address, logs.String())
			}
		})
	}
	deadline := time.After(30 * time.Second)
	for range n {
		select {
		case h := <-addrs:
			fleetOut[h.i].address = h.addr
		case <-deadline:
			t.Fatal("the instances did not all listen within 30s")
		}
	}

	reg, err := fleet.NewRegistry(context.Background(), db.DB, db.Dialect)
	require.NoError(t, err)
	// The condition runs on a goroutine of its own: it reports through c,
	// never by stopping the test.
	ids := make([]string, n)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		ins, err := reg.List(context.Background())
		if !assert.NoError(c, err, "read the registry") {
			return
		}
		byAddr := map[string]fleet.Instance{}
		for _, in := range ins {
			byAddr[in.Address] = in
		}
		for i, s := range fleetOut {
			in, ok := byAddr[s.address]
			if !assert.True(c, ok && in.Ready && in.FlagsRevision != nil, "instance %d (%s) listed ready, serving flags", i, s.address) {
				return
			}
			ids[i] = in.ID
		}
		assert.Len(c, ins, n, "the registry lists the fleet and nothing else")
	}, 30*time.Second, 20*time.Millisecond, "the registry lists every instance ready and serving flags")
	for i, s := range fleetOut {
		s.id = ids[i]
	}
	return fleetOut
}

// drillCLI runs "rollsafe drill ARGS... --dialect D --dsn DSN" in-process,
// with hooks between its phases and ctx as the command's context.
func drillCLI(t *testing.T, ctx context.Context, db *testdb.DB, h drillHooks, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	dsnArg := db.DSN
	if db.Dialect == dialect.SQLite {
		dsnArg = db.Name // a path, as operators give it
	}
	args = append(append([]string{"drill"}, args...), "--dialect", db.Dialect.String(), "--dsn", dsnArg)
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &countingWriter{w: &out}, stderr: &errOut}
	code := dispatch(e, []command{drillCommandWith(h)}, args, "rollsafe")
	return code, out.String(), errOut.String()
}

// storedDefinition is the flag's row as the table holds it.
func storedDefinition(t *testing.T, db *testdb.DB, key string) string {
	t.Helper()
	var def string
	require.NoError(t, db.QueryRowContext(context.Background(),
		db.Dialect.Rebind(`SELECT definition FROM rollsafe_flags WHERE flag_key = ?`), key).Scan(&def))
	return def
}

func drillStore(t *testing.T, db *testdb.DB) *flagstore.Store {
	t.Helper()
	s, err := flagstore.New(db.DB, db.Dialect)
	require.NoError(t, err)
	return s
}

// drillReason is the reason the drill records when run by this test.
func drillReason(reason string) string {
	return reason + " (by " + osUser(&env{}) + ")"
}

// stopWithoutLock SIGSTOPs s at a moment when it holds no write lock on the
// SQLite file (a process stopped inside a write transaction would block
// every writer), and SIGCONTs it at cleanup.
func stopWithoutLock(t *testing.T, db *testdb.DB, s *service) {
	t.Helper()
	probe, err := sql.Open("sqlite", "file:"+db.Name+"?_pragma=busy_timeout(200)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	defer probe.Close()
	for try := 0; ; try++ {
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGSTOP))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := probe.Conn(ctx)
		require.NoError(t, err)
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil {
			_, err = conn.ExecContext(ctx, "ROLLBACK")
			require.NoError(t, err)
		}
		require.NoError(t, conn.Close())
		cancel()
		if err == nil {
			break
		}
		require.NoError(t, s.cmd.Process.Signal(syscall.SIGCONT))
		require.Less(t, try, 20, "the instance holds the write lock at every stop: %v", err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) })
}

// shellWords splits a command line as a POSIX shell does, for the quoting
// that shellQuote writes: words apart by spaces, quoted in single quotes,
// a quote inside written as quote, backslash, quote, quote.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	require.False(t, quoted || escaped, "unterminated quote or escape in %q", line)
	if inWord {
		words = append(words, w.String())
	}
	return words
}
