package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/gobuild"
	"github.com/rollsafe/rollsafe/release"
	"github.com/rollsafe/rollsafe/version"
)

// The browser tests need Node, the npm packages of testdata/browser (npm ci
// there) and Chromium: .ci/run installs them and sets the variables.
const (
	envBrowser        = "ROLLSAFE_TEST_BROWSER"         // the folder of testdata/browser, with its node_modules
	envRequireBrowser = "ROLLSAFE_TEST_REQUIRE_BROWSER" // 1: fail instead of skipping without it
	envChromium       = "ROLLSAFE_TEST_CHROMIUM"        // the browser; default /usr/bin/chromium
)

// The page of a running fleet in headless Chromium: a release advances a
// step, is aborted from the page with a reason (the rollback, the decision
// and the audit record show), a weights dialog left open while someone else
// changes the flag fails with a conflict, a flag killed from the page reaches every
// instance, changes made outside reach the page, the page reconnects after
// its feed drops, and a read-only page has no action button. The figures
// (first paint with 50 instances and 1,000 audit records, a store change
// to the page) are logged, not asserted. The screenshots go to the test's
// artifact folder (go test -artifacts -outputdir DIR keeps them).
func TestPageInABrowser(t *testing.T) {
	dir := os.Getenv(envBrowser)
	if dir == "" {
		if os.Getenv(envRequireBrowser) == "1" {
			t.Fatalf("$%s is unset and $%s=1: the browser test must run", envBrowser, envRequireBrowser)
		}
		t.Skipf("$%s is unset: the folder of testdata/browser, after npm ci there (.ci/run sets it)", envBrowser)
	}
	chromium := os.Getenv(envChromium)
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rollsafe := filepath.Join(t.TempDir(), "rollsafe")
	require.NoError(t, gobuild.Build(ctx, "github.com/rollsafe/rollsafe/cmd/rollsafe", rollsafe))

	seeded := seedPageDatabase(t, ctx)
	seededURL := serve(t, ctx, rollsafe, seeded)

	// The fleet, with its page, for as long as the test needs it.
	addrs, err := freeAddrs(1)
	require.NoError(t, err)
	lines := make(chan string, 256)
	pr, pw := io.Pipe()
	fleetDone := make(chan int, 1)
	fleetCtx, stopFleet := context.WithCancel(ctx)
	var fleetErr lockedBuilder
	go func() {
		code := run(fleetCtx, []string{"--service", serviceBin, "--fault", "none", "--ui", "--ui-addr", addrs[0],
			"--settle", "5m", "--duration", "5m", "--logs", t.TempDir()}, pw, &fleetErr)
		_ = pw.Close()
		fleetDone <- code
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	defer func() {
		stopFleet()
		code := <-fleetDone
		t.Logf("fleet exit %d; stderr:\n%s", code, fleetErr.String())
	}()
	var fleetURL, dbFile string
	for fleetURL == "" || dbFile == "" {
		line, ok := <-lines
		require.True(t, ok, "the fleet ended before its page was up:\n%s", fleetErr.String())
		if v, ok := strings.CutPrefix(line, "the page of the releases and flags: "); ok {
			fleetURL = v
		}
		if v, ok := strings.CutPrefix(line, "the database: SQLite file "); ok {
			dbFile = v
		}
	}
	// The release has started once the fleet says so.
	for line := range lines {
		if strings.HasPrefix(line, "release orders-v2 started") {
			break
		}
	}
	go func() {
		for range lines { // keep the pipe flowing
		}
	}()
	readOnlyURL := serve(t, ctx, rollsafe, dbFile, "--read-only")

	out := t.ArtifactDir()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "page.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FLEET_URL="+fleetURL, "READONLY_URL="+readOnlyURL, "SEEDED_URL="+seededURL,
		"ROLLSAFE="+rollsafe, "ROLLSAFE_DSN="+dbFile, "OUT="+out, "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	t.Logf("page.mjs:\n%s", stdout)
	require.NoError(t, err, "page.mjs failed:\n%s", stderr.String())

	var ok bool
	for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), line)
		if v["ok"] == true {
			ok = true
		}
	}
	require.True(t, ok, "page.mjs ran every step")
	for _, name := range []string{"1-seeded", "2-release-running", "3-release-advanced", "4-release-aborted", "5-flag-killed", "6-read-only"} {
		fi, err := os.Stat(filepath.Join(out, name+".png"))
		require.NoError(t, err, "screenshot %s", name)
		assert.Positive(t, fi.Size())
	}

	// What the page did is in the database, under the user's name.
	who := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	db, err := sql.Open("sqlite", "file:"+dbFile+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	store, err := flagstore.New(db, dialect.SQLite)
	require.NoError(t, err)
	ctl, err := release.NewController(db, dialect.SQLite, store, nil)
	require.NoError(t, err)
	st, err := ctl.Status(ctx, "orders-v2")
	require.NoError(t, err)
	assert.Equal(t, release.StateRolledBack, st.State)
	evs, err := ctl.History(ctx, "orders-v2", release.HistoryFilter{Attempt: st.Attempt, Kinds: []string{release.EventRollback}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, who, evs[0].Actor)
	assert.Regexp(t, regexp.MustCompile(`^browser test: abort at step \d$`), evs[0].Reason)
	recs, err := store.History(ctx, flagstore.Filter{Key: "orders-summary-v2", Limit: 20})
	require.NoError(t, err)
	var killed bool
	for _, r := range recs {
		killed = killed || r.Actor == who && r.Reason == "browser test: kill from the page"
	}
	assert.True(t, killed, "the page's kill is in the audit trail under %s", who)
}

// serve runs rollsafe serve on the SQLite file db and returns its URL; the
// server stops with the test.
func serve(t *testing.T, ctx context.Context, rollsafe, db string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, rollsafe, append([]string{"serve", "--dialect", "sqlite", "--dsn", db, "--addr", "127.0.0.1:0", "--actor", "browser-test"}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "rollsafe serve printed no address")
	m := regexp.MustCompile(`at (http://\S+/)`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return m[1]
}

// seedPageDatabase makes a SQLite file holding what a big fleet's page
// shows: 50 live instances (kept live until the test ends), 1,000 records
// in the flags' audit trail (the newest a change of the set's metadata
// alone) and a release in progress.
func seedPageDatabase(t *testing.T, ctx context.Context) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seeded.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	store, err := flagstore.New(db, dialect.SQLite)
	require.NoError(t, err)
	seed, err := os.ReadFile("../service/flags.json")
	require.NoError(t, err)
	_, err = store.Import(ctx, seed, flagstore.Change{Actor: "seed", Reason: "the example's flags"})
	require.NoError(t, err)
	states := []flags.State{flags.Disabled, flags.Enabled}
	for i := range 998 {
		_, err := store.Apply(ctx, flagstore.Change{Actor: fmt.Sprintf("user-%d", i%7), Reason: fmt.Sprintf("change %d", i),
			Edits: []flagstore.Edit{flagstore.SetState("orders-summary-v2", states[i%2])}})
		require.NoError(t, err)
	}
	// The newest record changes the set's metadata alone: it names no flag.
	var doc strings.Builder
	_, err = store.Export(ctx, &doc)
	require.NoError(t, err)
	withMeta := `{"metadata": {"team": "orders"}, ` + strings.TrimPrefix(strings.TrimSpace(doc.String()), "{")
	res, err := store.Import(ctx, []byte(withMeta), flagstore.Change{Actor: "seed", Reason: "name the team"})
	require.NoError(t, err)
	require.Empty(t, res.Keys, "a change of the metadata alone")
	rev, err := store.Revision(ctx)
	require.NoError(t, err)
	reg, err := fleet.NewRegistry(ctx, db, dialect.SQLite)
	require.NoError(t, err)
	ids := make([]string, 50)
	for i := range ids {
		ids[i], err = reg.Register(ctx, fmt.Sprintf("http://127.0.0.1:%d", 20000+i), version.Manifest{Service: "orders", Version: "1.4.0"})
		require.NoError(t, err)
	}
	beat := func() {
		for _, id := range ids {
			_ = reg.Heartbeat(ctx, id, fleet.Status{Ready: true, FlagsRevision: &rev}) // a missed beat shows as an older heartbeat
		}
	}
	beat()
	hbCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
				beat()
			}
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })
	ctl, err := release.NewController(db, dialect.SQLite, store, reg)
	require.NoError(t, err)
	plan, err := release.ParsePlan(defaultPlan)
	require.NoError(t, err)
	plan.Requires = ""
	_, err = ctl.Start(ctx, plan, "seed")
	require.NoError(t, err)
	return path
}

// lockedBuilder is a strings.Builder that one goroutine writes while
// another reads.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
