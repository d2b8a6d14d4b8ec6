package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
	rsversion "github.com/rollsafe/rollsafe/version"
)

const storeSeed = `{"flags": {
  "orders-summary-v2": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"fractional": [{"var": "targetingKey"}, ["on", 50], ["off", 50]]}},
  "banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "a"}
}}`

// flagsCLI runs "rollsafe flags ARGS... --dialect D --dsn DSN": the
// connection flags come after the positional arguments, as operators type
// them.
func flagsCLI(t *testing.T, dialectName, dsn string, args ...string) (int, string, string) {
	t.Helper()
	return rollsafe(t, append(append([]string{"flags"}, args...), "--dialect", dialectName, "--dsn", dsn)...)
}

func onDB(db *testdb.DB) func(t *testing.T, args ...string) (int, string, string) {
	return func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		return flagsCLI(t, db.Dialect.String(), db.DSN, args...)
	}
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	return v
}

func storeRevision(t *testing.T, db *testdb.DB) int64 {
	t.Helper()
	s, err := flagstore.New(db.DB, db.Dialect)
	require.NoError(t, err)
	rev, err := s.Revision(context.Background())
	require.NoError(t, err)
	return rev
}

func TestFlagsStoreCommands(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		cli := onDB(db)
		seed := writeFlagFile(t, "flags.json", storeSeed)

		code, out, errOut := cli(t, "push", seed, "--reason", "seed", "--actor", "ci")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, seed+" pushed at revision 1: 2 flags changed (banner, orders-summary-v2) (ci: seed)\n", out)

		code, out, errOut = cli(t, "list")
		require.Equal(t, exitOK, code, errOut)
		assert.Regexp(t, `(?m)^KEY\s+STATE\s+KIND\s+VARIANTS$`, out)
		assert.Regexp(t, `(?m)^orders-summary-v2\s+ENABLED\s+boolean\s+off, on \(default off\)$`, out)
		assert.Regexp(t, `(?m)^banner\s+ENABLED\s+string\s+a, b \(default a\)$`, out)
		assert.Contains(t, out, "revision 1, 2 flags\n")

		code, out, errOut = cli(t, "kill", "orders-summary-v2", "--reason", "errors up", "--actor", "alice")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "orders-summary-v2 killed at revision 2 (alice: errors up)\n", out)
		code, out, _ = cli(t, "kill", "orders-summary-v2", "--reason", "again", "--actor", "alice")
		require.Equal(t, exitOK, code)
		assert.Equal(t, "orders-summary-v2 is already disabled; the store stays at revision 2\n", out)

		// The order of the weights is kept: it decides the buckets.
		code, out, errOut = cli(t, "weights", "orders-summary-v2", "off=90", "on=10", "--reason", "ramp",
			"--actor", "bob", "--release", "r-7", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		w := decode[writeResult](t, out)
		assert.Equal(t, writeResult{Revision: 3, Changed: true, Keys: []string{"orders-summary-v2"}, Actor: "bob", Reason: "ramp", ReleaseID: "r-7"}, w)
		code, out, _ = cli(t, "pull")
		require.Equal(t, exitOK, code)
		var doc struct {
			Flags map[string]struct{ Targeting json.RawMessage }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		assert.JSONEq(t, `{"fractional": [{"var": "targetingKey"}, ["off", 90], ["on", 10]]}`, string(doc.Flags["orders-summary-v2"].Targeting))

		code, out, errOut = cli(t, "revive", "orders-summary-v2", "--reason", "fixed", "--actor", "alice", "--base", "3")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "orders-summary-v2 revived at revision 4 (alice: fixed)\n", out)
		s, err := flagstore.New(db.DB, db.Dialect)
		require.NoError(t, err)
		set, err := s.Current(context.Background())
		require.NoError(t, err)
		st, _ := set.State("orders-summary-v2")
		assert.Equal(t, flags.Enabled, st, "the store holds what the CLI wrote")

		// Refusals: exit 1, nothing written.
		code, _, errOut = cli(t, "kill", "orders-summary-v2", "--reason", "late", "--base", "3")
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "the flags changed since revision 3 (--base), the store is at 4; nothing written")
		code, out, _ = cli(t, "kill", "orders-summary-v2", "--reason", "late", "--base", "3", "--format", "json")
		assert.Equal(t, exitFailed, code)
		ref := decode[refusalJSON](t, out)
		require.NotNil(t, ref.Current)
		assert.Equal(t, int64(4), *ref.Current)
		assert.Equal(t, exitFailed, ref.ExitCode)

		code, _, errOut = cli(t, "kill", "nosuch", "--reason", "x")
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, `flags kill: refused: flag "nosuch": flag not found`)

		code, out, errOut = cli(t, "weights", "orders-summary-v2", "on=10", "nope=90", "--reason", "x", "--format", "json")
		assert.Equal(t, exitFailed, code, errOut)
		ref = decode[refusalJSON](t, out)
		require.Len(t, ref.Problems, 1)
		assert.Equal(t, problemJSON{Flag: "orders-summary-v2", Field: "targeting",
			Message: `fractional names variant "nope", which is not one of the variants (off, on)`}, ref.Problems[0])

		code, _, errOut = cli(t, "weights", "banner", "a=1", "--reason", "x")
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, `refused, nothing written: invalid flag definitions: flag "banner": targeting: holds no fractional split of its own`)

		bad := writeFlagFile(t, "bad.json", `{"flags": {"banner": {"state": "ON", "variants": {"a": 1}}}}`)
		code, _, errOut = cli(t, "push", bad, "--reason", "x")
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, `flags push: refused, nothing written: `+bad+`: invalid flag definitions: flag "banner": state: "ON" is not ENABLED or DISABLED`)
		assert.Equal(t, int64(4), storeRevision(t, db), "a refused write wrote nothing")

		code, out, errOut = cli(t, "history")
		require.Equal(t, exitOK, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 5, out)
		assert.Regexp(t, `^REVISION\s+TIME\s+ACTOR\s+REASON\s+CHANGES$`, lines[0])
		assert.Regexp(t, `^4\s+\d{4}-\d\d-\d\dT\S+Z\s+alice\s+fixed\s+orders-summary-v2 state DISABLED -> ENABLED$`, lines[1])
		assert.Regexp(t, `^3\s+\S+\s+bob\s+ramp \[release r-7\]\s+orders-summary-v2 weights on=50 off=50 -> off=90 on=10$`, lines[2])
		assert.Regexp(t, `^2\s+\S+\s+alice\s+errors up\s+orders-summary-v2 state ENABLED -> DISABLED$`, lines[3])
		assert.Regexp(t, `^1\s+\S+\s+ci\s+seed\s+banner created; orders-summary-v2 created$`, lines[4])

		code, out, errOut = cli(t, "history", "orders-summary-v2", "--limit", "2", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		h := decode[struct{ Records []flagstore.Record }](t, out)
		require.Len(t, h.Records, 2)
		assert.Equal(t, []int64{4, 3}, []int64{h.Records[0].Revision, h.Records[1].Revision})
		assert.Equal(t, "r-7", h.Records[1].ReleaseID)
		code, out, _ = cli(t, "history", "banner", "--format", "json")
		require.Equal(t, exitOK, code)
		h = decode[struct{ Records []flagstore.Record }](t, out)
		require.Len(t, h.Records, 1)
		assert.Equal(t, int64(1), h.Records[0].Revision)

		// pull writes what push reads: pushing it back changes nothing.
		file := filepath.Join(t.TempDir(), "pulled.json")
		code, out, errOut = cli(t, "pull", file)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "revision 4 (2 flags) written to "+file+"\n", out)
		code, out, errOut = cli(t, "push", file, "--reason", "round trip")
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, file+": nothing changed; the store stays at revision 4\n", out)
	})
}

// instance is a service instance as the fleet runs it: its own pool, a
// store-backed provider behind the OpenFeature SDK, and a registry entry
// that heartbeats the revision the provider serves.
type instance struct {
	provider *flags.Provider
	client   *openfeature.Client
}

func startInstance(t *testing.T, db *testdb.DB, address string) *instance {
	t.Helper()
	ctx := context.Background()
	pool := db.Open(t)
	store, err := flagstore.New(pool, db.Dialect, flagstore.WithPollInterval(20*time.Millisecond))
	require.NoError(t, err)
	reg, err := fleet.NewRegistry(ctx, pool, db.Dialect)
	require.NoError(t, err)
	ms, err := reg.Join(ctx, address, rsversion.Manifest{Service: "orders", Version: "1.4.0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ms.Leave(context.Background())) })
	p, err := flags.NewProvider(store, flags.WithRevisionListener(ms.SetFlagsRevision))
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctx, p))
	t.Cleanup(func() { assert.NoError(t, api.Shutdown(context.Background())) })
	return &instance{provider: p, client: api.NewClient()}
}

// joinStuck registers an instance that reports revision rev (none when
// rev < 0) and never moves, and waits until the registry shows it so.
func joinStuck(t *testing.T, db *testdb.DB, address string, rev int64) string {
	t.Helper()
	ctx := context.Background()
	reg, err := fleet.NewRegistry(ctx, db.DB, db.Dialect)
	require.NoError(t, err)
	ms, err := reg.Join(ctx, address, rsversion.Manifest{Service: "orders", Version: "1.3.0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ms.Leave(context.Background())) })
	if rev >= 0 {
		ms.SetFlagsRevision(rev)
		require.NoError(t, ms.Heartbeat(ctx))
	}
	return ms.ID()
}

func TestFlagsKillWaitsForTheFleet(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		cli := onDB(db)
		code, _, errOut := cli(t, "push", writeFlagFile(t, "flags.json", storeSeed), "--reason", "seed")
		require.Equal(t, exitOK, code, errOut)
		a := startInstance(t, db, "http://127.0.0.1:8081/")
		b := startInstance(t, db, "http://127.0.0.1:8082/")

		code, out, errOut := cli(t, "kill", "orders-summary-v2", "--reason", "errors up", "--wait", "--timeout", "10s", "--format", "json")
		require.Equal(t, exitOK, code, errOut)
		w := decode[writeResult](t, out)
		assert.Equal(t, int64(2), w.Revision)
		require.NotNil(t, w.Wait)
		assert.Equal(t, 2, w.Wait.Instances)
		assert.Equal(t, 2, w.Wait.Confirmed)
		assert.False(t, w.Wait.TimedOut)
		assert.Empty(t, w.Wait.Pending)
		// Confirmed means served: both instances now take the old path.
		for _, in := range []*instance{a, b} {
			assert.GreaterOrEqual(t, in.provider.Revision(), int64(2))
			d, err := in.client.BooleanValueDetails(context.Background(), "orders-summary-v2", false, openfeature.NewEvaluationContext("user-1", nil))
			require.NoError(t, err)
			assert.False(t, d.Value)
			assert.Equal(t, openfeature.DisabledReason, d.Reason)
		}

		code, out, errOut = cli(t, "revive", "orders-summary-v2", "--reason", "fixed", "--actor", "alice", "--wait")
		require.Equal(t, exitOK, code, errOut)
		assert.Regexp(t, `^orders-summary-v2 revived at revision 3 \(alice: fixed\)\nall 2 instances serve revision 3 after \d+\.\d\ds\n$`, out)

		// An instance that never moves: exit 1 after --timeout, listed with
		// its id, address and the revision it serves.
		stuck := joinStuck(t, db, "http://127.0.0.1:9/stuck", 3)
		code, out, errOut = cli(t, "kill", "orders-summary-v2", "--reason", "again", "--wait", "--timeout", "300ms")
		assert.Equal(t, exitFailed, code, errOut)
		assert.Contains(t, out, "orders-summary-v2 killed at revision 4")
		assert.Contains(t, out, "2 of 3 instances serve revision 4; 1 did not within 300ms:\n")
		assert.Regexp(t, `(?m)^  `+stuck+`\s+http://127.0.0.1:9/stuck\s+revision 3$`, out)
		assert.Contains(t, errOut, "flags kill: 1 instance of 3 did not confirm revision 4 within 300ms")

		silent := joinStuck(t, db, "http://127.0.0.1:9/silent", -1)
		code, out, errOut = cli(t, "weights", "orders-summary-v2", "on=1", "off=9", "--reason", "ramp", "--wait", "--timeout", "300ms", "--format", "json")
		assert.Equal(t, exitFailed, code, errOut)
		w = decode[writeResult](t, out)
		assert.Equal(t, int64(5), w.Revision, "the write is made; only the wait failed")
		require.NotNil(t, w.Wait)
		assert.True(t, w.Wait.TimedOut)
		assert.Equal(t, 4, w.Wait.Instances)
		assert.Equal(t, 2, w.Wait.Confirmed)
		three := int64(3)
		assert.ElementsMatch(t, []pendingJSON{
			{ID: stuck, Address: "http://127.0.0.1:9/stuck", Revision: &three},
			{ID: silent, Address: "http://127.0.0.1:9/silent"},
		}, w.Wait.Pending)
	})
}

func TestFlagsWaitWithoutInstances(t *testing.T) {
	db := testdb.NewSQLite(t)
	cli := onDB(db)
	code, _, errOut := cli(t, "push", writeFlagFile(t, "flags.json", storeSeed), "--reason", "seed")
	require.Equal(t, exitOK, code, errOut)
	code, out, errOut := cli(t, "kill", "orders-summary-v2", "--reason", "errors up", "--actor", "alice", "--wait")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "orders-summary-v2 killed at revision 2 (alice: errors up)\nno live instances in the fleet registry: nothing to wait for\n", out)
	code, out, _ = cli(t, "revive", "orders-summary-v2", "--reason", "fixed", "--wait", "--format", "json")
	require.Equal(t, exitOK, code)
	w := decode[writeResult](t, out)
	require.NotNil(t, w.Wait)
	assert.Equal(t, waitJSON{Pending: []pendingJSON{}, Seconds: w.Wait.Seconds}, *w.Wait)
}

func TestFlagsStoreUsage(t *testing.T) {
	db := testdb.NewSQLite(t)
	cli := onDB(db)
	seed := writeFlagFile(t, "flags.json", storeSeed)
	code, _, errOut := cli(t, "push", seed, "--reason", "seed")
	require.Equal(t, exitOK, code, errOut)
	missing := filepath.Join(t.TempDir(), "none.db")
	conn := []string{"--dialect", "sqlite", "--dsn", db.DSN}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no reason", append([]string{"kill", "orders-summary-v2"}, conn...), "flags kill: --reason is required"},
		{"blank reason", append([]string{"push", seed, "--reason", "  "}, conn...), "flags push: --reason is required"},
		{"no key", append([]string{"revive", "--reason", "x"}, conn...), "flags revive: want one KEY, got 0 arguments"},
		{"two keys", append([]string{"kill", "a", "b", "--reason", "x"}, conn...), "want one KEY, got 2 arguments"},
		{"no weights", append([]string{"weights", "orders-summary-v2", "--reason", "x"}, conn...), "want KEY and at least one VARIANT=N"},
		{"weight not a number", append([]string{"weights", "orders-summary-v2", "on=ten", "--reason", "x"}, conn...), `the weight of variant "on" in "on=ten" is not a whole number from 0`},
		{"negative weight", append([]string{"weights", "orders-summary-v2", "on=-1", "--reason", "x"}, conn...), "not a whole number from 0"},
		{"not VARIANT=N", append([]string{"weights", "orders-summary-v2", "on", "--reason", "x"}, conn...), `"on" is not VARIANT=N`},
		{"variant twice", append([]string{"weights", "orders-summary-v2", "on=1", "on=2", "--reason", "x"}, conn...), `variant "on" is given twice`},
		{"bad base", append([]string{"kill", "orders-summary-v2", "--reason", "x", "--base", "-1"}, conn...), `"-1" is not a revision`},
		{"bad timeout", append([]string{"kill", "orders-summary-v2", "--reason", "x", "--wait", "--timeout", "0s"}, conn...), "--timeout 0s is not positive"},
		{"unknown flag after KEY", append([]string{"kill", "orders-summary-v2", "--nosuch"}, conn...), "flags kill: flag provided but not defined: -nosuch"},
		{"limit", append([]string{"history", "--limit", "0"}, conn...), "--limit 0 is not between 1 and 1000"},
		{"two history keys", append([]string{"history", "a", "b"}, conn...), "want at most one KEY"},
		{"list arguments", append([]string{"list", "extra"}, conn...), "want no arguments"},
		{"no dsn", []string{"list", "--dialect", "sqlite"}, "--dialect and --dsn (or $ROLLSAFE_DSN) are required"},
		{"unknown dialect", []string{"list", "--dialect", "oracle", "--dsn", db.DSN}, `unknown dialect "oracle"`},
		{"missing database", []string{"kill", "orders-summary-v2", "--reason", "x", "--dialect", "sqlite", "--dsn", missing}, "no SQLite database at " + missing},
		{"unreadable file", append([]string{"push", filepath.Join(t.TempDir(), "none.json"), "--reason", "x"}, conn...), "no such file"},
		{"pull into a missing directory", append([]string{"pull", filepath.Join(t.TempDir(), "no", "f.json")}, conn...), "flags pull: write "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code, "stdout %s", out)
			assert.Contains(t, errOut, tt.want)
			code, out, _ = rollsafe(t, append(append([]string{"flags"}, tt.args...), "--format", "json")...)
			assert.Equal(t, exitCantRun, code)
			obj := decode[jsonError](t, out)
			assert.Contains(t, obj.Error, tt.want)
		})
	}
	_, err := os.Stat(missing)
	assert.ErrorIs(t, err, os.ErrNotExist, "a command created the SQLite database it was to change")
	assert.Equal(t, int64(1), storeRevision(t, db), "a command that could not run wrote")

	code, out, _ := rollsafe(t, "flags", "kill", "orders-summary-v2", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "usage: rollsafe flags kill KEY")
	code, out, _ = rollsafe(t, "help", "flags", "weights")
	assert.Equal(t, exitOK, code)
	for _, want := range []string{`"pending"`, `"timedOut"`, "-wait", "-timeout", "-base", "The order\nis kept"} {
		assert.Contains(t, out, want)
	}
}

// Rows changed by hand into something invalid: list shows them and exits 1.
func TestFlagsListReportsInvalidRows(t *testing.T) {
	db := testdb.NewSQLite(t)
	cli := onDB(db)
	code, _, errOut := cli(t, "push", writeFlagFile(t, "flags.json", storeSeed), "--reason", "seed")
	require.Equal(t, exitOK, code, errOut)
	_, err := db.Exec(`UPDATE rollsafe_flags SET definition = '{"state": "ON", "variants": {"a": "x"}}' WHERE flag_key = 'banner'`)
	require.NoError(t, err)

	code, out, errOut := cli(t, "list")
	assert.Equal(t, exitFailed, code)
	assert.Regexp(t, `(?m)^banner\s+ON\s+\(invalid\)\s+a$`, out)
	assert.Contains(t, out, `invalid: flag "banner": state: "ON" is not ENABLED or DISABLED`)
	assert.Contains(t, errOut, "1 flag is invalid (changed outside rollsafe?)")

	code, out, _ = cli(t, "list", "--format", "json")
	assert.Equal(t, exitFailed, code)
	l := decode[listJSON](t, out)
	require.Len(t, l.Flags, 2)
	assert.Equal(t, flagJSON{Key: "banner", State: "ON", Variants: []string{"a"}}, l.Flags[0])
	assert.True(t, l.Flags[1].Valid)
	require.NotEmpty(t, l.Problems)
	assert.Equal(t, "banner", l.Problems[0].Flag)
	assert.Equal(t, "state", l.Problems[0].Field)
}

func TestFlagsStoreDefaultsAndYAML(t *testing.T) {
	db := testdb.NewSQLite(t)
	cli := onDB(db)
	yml := writeFlagFile(t, "flags.yaml", "flags:\n  banner:\n    state: ENABLED\n    variants: {a: Welcome}\n    defaultVariant: a\n")
	code, out, errOut := cli(t, "push", yml, "--reason", "seed")
	require.Equal(t, exitOK, code, errOut)
	me, err := user.Current()
	require.NoError(t, err)
	assert.Equal(t, yml+" pushed at revision 1: 1 flag changed (banner) ("+me.Username+": seed)\n", out, "the actor defaults to the OS user")

	code, _, errOut = cli(t, "push", writeFlagFile(t, "bad.yml", "flags: [\n"), "--reason", "x")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "malformed YAML")

	// Flags before the positional arguments work too.
	code, out, errOut = rollsafe(t, "flags", "kill", "--dialect", "sqlite", "--dsn", db.DSN, "--reason", "x", "--actor", "ann", "banner")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "banner killed at revision 2 (ann: x)\n", out)

	// --dsn falls back to $ROLLSAFE_DSN, so that a password stays out of ps.
	var envOut, envErr strings.Builder
	code = runEnv(t.Context(), []string{"flags", "list", "--dialect", "sqlite"}, strings.NewReader(""), &envOut, &envErr,
		func(k string) string { return map[string]string{"ROLLSAFE_DSN": db.DSN}[k] })
	require.Equal(t, exitOK, code, envErr.String())
	assert.Regexp(t, `(?m)^banner\s+DISABLED\s+string\s+a \(default a\)$`, envOut.String())

	// pull replaces the file whole, leaving no temporary file beside it.
	dir := t.TempDir()
	file := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o600))
	code, out, errOut = cli(t, "pull", file, "--format", "json")
	require.Equal(t, exitOK, code, errOut)
	assert.JSONEq(t, `{"revision": 2, "file": "`+file+`", "flags": 1}`, out)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.JSONEq(t, `{"flags": {"banner": {"state": "DISABLED", "variants": {"a": "Welcome"}, "defaultVariant": "a"}}}`, string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// The DSN's password never appears in any output: databases that do not
// answer, and real ones whose DSN carries a password, on every path.
func TestFlagsStorePasswordsNeverPrinted(t *testing.T) {
	const pw = "s3cr3t-pw"
	seed := writeFlagFile(t, "flags.json", storeSeed)
	for _, tt := range []struct{ dialect, dsn string }{
		{"postgres", "postgres://app:" + pw + "@127.0.0.1:1/app?sslmode=disable&connect_timeout=5"},
		{"mysql", "app:" + pw + "@tcp(127.0.0.1:1)/app?timeout=5s"},
	} {
		for _, args := range [][]string{{"list"}, {"kill", "x", "--reason", "r"}, {"push", seed, "--reason", "r", "--format", "json"}} {
			code, out, errOut := flagsCLI(t, tt.dialect, tt.dsn, args...)
			assert.Equal(t, exitCantRun, code)
			assert.Contains(t, errOut, "does not answer")
			assert.NotContains(t, out+errOut, pw, "a password leaked")
		}
	}

	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			db := testdb.New(t, d)
			withPW := dsnWithPassword(t, db, pw)
			var all strings.Builder
			cli := func(want int, args ...string) {
				t.Helper()
				code, out, errOut := flagsCLI(t, d.String(), withPW, args...)
				assert.Equal(t, want, code, "%v: %s %s", args, out, errOut)
				all.WriteString(out + errOut)
			}
			cli(exitOK, "push", seed, "--reason", "seed")
			cli(exitOK, "kill", "orders-summary-v2", "--reason", "r", "--wait", "--timeout", "2s")
			cli(exitFailed, "kill", "nosuch", "--reason", "r")
			cli(exitFailed, "revive", "orders-summary-v2", "--reason", "r", "--base", "0", "--format", "json")
			cli(exitFailed, "weights", "orders-summary-v2", "nope=1", "--reason", "r")
			cli(exitOK, "list", "--format", "json")
			cli(exitOK, "history")
			assert.NotContains(t, all.String(), pw, "a password leaked")
			assert.Equal(t, int64(2), storeRevision(t, db))
		})
	}
}

// dsnWithPassword returns a DSN for db whose user has password pw: on
// PostgreSQL (trust authentication here) the password is carried and
// ignored; on MySQL a user with that password is created for the test.
func dsnWithPassword(t *testing.T, db *testdb.DB, pw string) string {
	t.Helper()
	if db.Dialect == dialect.Postgres {
		u, err := url.Parse(db.DSN)
		require.NoError(t, err)
		u.User = url.UserPassword(u.User.Username(), pw)
		return u.String()
	}
	cfg, err := mysql.ParseDSN(db.DSN)
	require.NoError(t, err)
	name := "cli_" + strings.TrimPrefix(db.Name, "rs_test_")
	_, err = db.Exec("CREATE USER '" + name + "'@'%' IDENTIFIED BY '" + pw + "'")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := db.Exec("DROP USER '" + name + "'@'%'")
		assert.NoError(t, err)
	})
	_, err = db.Exec("GRANT ALL ON " + db.Name + ".* TO '" + name + "'@'%'")
	require.NoError(t, err)
	cfg.User, cfg.Passwd = name, pw
	return cfg.FormatDSN()
}
