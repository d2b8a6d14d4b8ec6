package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
	"github.com/rollsafe/rollsafe/release"
)

// releaseSeed holds the two flags the release tests move, each on its
// baseline.
const releaseSeed = `{"flags": {
  "orders-summary-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"fractional": [{"var": "targetingKey"}, ["off", 100], ["on", 0]]}},
  "search-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"fractional": [{"var": "targetingKey"}, ["off", 100], ["on", 0]]}}
}}`

// gatedPlan moves search-v2 in two steps; the first waits for a promote
// by lead. It has no requires and no schemaFloor.
const gatedPlan = `id: search-v2
flags:
  - key: search-v2
    baseline: "off"
    canary: "on"
steps:
  - weights: { search-v2: 10 }
    bake: 1h
  - weights: { search-v2: 100 }
    bake: 1h
approval:
  steps: [1]
  promoters: [lead]
analysis:
  interval: 20ms
`

// releaseDB is a database with a flag store seeded with releaseSeed, and
// the CLI's release commands on it.
type releaseDB struct {
	*testdb.DB
	store *flagstore.Store
}

func newReleaseDB(t *testing.T, db *testdb.DB) *releaseDB {
	t.Helper()
	s, err := flagstore.New(db.DB, db.Dialect)
	require.NoError(t, err)
	_, err = s.Import(context.Background(), []byte(releaseSeed), flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	return &releaseDB{DB: db, store: s}
}

// cli runs "rollsafe release CMD ARGS... --dialect D --dsn DSN".
func (r *releaseDB) cli(t *testing.T, cmd string, args ...string) (int, string, string) {
	t.Helper()
	return rollsafe(t, append(append([]string{"release", cmd}, args...), "--dialect", r.Dialect.String(), "--dsn", r.DSN)...)
}

// status reads the release id as the CLI's JSON gives it.
func (r *releaseDB) status(t *testing.T, id string) release.Status {
	t.Helper()
	code, out, errOut := r.cli(t, "status", id, "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	return decode[release.Status](t, out)
}

func TestReleaseStartAndStatus(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		r := newReleaseDB(t, db)
		gated := writeFlagFile(t, "gated.yaml", gatedPlan)

		code, out, errOut := r.cli(t, "start", examplePlan, "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "release orders-summary-v2 started by ci (attempt 1): 5 steps\n"+
			"warning: no instance drives releases now (no release.Controller holds the lease): nothing moves until one runs\n", out)
		assert.Empty(t, errOut)

		code, out, errOut = r.cli(t, "start", "--format", "json", "--actor", "ci", gated)
		require.Equal(t, exitOK, code, errOut)
		st := decode[release.Status](t, out)
		assert.Equal(t, "search-v2", st.ID)
		assert.Equal(t, release.StateProgressing, st.State)
		assert.Equal(t, -1, st.Step)
		assert.Equal(t, 2, st.Steps)
		assert.Equal(t, 1, st.Attempt)
		assert.Equal(t, "ci", st.StartedBy)
		assert.Empty(t, st.Driver)
		assert.Equal(t, map[string]int{"search-v2": 0}, st.Weights)
		require.NotNil(t, st.Plan)
		assert.Equal(t, []string{"lead"}, st.Plan.Approval.Promoters)

		// A release that is running is not started twice.
		for _, format := range []string{"text", "json"} {
			code, out, errOut = r.cli(t, "start", examplePlan, "--actor", "ci", "--format", format)
			assert.Equal(t, exitFailed, code, format)
			assert.Contains(t, errOut, `rollsafe: release start: refused: `, format)
			assert.Contains(t, errOut, `"orders-summary-v2" is Progressing`, format)
			if format == "json" {
				e := decode[jsonError](t, out)
				assert.Equal(t, exitFailed, e.ExitCode)
				assert.Contains(t, e.Error, "release start: refused: ")
			} else {
				assert.Empty(t, out)
			}
		}

		// Every release, the newest first.
		code, out, errOut = r.cli(t, "status")
		require.Equal(t, exitOK, code, errOut)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, 3, out)
		assert.Regexp(t, `^ID\s+ATTEMPT\s+STATE\s+STEP\s+WEIGHTS\s+STARTED\s+BY$`, lines[0])
		assert.Regexp(t, `^search-v2\s+1\s+Progressing\s+-/2\s+search-v2=0%\s+\d{4}-\d\d-\d\dT\S+Z\s+ci$`, lines[1])
		assert.Regexp(t, `^orders-summary-v2\s+1\s+Progressing\s+-/5\s+orders-summary-v2=0%\s+\S+\s+ci$`, lines[2])

		code, out, errOut = r.cli(t, "status", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		list := decode[struct{ Releases []release.Status }](t, out)
		require.Len(t, list.Releases, 2)
		assert.Equal(t, []string{"search-v2", "orders-summary-v2"}, []string{list.Releases[0].ID, list.Releases[1].ID})
		assert.Contains(t, out, `{"releases":[{"id":"search-v2",`)

		code, out, errOut = r.cli(t, "status", "orders-summary-v2")
		require.Equal(t, exitOK, code, errOut)
		lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, lines, 4, out)
		assert.Equal(t, "release orders-summary-v2 (attempt 1): Progressing, step -/5, orders-summary-v2=0%", lines[0])
		assert.Regexp(t, `^verdict: hold — .*no measurement yet`, lines[1])
		assert.Regexp(t, `^driver: none; store revision 0; started \S+ by ci$`, lines[2])
		assert.Contains(t, lines[3], "warning: no instance drives releases now")

		for _, format := range []string{"text", "json"} {
			code, out, errOut = r.cli(t, "status", "nosuch", "--format", format)
			assert.Equal(t, exitFailed, code, format)
			assert.Contains(t, errOut, `release status: refused: `, format)
			assert.Contains(t, errOut, `release "nosuch": release not found`, format)
			if format == "json" {
				assert.Equal(t, exitFailed, decode[jsonError](t, out).ExitCode)
			}
		}

		// Nobody drives it: --watch gives up after --timeout.
		code, out, errOut = r.cli(t, "status", "search-v2", "--watch", "--interval", "10ms", "--timeout", "50ms")
		assert.Equal(t, exitFailed, code)
		assert.Regexp(t, `^\d\d:\d\d:\d\d Progressing step -/2 search-v2=0% verdict hold: .+\n$`, out, "one line: the release never moved")
		assert.Contains(t, errOut, "rollsafe: release status: search-v2 is not over after --timeout 50ms")
		code, out, _ = r.cli(t, "status", "search-v2", "--watch", "--interval", "10ms", "--timeout", "50ms", "--format", "json")
		assert.Equal(t, exitFailed, code)
		assert.Equal(t, 1, strings.Count(out, "\n"), out)
		assert.Equal(t, release.StateProgressing, decode[release.Status](t, out).State)
	})
}

func TestReleaseCommandsRefuseBadInput(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	ghost := writeFlagFile(t, "ghost.yaml", strings.ReplaceAll(gatedPlan, "search-v2", "ghost"))
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	const invalid = "../../release/testdata/plans/invalid.yaml"
	conn := []string{"--dialect", "sqlite", "--dsn", r.DSN}
	cases := []struct {
		name    string
		args    []string
		code    int
		errOut  []string
		touches bool // the release was written
	}{
		{"invalid plan", append([]string{"start", invalid}, conn...), exitFailed, []string{
			"rollsafe: release start: refused: ",
			`steps[0].weights["checkout"]: 120 is above 100`,
			"steps[2].colour: unknown field",
			`flags[1].key: "checkout" is also flags[0]`,
		}, false},
		{"flag not in the store", append([]string{"start", ghost, "--actor", "ci"}, conn...), exitFailed, []string{
			"rollsafe: release start: refused: ", `"ghost"`,
		}, false},
		{"missing plan file", append([]string{"start", missing}, conn...), exitCantRun, []string{"rollsafe: release start: open " + missing}, false},
		{"two plan files", append([]string{"start", examplePlan, examplePlan}, conn...), exitCantRun, []string{"want one PLAN file, got 2 arguments"}, false},
		{"no dsn", []string{"start", examplePlan, "--dialect", "sqlite"}, exitCantRun, []string{"release start: --dialect and --dsn (or $ROLLSAFE_DSN) are required"}, false},
		{"no dialect", []string{"status", "--dsn", r.DSN}, exitCantRun, []string{"release status: --dialect and --dsn (or $ROLLSAFE_DSN) are required"}, false},
		{"unknown flag", append([]string{"pause", "x", "--reasn", "typo"}, conn...), exitCantRun, []string{"release pause: flag provided but not defined: -reasn"}, false},
		{"watch without id", append([]string{"status", "--watch"}, conn...), exitCantRun, []string{"want at most one ID (and one with --watch), got 0 arguments"}, false},
		{"watch interval", append([]string{"status", "x", "--watch", "--interval", "0s"}, conn...), exitCantRun, []string{"--interval 0s is not positive"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"release"}, c.args...)...)
			assert.Equal(t, c.code, code, errOut)
			assert.Empty(t, out)
			for _, want := range c.errOut {
				assert.Contains(t, errOut, want)
			}
		})
	}
	code, out, errOut := r.cli(t, "status")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "no releases\n", out, "nothing refused was recorded")

	// Every problem on a line of its own that names the file.
	code, _, errOut = r.cli(t, "start", invalid)
	require.Equal(t, exitFailed, code)
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	assert.Len(t, lines, 30, errOut)
	for _, line := range lines {
		assert.True(t, strings.HasPrefix(line, "rollsafe: release start: refused: "+invalid+": "), line)
	}
	code, out, _ = r.cli(t, "start", invalid, "--format", "json")
	assert.Equal(t, exitFailed, code)
	e := decode[jsonError](t, out)
	assert.Equal(t, exitFailed, e.ExitCode)
	assert.Contains(t, e.Error, invalid+": steps[2].colour: unknown field")

	// The missing file, asked for JSON: one JSON error object.
	code, out, _ = r.cli(t, "start", missing, "--format", "json")
	assert.Equal(t, exitCantRun, code)
	assert.Equal(t, exitCantRun, decode[jsonError](t, out).ExitCode)
}

func TestReleaseActs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		r := newReleaseDB(t, db)
		code, _, errOut := r.cli(t, "start", writeFlagFile(t, "gated.yaml", gatedPlan), "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)

		steps := []struct {
			name   string
			args   []string
			code   int
			out    string // in stdout (text) when code is 0
			errOut string // in stderr otherwise
			state  release.State
		}{
			{"pause without reason", []string{"pause", "search-v2", "--actor", "al"}, exitCantRun, "", "release pause: --reason is required: say why, for the ledger", release.StateProgressing},
			{"pause with a blank reason", []string{"pause", "search-v2", "--reason", "  "}, exitCantRun, "", "--reason is required", release.StateProgressing},
			{"pause without id", []string{"pause", "--reason", "x"}, exitCantRun, "", "release pause: want one release ID, got 0 arguments", release.StateProgressing},
			{"pause", []string{"pause", "search-v2", "--reason", "look first", "--actor", "al"}, exitOK, "release search-v2 (attempt 1): Paused, step -/2, search-v2=0%\n", "", release.StatePaused},
			{"pause again, json", []string{"pause", "search-v2", "--reason", "still", "--actor", "al", "--format", "json"}, exitOK, "", "", release.StatePaused},
			{"resume", []string{"resume", "search-v2", "--reason", "seen", "--actor", "al"}, exitOK, "Progressing, step -/2", "", release.StateProgressing},
			{"promote by someone else", []string{"promote", "search-v2", "--reason", "lgtm", "--actor", "mallory"}, exitFailed, "",
				`release promote: refused: release "search-v2": promote: "mallory" is not among the plan's promoters [lead]: not allowed`, release.StateProgressing},
			{"promote missing reason", []string{"promote", "search-v2", "--actor", "lead"}, exitCantRun, "", "release promote: --reason is required", release.StateProgressing},
			{"promote unknown", []string{"promote", "nosuch", "--reason", "x", "--actor", "lead"}, exitFailed, "", "release not found", release.StateProgressing},
			{"abort without reason", []string{"abort", "search-v2", "--actor", "oncall"}, exitCantRun, "", "release abort: --reason is required", release.StateProgressing},
			{"abort", []string{"abort", "search-v2", "--reason", "bad canary", "--actor", "oncall"}, exitOK, "RolledBack, step -/2, search-v2=0%\noutcome: oncall: bad canary\n", "", release.StateRolledBack},
			{"abort again", []string{"abort", "search-v2", "--reason", "again", "--actor", "oncall"}, exitFailed, "",
				`release abort: refused: release "search-v2": abort: it is RolledBack: release is not active`, release.StateRolledBack},
			{"pause when over", []string{"pause", "search-v2", "--reason", "late", "--actor", "al"}, exitFailed, "", "release pause: refused: ", release.StateRolledBack},
			{"resume when over", []string{"resume", "search-v2", "--reason", "late", "--actor", "al", "--format", "json"}, exitFailed, "", "it is RolledBack", release.StateRolledBack},
		}
		for _, s := range steps {
			code, out, errOut := r.cli(t, s.args[0], s.args[1:]...)
			require.Equal(t, s.code, code, "%s: %s", s.name, errOut)
			switch {
			case code == exitOK && slices.Contains(s.args, "json"):
				st := decode[release.Status](t, out)
				assert.Equal(t, s.state, st.State, s.name)
			case code == exitOK:
				assert.Contains(t, out, s.out, s.name)
				assert.Empty(t, errOut, s.name)
			default:
				assert.Contains(t, errOut, s.errOut, s.name)
				if slices.Contains(s.args, "json") {
					assert.Equal(t, code, decode[jsonError](t, out).ExitCode, s.name)
				} else {
					assert.Empty(t, out, s.name)
				}
			}
			assert.Equal(t, s.state, r.status(t, "search-v2").State, "after %s", s.name)
		}

		st := r.status(t, "search-v2")
		assert.Equal(t, "oncall: bad canary", st.Outcome)
		assert.False(t, st.Ended.IsZero())
		assert.Equal(t, storeRevision(t, r.DB), st.Revision, "the abort's change is the store's last")
		code, out, errOut := flagsCLI(t, r.Dialect.String(), r.DSN, "history", "search-v2", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		recs := decode[struct{ Records []flagstore.Record }](t, out).Records
		require.NotEmpty(t, recs)
		assert.Equal(t, "search-v2", recs[0].ReleaseID, "the rollback carries the release id")
		assert.Equal(t, "oncall", recs[0].Actor)

		// A release that is over starts again, as attempt 2.
		code, out, errOut = r.cli(t, "start", writeFlagFile(t, "gated.yaml", gatedPlan), "--actor", "ci", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		st = decode[release.Status](t, out)
		assert.Equal(t, 2, st.Attempt)
		assert.Equal(t, release.StateProgressing, st.State)
	})
}

// lineWriter is the stdout of a command run in a goroutine: it keeps what
// was written and hands each complete line to lines.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	part  []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.part[:i])
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// nextLine waits for a line of w that contains want, and returns it.
func nextLine(t *testing.T, w *lineWriter, want string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-w.lines:
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			require.FailNow(t, "no line with "+want, "output so far:\n%s", w.String())
		}
	}
}

// TestReleaseWatchFollowsADrivenRelease runs a Controller that drives the
// release, follows it with status --watch, promotes it and aborts it from
// the CLI while the watch runs.
func TestReleaseWatchFollowsADrivenRelease(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	code, _, errOut := r.cli(t, "start", writeFlagFile(t, "gated.yaml", gatedPlan), "--actor", "ci")
	require.Equal(t, exitOK, code, errOut)

	ctrl, err := release.NewController(r.Open(t), r.Dialect, r.store, nil,
		release.WithInstanceID("orders-1"), release.WithTick(5*time.Millisecond), release.WithLease(time.Second))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-ran, context.Canceled)
	})
	require.Eventually(t, func() bool {
		st, err := ctrl.Status(context.Background(), "search-v2")
		return err == nil && st.Step == 0 && st.Revision == 2
	}, 30*time.Second, 5*time.Millisecond, "the driver takes the first step and writes its weights")

	code, out, errOut := r.cli(t, "status", "search-v2")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "release search-v2 (attempt 1): Progressing, step 1/2, search-v2=10%\n")
	assert.Regexp(t, `(?m)^driver: orders-1; store revision 2; `, out)
	assert.NotContains(t, out, "warning:")

	stdout := &lineWriter{lines: make(chan string, 1000)}
	var stderr bytes.Buffer
	watched := make(chan int, 1)
	go func() {
		watched <- run(context.Background(), []string{"release", "status", "search-v2", "--watch", "--interval", "10ms",
			"--dialect", "sqlite", "--dsn", r.DSN}, strings.NewReader(""), stdout, &stderr)
	}()
	first := nextLine(t, stdout, "")
	assert.Regexp(t, `^\d\d:\d\d:\d\d Progressing step 1/2 search-v2=10% verdict \S+: `, first)

	code, out, errOut = r.cli(t, "promote", "search-v2", "--reason", "looks good", "--actor", "lead")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "Progressing, step 1/2")
	nextLine(t, stdout, "Progressing step 2/2 search-v2=100%")

	code, _, errOut = r.cli(t, "abort", "search-v2", "--reason", "canary errors", "--actor", "oncall")
	require.Equal(t, exitOK, code, errOut)
	select {
	case code = <-watched:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "status --watch did not end", stdout.String())
	}
	assert.Equal(t, exitFailed, code, stderr.String())
	assert.Empty(t, stderr.String())
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3, stdout.String())
	assert.Regexp(t, `^\d\d:\d\d:\d\d RolledBack step 2/2 search-v2=0% verdict `, lines[len(lines)-2], "a rolled-back release serves no canary: its weights are 0")
	assert.Equal(t, "rolled back: oncall: canary errors", lines[len(lines)-1])

	// The ledger: measurements are left out unless asked for.
	code, out, errOut = r.cli(t, "history", "search-v2")
	require.Equal(t, exitOK, code, errOut)
	assert.Regexp(t, `^TIME\s+ATTEMPT\s+STEP\s+KIND\s+ACTOR\s+WEIGHTS\s+REASON\n`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+-\s+started\s+ci\s+release started$`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+1\s+step\s+analysis\s+search-v2=0% -> search-v2=10%\s+first step$`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+1\s+promote\s+lead\s+looks good$`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+2\s+step\s+analysis\s+search-v2=10% -> search-v2=100%\s+step 1 promoted by a person$`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+2\s+rollback\s+oncall\s+canary errors$`, out)
	assert.Regexp(t, `(?m)^\S+\s+1\s+2\s+rolled-back\s+\S+\s+search-v2=100% -> search-v2=0%\s+every flag of the plan is on its baseline$`, out)
	assert.NotRegexp(t, `(?m)^\S+\s+1\s+\S+\s+measurement\s`, out)

	code, out, errOut = r.cli(t, "history", "search-v2", "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	evs := decode[struct{ Events []release.Event }](t, out).Events
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		assert.NotEqual(t, release.EventMeasurement, ev.Kind)
	}
	assert.Subset(t, kinds, []string{release.EventStarted, release.EventStep, release.EventPromote, release.EventRollback, release.EventRolledBack})
	assert.Equal(t, release.EventRolledBack, kinds[len(kinds)-1])

	code, out, errOut = r.cli(t, "history", "search-v2", "--measurements", "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	all := decode[struct{ Events []release.Event }](t, out).Events
	assert.Greater(t, len(all), len(evs), "the driver measured every 20ms")

	code, out, errOut = r.cli(t, "history", "search-v2", "--kind", "measurement", "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	ms := decode[struct{ Events []release.Event }](t, out).Events
	require.NotEmpty(t, ms)
	assert.Len(t, ms, len(all)-len(evs))
	for _, ev := range ms {
		assert.Equal(t, release.EventMeasurement, ev.Kind)
		require.NotNil(t, ev.Measurement)
	}
	code, out, _ = r.cli(t, "history", "search-v2", "--kind", "measurement")
	require.Equal(t, exitOK, code)
	assert.Regexp(t, `(?m)^\S+\s+1\s+\d\s+measurement\s+analysis\s`, out)

	code, out, _ = r.cli(t, "history", "search-v2", "--attempt", "2", "--format", "json")
	require.Equal(t, exitOK, code)
	assert.JSONEq(t, `{"events": []}`, out)
	code, _, errOut = r.cli(t, "history", "nosuch")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "release not found")
}

// migrationsDir writes four migrations; the third is marked irreversible.
func migrationsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"00001_a.sql": "-- +goose Up\nCREATE TABLE rs_a (id INT);\n-- +goose Down\nDROP TABLE rs_a;\n",
		"00002_b.sql": "-- +goose Up\nCREATE TABLE rs_b (id INT);\n-- +goose Down\nDROP TABLE rs_b;\n",
		"00003_c.sql": "-- rollsafe:irreversible reason=\"drops the legacy column\"\n" +
			"-- +goose Up\nCREATE TABLE rs_c (id INT);\n-- +goose Down\nDROP TABLE rs_c;\n",
		"00004_d.sql": "-- +goose Up\nCREATE TABLE rs_d (id INT);\n-- +goose Down\nDROP TABLE rs_d;\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// rollbackJSON is what release rollback --format json prints.
type rollbackJSON struct {
	Release release.Status
	Schema  struct {
		Floor, From, To int64
		RolledBack      []struct{ Version int64 }
		Kept            []release.KeptMigration
	}
}

func TestReleaseRollbackSchema(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newReleaseDB(t, db)
		dir := migrationsDir(t)
		runner, err := migrate.New(db.DB, db.Dialect, os.DirFS(dir))
		require.NoError(t, err)
		_, err = runner.Up(ctx)
		require.NoError(t, err)
		version := func() int64 {
			v, err := runner.Version(ctx)
			require.NoError(t, err)
			return v
		}

		code, _, errOut := r.cli(t, "start", examplePlan, "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)

		// Usage errors: nothing done.
		for _, args := range [][]string{
			{"orders-summary-v2", "--schema", "--reason", "x"},
			{"orders-summary-v2", "--migrations", dir, "--reason", "x"},
			{"--schema", "--migrations", dir},
		} {
			code, out, errOut := r.cli(t, "rollback", args...)
			assert.Equal(t, exitCantRun, code, "%v", args)
			assert.Empty(t, out)
			assert.NotEmpty(t, errOut)
		}
		code, _, errOut = r.cli(t, "rollback", "orders-summary-v2", "--schema", "--migrations", dir)
		assert.Equal(t, exitCantRun, code)
		assert.Contains(t, errOut, "release rollback: --reason is required to abort a running release")
		assert.Equal(t, release.StateProgressing, r.status(t, "orders-summary-v2").State, "nothing aborted")
		assert.Equal(t, int64(4), version(), "nothing rolled back")

		code, out, errOut := r.cli(t, "rollback", "orders-summary-v2", "--schema", "--migrations", dir,
			"--reason", "schema broke orders", "--actor", "oncall", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		got := decode[rollbackJSON](t, out)
		for _, key := range []string{`"release":{`, `"schema":{`, `"floor":2`, `"from":4`, `"to":3`, `"rolledBack":[{`, `"kept":[{`} {
			assert.Contains(t, out, key)
		}
		assert.Equal(t, release.StateRolledBack, got.Release.State)
		assert.Equal(t, "oncall: schema broke orders", got.Release.Outcome)
		assert.Equal(t, int64(2), got.Schema.Floor)
		assert.Equal(t, int64(4), got.Schema.From)
		assert.Equal(t, int64(3), got.Schema.To)
		require.Len(t, got.Schema.RolledBack, 1)
		assert.Equal(t, int64(4), got.Schema.RolledBack[0].Version)
		assert.Equal(t, []release.KeptMigration{{Version: 3, Name: "00003_c.sql", Why: "marked irreversible: drops the legacy column"}}, got.Schema.Kept)
		assert.Equal(t, int64(3), version())

		// Up again; the release is over, so no --reason is needed now.
		_, err = runner.Up(ctx)
		require.NoError(t, err)
		code, out, errOut = r.cli(t, "rollback", "orders-summary-v2", "--schema", "--migrations", dir)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "release orders-summary-v2 is RolledBack: oncall: schema broke orders\n"+
			"schema: rolled back from version 4 to 3 (floor 2):\n"+
			"  down 00004_d.sql\n"+
			"  kept 3 00003_c.sql: marked irreversible: drops the legacy column\n"+
			"  kept the floor 2 and everything under it: the previous release runs on it\n", out)
		assert.Equal(t, int64(3), version())

		code, out, errOut = r.cli(t, "rollback", "orders-summary-v2", "--schema", "--migrations", dir)
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "schema: nothing rolled back; it stays at version 3 (floor 2)\n")

		// A plan without schemaFloor refuses --schema, and aborts nothing.
		code, _, errOut = r.cli(t, "start", writeFlagFile(t, "gated.yaml", gatedPlan), "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)
		for _, format := range []string{"text", "json"} {
			code, out, errOut = r.cli(t, "rollback", "search-v2", "--schema", "--migrations", dir,
				"--reason", "x", "--actor", "oncall", "--format", format)
			assert.Equal(t, exitFailed, code, format)
			assert.Contains(t, errOut, "release rollback: refused: ", format)
			assert.Contains(t, errOut, "the plan has no schemaFloor", format)
			if format == "json" {
				assert.Equal(t, exitFailed, decode[jsonError](t, out).ExitCode)
			}
			assert.Equal(t, release.StateProgressing, r.status(t, "search-v2").State, "a refused rollback aborts nothing")
		}
		assert.Equal(t, int64(3), version())

		// Without --schema it aborts.
		code, out, errOut = r.cli(t, "rollback", "search-v2", "--reason", "x", "--actor", "oncall")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "release search-v2 is RolledBack: oncall: x\n", out)
	})
}

// TestRunbookAbortLineRuns runs the abort line of the runbook as written:
// flags before and after the release ID.
func TestRunbookAbortLineRuns(t *testing.T) {
	r := newReleaseDB(t, testdb.NewSQLite(t))
	runbook, err := os.ReadFile("../../release/testdata/runbook/example-service.md")
	require.NoError(t, err)
	var line string
	for _, l := range strings.Split(string(runbook), "\n") {
		if strings.HasPrefix(l, "rollsafe release abort ") {
			line = l
		}
	}
	require.Equal(t, `rollsafe release abort --dialect sqlite --dsn "$ORDERS_DSN" orders-summary-v2 --reason "..."`, line)

	code, _, errOut := r.cli(t, "start", examplePlan, "--actor", "ci")
	require.Equal(t, exitOK, code, errOut)

	args := strings.Fields(strings.NewReplacer(`"$ORDERS_DSN"`, r.DSN, `"..."`, "by-hand").Replace(line))[1:]
	code, out, errOut := rollsafe(t, args...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "release orders-summary-v2 (attempt 1): RolledBack, step -/5")
	st := r.status(t, "orders-summary-v2")
	assert.Equal(t, release.StateRolledBack, st.State)
	assert.True(t, strings.HasSuffix(st.Outcome, ": by-hand"), st.Outcome)
}

// A promoted release runs the new code everywhere: rollback --schema is
// refused, and nothing is done.
func TestReleaseRollbackSchemaRefusedAfterPromotion(t *testing.T) {
	ctx := context.Background()
	r := newReleaseDB(t, testdb.NewSQLite(t))
	dir := migrationsDir(t)
	runner, err := migrate.New(r.DB.DB, r.Dialect, os.DirFS(dir))
	require.NoError(t, err)
	_, err = runner.Up(ctx)
	require.NoError(t, err)
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	require.NoError(t, os.WriteFile(plan, []byte("id: all-in\nschemaFloor: 2\nflags: [{key: search-v2, baseline: \"off\", canary: \"on\"}]\n"+
		"steps: [{weights: {search-v2: 100}}]\n"), 0o644))
	code, _, errOut := r.cli(t, "start", plan, "--actor", "ci")
	require.Equal(t, exitOK, code, errOut)

	ctl, err := release.NewController(r.DB.DB, r.Dialect, r.store, nil, release.WithTick(5*time.Millisecond), release.WithLease(time.Second))
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ctl.Run(runCtx) }()
	defer func() { stop(); <-done }()
	require.Eventually(t, func() bool { return r.status(t, "all-in").Step == 0 }, 10*time.Second, 10*time.Millisecond)
	code, _, errOut = r.cli(t, "promote", "all-in", "--reason", "vouched", "--actor", "lead")
	require.Equal(t, exitOK, code, errOut)
	require.Eventually(t, func() bool { return r.status(t, "all-in").State == release.StatePromoted }, 10*time.Second, 10*time.Millisecond)

	code, out, errOut := r.cli(t, "rollback", "all-in", "--schema", "--migrations", dir)
	assert.Equal(t, exitFailed, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "was promoted")
	v, err := runner.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), v, "nothing rolled back")
}
