package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// serviceBin is examples/service, built once for every test.
var serviceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rollsafe-fleet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	serviceBin, err = buildService(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runFleet runs the command with a short settle and returns its exit
// status, its stdout and the JSON of its last line.
func runFleet(t *testing.T, args ...string) (int, string, summary) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"--service", serviceBin, "--settle", "2s", "--duration", "90s", "--json", "--logs", t.TempDir()}, args...)
	code := run(context.Background(), args, &stdout, &stderr)
	out := stdout.String()
	t.Logf("fleet %s: exit %d\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr.String())
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var s summary
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&s), "the last line is the JSON summary")
	return code, out, s
}

// Every field of the JSON is there, by its name, null where it does not
// apply.
func TestJSONFieldNames(t *testing.T) {
	b, err := json.Marshal(summary{Fault: "none", Verdict: verdictRunning})
	require.NoError(t, err)
	assert.JSONEq(t, `{"fault":"none","instances":0,"requests":0,"failed":0,"failedNew":0,"servedNew":0,"servedOld":0,
		"verdict":"running","faultFirstMs":null,"rollbackMs":null,"fleetOldMs":null,"writesAcked":0,"writesLost":0}`, string(b))
}

// A good release goes to 100% with no failed request and no write lost.
func TestGoodReleaseIsPromoted(t *testing.T) {
	code, out, s := runFleet(t, "--fault", "none")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, verdictPromoted, s.Verdict)
	assert.NotContains(t, out, "ROLLBACK")
	assert.Zero(t, s.Failed)
	assert.Positive(t, s.ServedNew)
	assert.Positive(t, s.WritesAcked)
	assert.Zero(t, s.WritesLost)
	assert.Nil(t, s.FaultFirstMs)
	assert.Nil(t, s.RollbackMs)
	assert.Nil(t, s.FleetOldMs)
	assert.Equal(t, s.Requests, s.ServedNew+s.ServedOld)
	assert.Contains(t, out, "step 5: canary orders-create-v2 100%, orders-summary-v2 100%")
}

// checkRolledBack checks what every bad release must show.
func checkRolledBack(t *testing.T, code int, s summary) {
	t.Helper()
	assert.Equal(t, exitOK, code)
	assert.Equal(t, verdictRolledBack, s.Verdict)
	require.NotNil(t, s.FaultFirstMs)
	require.NotNil(t, s.RollbackMs)
	require.NotNil(t, s.FleetOldMs)
	assert.Less(t, *s.FaultFirstMs, *s.RollbackMs, "the fault showed before the rollback")
	assert.Positive(t, s.WritesAcked)
	assert.Zero(t, s.WritesLost)
	assert.Positive(t, s.ServedNew)
}

// A new path that fails half its calls is rolled back; the driver killed
// at the first failure does not stop that: another instance takes the
// lease and decides.
func TestFailingReleaseIsRolledBackDespiteTheDriverKilled(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "run.svg")
	code, out, s := runFleet(t, "--fault", "error=0.5", "--chaos", "kill-driver", "--chart", chart)
	checkRolledBack(t, code, s)
	assert.Positive(t, s.FailedNew)
	// Another instance took the lease after the kill (under load the lease
	// may change hands more than once: each hand-over is a line).
	killed := regexp.MustCompile(`chaos: SIGKILL (instance \d+), which drives the release`).FindStringSubmatchIndex(out)
	require.NotNil(t, killed, "the driver was killed")
	victim := out[killed[2]:killed[3]]
	after := regexp.MustCompile(`(instance \d+) drives the release`).FindAllStringSubmatch(out[killed[1]:], -1)
	require.NotEmpty(t, after, "someone drives after the kill")
	for _, m := range after {
		assert.NotEqual(t, victim, m[1], "the killed instance does not drive again")
	}
	assert.Contains(t, out, "ROLLBACK decided by analysis")
	svg, err := os.ReadFile(chart)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
}

// Slower new code is rolled back on the latency analysis, with no request
// failed.
func TestSlowReleaseIsRolledBackOnLatency(t *testing.T) {
	code, out, s := runFleet(t, "--fault", "latency=300ms")
	checkRolledBack(t, code, s)
	assert.Zero(t, s.Failed)
	assert.Regexp(t, `ROLLBACK decided by analysis: latency of orders-`, out)
}

// New code that panics is rolled back, and no instance crashes: the
// Switch recovers the panics.
func TestPanickingReleaseIsRolledBackWithNoCrash(t *testing.T) {
	code, out, s := runFleet(t, "--fault", "panic=0.5")
	checkRolledBack(t, code, s)
	assert.Positive(t, s.FailedNew)
	assert.Contains(t, out, "3 (none crashed)")
}

// The same on the server databases: every instance on one database of
// its own for the test.
func TestOnServerDatabases(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			dsn := testdb.New(t, d).DSN
			code, _, s := runFleet(t, "--fault", "error=0.5", "--dialect", d.String(), "--dsn", dsn)
			checkRolledBack(t, code, s)
		})
	}
}

func TestBadFlagsCannotRun(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault", "error=2"}, `--fault: "error=2": error=P needs a fraction P above 0 and at most 1`},
		{[]string{"--fault", "slow"}, `--fault: "slow": want none, error=P, latency=D or panic=P`},
		{[]string{"--instances", "0"}, "--instances 0: give 1 to 20"},
		{[]string{"--rps", "0"}, "--rps 0: give 1 to 2000"},
		{[]string{"--chaos", "kill-all"}, `--chaos "kill-all": the one chaos there is is kill-driver`},
		{[]string{"--dialect", "postgres"}, "--dialect postgres needs --dsn"},
		{[]string{"--dsn", "x"}, "--dsn is for postgres and mysql"},
		{[]string{"--plan", "/nonexistent/plan.yaml"}, "/nonexistent/plan.yaml"},
		{[]string{"extra"}, "unexpected arguments: [extra]"},
	} {
		t.Setenv("ORDERS_DSN", "")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		assert.Equal(t, exitCantRun, code, c.args)
		assert.Contains(t, stderr.String(), c.want, c.args)
		assert.Empty(t, stdout.String(), "nothing started")
	}
}

// The fleet's figures come from the responses: fleetOld is the latest,
// over the instances, of the first old-path request after the last
// new-path one.
func TestFleetOld(t *testing.T) {
	ms := func(n int64) int64 { return n }
	rs := []result{
		{at: 1000 * 1e6, instance: 0, path: "new", status: 200},
		{at: 1500 * 1e6, instance: 0, path: "old", status: 200},
		{at: 1200 * 1e6, instance: 1, path: "new", status: 500},
		{at: 1300 * 1e6, instance: 1, path: "old", status: 200},
		{at: 1250 * 1e6, instance: 1, path: "old", status: 200},
		{at: 900 * 1e6, instance: 2, path: "old", status: 200},
	}
	assert.Equal(t, ms(1500), *fleetOld(rs, []bool{false, false, false}))
	rs = append(rs, result{at: 2000 * 1e6, instance: 2, path: "new", status: 500})
	assert.Nil(t, fleetOld(rs, []bool{false, false, false}), "an instance running with no old answer after its last new one")
	assert.Equal(t, ms(2000), *fleetOld(rs, []bool{false, false, true}), "one killed after its last new answer: from that one")
}
