package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	rsversion "github.com/rollsafe/rollsafe/version"
)

const ordersManifest = `{"service":"orders","version":"2.4.0",
 "requires":{"payments":">=1.2.0 <2.0.0","users":"^3"},"schema":">=12 <=15"}`

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// servePeerManifest runs a real HTTP server on 127.0.0.1 serving m at the
// default path and returns its base URL.
func servePeerManifest(t *testing.T, m rsversion.Manifest) string {
	t.Helper()
	h, err := rsversion.NewHandler(m)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(rsversion.DefaultPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

type checkJSON struct {
	OK    bool `json:"ok"`
	Peers []struct {
		Source  string   `json:"source"`
		Service string   `json:"service"`
		Version string   `json:"version"`
		Verdict string   `json:"verdict"`
		Reasons []string `json:"reasons"`
	} `json:"peers"`
}

func TestVersionCheck(t *testing.T) {
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	usersFile := writeFile(t, dir, "users.json", `{"service":"users","version":"3.1.0","requires":{"orders":"^2"}}`)
	badUsers := writeFile(t, dir, "users4.json", `{"service":"users","version":"4.0.0"}`)
	garbage := writeFile(t, dir, "garbage.json", `{"service": "payments", "version": `)
	payments := servePeerManifest(t, rsversion.Manifest{Service: "payments", Version: "1.5.0"})
	paymentsWantsNewOrders := servePeerManifest(t, rsversion.Manifest{Service: "payments", Version: "1.6.0",
		Requires: map[string]string{"orders": ">=3"}})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/"
	down.Close()

	tests := []struct {
		name     string
		args     []string
		code     int
		verdicts []string // per peer, in order, as "verdict service version"
		text     []string // substrings of the text output
	}{
		{"all compatible", []string{"--against", payments, "--against", usersFile}, exitOK,
			[]string{"compatible payments 1.5.0", "compatible users 3.1.0"}, []string{"ok: 2 compatible"}},
		{"incompatible: ours", []string{"--against", payments, "--against", badUsers}, exitFailed,
			[]string{"compatible payments 1.5.0", "incompatible users 4.0.0"},
			[]string{`orders 2.4.0 requires users "^3" but found 4.0.0`, "FAILED: 1 compatible, 1 incompatible"}},
		{"incompatible: theirs", []string{"--against", paymentsWantsNewOrders, "--against", usersFile}, exitFailed,
			[]string{"incompatible payments 1.6.0", "compatible users 3.1.0"},
			[]string{`payments 1.6.0 requires orders ">=3" but we are 2.4.0`}},
		{"unreachable", []string{"--against", downURL, "--against", usersFile}, exitFailed,
			[]string{"unreachable  ", "compatible users 3.1.0", "missing payments "}, []string{"connection refused"}},
		{"invalid", []string{"--against", garbage, "--against", payments, "--against", usersFile}, exitFailed,
			[]string{"invalid  ", "compatible payments 1.5.0", "compatible users 3.1.0"}, []string{"not a JSON manifest"}},
		{"missing tolerated", []string{"--against", payments}, exitOK,
			[]string{"compatible payments 1.5.0", "missing users "},
			[]string{"ok: 1 compatible, 1 missing (missing services do not fail the check without --require-all)"}},
		{"missing with --require-all", []string{"--require-all", "--against", payments}, exitFailed,
			[]string{"compatible payments 1.5.0", "missing users "}, []string{`orders requires users "^3" but no peer of users answered`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"version", "check", "--self", self, "--format", "json"}, tt.args...)
			code, out, errOut := rollsafe(t, args...)
			assert.Equal(t, tt.code, code, "stderr: %s", errOut)
			var got checkJSON
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tt.code == exitOK, got.OK)
			var verdicts []string
			for _, p := range got.Peers {
				verdicts = append(verdicts, p.Verdict+" "+p.Service+" "+p.Version)
				assert.NotNil(t, p.Reasons, "reasons is always a list")
				assert.Equal(t, p.Verdict == "compatible", len(p.Reasons) == 0, "%+v", p)
			}
			assert.Equal(t, tt.verdicts, verdicts)

			args = append([]string{"version", "check", "--self", self}, tt.args...)
			code, out, _ = rollsafe(t, args...)
			assert.Equal(t, tt.code, code)
			for _, s := range tt.text {
				assert.Contains(t, out, s)
			}
		})
	}
}

func TestVersionCheckSourcesInJSON(t *testing.T) {
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	usersFile := writeFile(t, dir, "users.json", `{"service":"users","version":"3.1.0"}`)
	payments := servePeerManifest(t, rsversion.Manifest{Service: "payments", Version: "1.5.0"})
	code, out, _ := rollsafe(t, "version", "check", "--self", self, "--against", payments+".well-known/rollsafe",
		"--against", usersFile, "--format", "json")
	require.Equal(t, exitOK, code, out)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, map[string]any{"ok": true, "peers": []any{
		map[string]any{"source": payments + ".well-known/rollsafe", "service": "payments", "version": "1.5.0", "verdict": "compatible", "reasons": []any{}},
		map[string]any{"source": usersFile, "service": "users", "version": "3.1.0", "verdict": "compatible", "reasons": []any{}},
	}}, got)
}

func TestVersionCheckCannotRun(t *testing.T) {
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	badSelf := writeFile(t, dir, "bad.json", `{"service":"orders","version":"2.4"}`)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no --self", []string{"--against", self}, "--self is required"},
		{"malformed --self", []string{"--self", badSelf}, `--self ` + badSelf + `: manifest field "version": "2.4" is not a strict semantic version`},
		{"missing --self file", []string{"--self", filepath.Join(dir, "nope.json")}, "no such file"},
		{"unreadable --against", []string{"--self", self, "--against", filepath.Join(dir, "nope.json")}, "--against: open"},
		{"stray argument", []string{"--self", self, "peer.json"}, `unexpected argument "peer.json"`},
		{"bad format", []string{"--self", self, "--format", "xml"}, `unknown format "xml"`},
		{"bad timeout", []string{"--self", self, "--timeout", "0s"}, "--timeout 0s is not positive"},
		{"no --against", []string{"--self", self}, "--against is required"},
		{"empty --against", []string{"--self", self, "--against", ""}, "empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := rollsafe(t, append([]string{"version", "check"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Contains(t, errOut, tt.wantErr)
		})
	}
}

func TestVersionShow(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "orders.json", `{"service":"orders","version":"2.4.0","requires":{"users":"^3","payments":">=1.2.0 <2.0.0"},
		"schema":">=12 <=15","releaseId":"r-7","apis":["orders.v1","orders.v2"],"build":{"revision":"abc123","modified":true,"goVersion":"go1.26.8"}}`)
	bad := writeFile(t, dir, "bad.json", `{"service":"orders","version":"2.4.0","schema":"latest"}`)

	code, out, errOut := rollsafe(t, "version", "show", good)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, `service   orders
version   2.4.0
requires  payments >=1.2.0 <2.0.0
          users ^3
schema    >=12 <=15
release   r-7
apis      orders.v1, orders.v2
build     revision abc123 (modified), go1.26.8
`, out)

	url := servePeerManifest(t, rsversion.Manifest{Service: "payments", Version: "1.5.0"})
	code, out, _ = rollsafe(t, "version", "show", "--format", "json", url)
	require.Equal(t, exitOK, code)
	m, err := rsversion.ParseManifest([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, rsversion.Manifest{Service: "payments", Version: "1.5.0"}, m)

	code, _, errOut = rollsafe(t, "version", "show", bad)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, `manifest field "schema": "latest" is not a version constraint`)

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	code, _, errOut = rollsafe(t, "version", "show", down.URL)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "connection refused")

	code, _, errOut = rollsafe(t, "version", "show")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "want one manifest file or URL")

	code, out, _ = rollsafe(t, "help", "version", "check")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "--require-all")
}

// ciVersionJob is what a CI template's version job holds: its variables and
// the shell lines that run "rollsafe version check".
type ciVersionJob struct {
	vars  map[string]string
	lines []string
}

func readCIVersionJob(t *testing.T, name string) ciVersionJob {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", name))
	require.NoError(t, err)
	var job ciVersionJob
	switch name {
	case "github-actions.yml":
		var doc struct {
			Jobs map[string]struct {
				Env   map[string]string `yaml:"env"`
				Steps []struct {
					Run string `yaml:"run"`
				} `yaml:"steps"`
			} `yaml:"jobs"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc))
		j, ok := doc.Jobs["version-check"]
		require.True(t, ok, "no version-check job in %s", name)
		job.vars = j.Env
		for _, s := range j.Steps {
			job.lines = append(job.lines, s.Run)
		}
	case "gitlab-ci.yml":
		var doc map[string]struct {
			Variables   map[string]string `yaml:"variables"`
			Script      []string          `yaml:"script"`
			AfterScript []string          `yaml:"after_script"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc))
		j, ok := doc["version:check"]
		require.True(t, ok, "no version:check job in %s", name)
		job.vars = j.Variables
		job.lines = append(j.Script, j.AfterScript...)
	}
	return job
}

// args expands a template's command line the way the shell would, with
// paths made relative to this package, and extra peers appended.
func (j ciVersionJob) args(t *testing.T, line string, extra ...string) []string {
	t.Helper()
	_, cmd, ok := strings.Cut(line, "rollsafe version check ")
	require.True(t, ok)
	cmd, _, _ = strings.Cut(cmd, ">")
	cmd = strings.TrimSuffix(strings.TrimSpace(cmd), "|| true")
	root := filepath.Join("..", "..")
	var against []string
	for _, p := range append(strings.Fields(j.vars["PEERS"]), extra...) {
		if !isURL(p) {
			p = filepath.Join(root, p)
		}
		against = append(against, "--against "+p)
	}
	cmd = strings.ReplaceAll(cmd, `"$MANIFEST"`, filepath.Join(root, j.vars["MANIFEST"]))
	cmd = strings.ReplaceAll(cmd, `$(printf -- '--against %s ' $PEERS)`, strings.Join(against, " "))
	require.NotContains(t, cmd, "$", "unexpanded shell in %q", line)
	return append([]string{"version", "check"}, strings.Fields(cmd)...)
}

// The CI templates' version jobs run commands that work: their manifests
// are compatible, and an incompatible deployed peer fails the job.
func TestCIVersionJobs(t *testing.T) {
	tooOld := servePeerManifest(t, rsversion.Manifest{Service: "payments", Version: "1.9.0"})
	for _, name := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		t.Run(name, func(t *testing.T) {
			job := readCIVersionJob(t, name)
			require.NotEmpty(t, job.vars["MANIFEST"])
			var ran int
			for _, line := range job.lines {
				if !strings.Contains(line, "rollsafe version check") {
					continue
				}
				code, out, errOut := rollsafe(t, job.args(t, line)...)
				assert.Equal(t, exitOK, code, "%s\n%s%s", line, out, errOut)
				code, out, _ = rollsafe(t, job.args(t, line, tooOld)...)
				assert.Equal(t, exitFailed, code, "%s\n%s", line, out)
				assert.Contains(t, out, "but found 1.9.0: 1.9.0 is less than 2")
				ran++
			}
			assert.Equal(t, 2, ran, "version check commands in %s", name)
		})
	}
}

// --prereleases opts in, trap included: ">=1.2.0 <2.0.0" then admits
// 2.0.0-rc.1, which it refuses by default.
func TestVersionCheckPrereleases(t *testing.T) {
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	rc := writeFile(t, dir, "payments.json", `{"service":"payments","version":"2.0.0-rc.1"}`)

	code, out, _ := rollsafe(t, "version", "check", "--self", self, "--against", rc, "--format", "json")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, `requires payments \">=1.2.0 <2.0.0\"`, "constraints are not HTML-escaped")
	var got checkJSON
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.NotEmpty(t, got.Peers)
	assert.Equal(t, "incompatible", got.Peers[0].Verdict)
	require.Len(t, got.Peers[0].Reasons, 1)
	assert.Contains(t, got.Peers[0].Reasons[0], "2.0.0-rc.1 is a prerelease, which constraints exclude unless prereleases are allowed")

	code, out, _ = rollsafe(t, "version", "check", "--prereleases", "--self", self, "--against", rc, "--format", "json")
	assert.Equal(t, exitOK, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.True(t, got.OK)
	assert.Equal(t, "compatible", got.Peers[0].Verdict)
}

// --self may be a URL, fetched like a peer's manifest; one that does not
// answer is said to be unreachable, not a missing file.
func TestVersionCheckSelfURL(t *testing.T) {
	dir := t.TempDir()
	usersFile := writeFile(t, dir, "users.json", `{"service":"users","version":"3.1.0"}`)
	self := servePeerManifest(t, rsversion.Manifest{Service: "orders", Version: "2.4.0", Requires: map[string]string{"users": "^3"}})
	code, out, errOut := rollsafe(t, "version", "check", "--self", self, "--against", usersFile)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "orders 2.4.0 against 1 peer:\n  compatible    users 3.1.0  "+usersFile+"\nok: 1 compatible\n", out)

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	code, out, errOut = rollsafe(t, "version", "check", "--self", down.URL+"/", "--against", usersFile)
	assert.Equal(t, exitCantRun, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "rollsafe: version check: --self: peer unreachable: GET "+down.URL+"/.well-known/rollsafe")
	assert.Contains(t, errOut, "connection refused")
	assert.NotContains(t, errOut, "no such file")

	notManifest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	defer notManifest.Close()
	code, _, errOut = rollsafe(t, "version", "check", "--self", notManifest.URL+"/", "--against", usersFile)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "--self: "+notManifest.URL+"/: invalid manifest: not a JSON manifest")
}

// Every flag a version command defines is in its synopsis and in its help.
func TestVersionHelpListsEveryFlag(t *testing.T) {
	for _, c := range versionCommand().subs {
		t.Run(c.name, func(t *testing.T) {
			code, out, _ := rollsafe(t, "help", "version", c.name)
			require.Equal(t, exitOK, code)
			synopsis := firstLine(out)
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.flags(fs)
			n := 0
			fs.VisitAll(func(f *flag.Flag) {
				n++
				assert.Contains(t, synopsis, "--"+f.Name, "synopsis: %s", synopsis)
				assert.Contains(t, out, "\n  -"+f.Name, "flag list")
			})
			assert.Positive(t, n)
		})
	}
}

// A version check that cannot run, asked for JSON, prints one JSON object:
// the error, the exit code and its meaning.
func TestVersionCheckCannotRunJSON(t *testing.T) {
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	badSelf := writeFile(t, dir, "bad.json", `{"service":"orders","version":"2.4"}`)
	for _, args := range [][]string{
		{"--self", badSelf, "--against", self},
		{"--self", filepath.Join(dir, "nope.json"), "--against", self},
		{"--self", self, "--against", filepath.Join(dir, "nope.json")},
		{"--self", self},
		{"--self", self, "--against", self, "stray"},
		{"--self", self, "--against", self, "--timeout", "0s"},
		{"--self", self, "--nosuch"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"version", "check", "--format", "json"}, args...)...)
			require.Equal(t, exitCantRun, code)
			var got struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exitCode"`
				Meaning  string `json:"meaning"`
			}
			dec := json.NewDecoder(strings.NewReader(out))
			require.NoError(t, dec.Decode(&got), out)
			assert.False(t, dec.More(), "one JSON object: %s", out)
			assert.Equal(t, exitCantRun, got.ExitCode)
			assert.NotEmpty(t, got.Meaning)
			assert.Contains(t, errOut, got.Error)
			assert.NotContains(t, errOut, "rollsafe: rollsafe")
		})
	}
}

// A peer's manifest of 880 KB reaches neither the check's output nor show's
// whole, in text or JSON.
func TestVersionHugeManifest(t *testing.T) {
	huge := strings.Repeat("=1.0.0 || ", 88<<10)
	serve := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
		t.Cleanup(srv.Close)
		return srv.URL + "/"
	}
	invalid := serve(`{"service":"payments","version":"1.5.0","requires":{"orders":"` + huge + `"}}`)
	valid := serve(`{"service":"users","version":"3.1.0","build":{"revision":"` + strings.Repeat("f", 880<<10) + `"}}`)
	dir := t.TempDir()
	self := writeFile(t, dir, "orders.json", ordersManifest)
	const bound = 4 << 10

	for _, format := range []string{"text", "json"} {
		code, out, errOut := rollsafe(t, "version", "check", "--self", self, "--against", invalid, "--against", valid, "--format", format)
		assert.Equal(t, exitFailed, code, errOut)
		assert.Less(t, len(out)+len(errOut), bound, "check --format %s: %.500s", format, out)
		assert.Contains(t, out, fmt.Sprintf("(%d bytes)", len(huge)))
	}

	code, out, errOut := rollsafe(t, "version", "show", invalid)
	assert.Equal(t, exitFailed, code)
	assert.Less(t, len(out)+len(errOut), bound, "show of an invalid manifest: %.500s", errOut)
	assert.Contains(t, errOut, fmt.Sprintf("(%d bytes)", len(huge)))

	code, out, errOut = rollsafe(t, "version", "show", valid)
	assert.Equal(t, exitOK, code, errOut)
	assert.Less(t, len(out)+len(errOut), bound, "show of a valid manifest: %.500s", out)
	assert.Contains(t, out, "build     revision ffff")
	assert.Contains(t, out, fmt.Sprintf("… (%d bytes)", 880<<10))
}
