package ofrep_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// EnvJS names the folder where `npm ci` installed OpenFeature's JavaScript
// OFREP providers (testdata/js); the JavaScript tests run only when it is
// set, as .ci/run sets it, since `go test ./...` alone never needs Node.
const envJS = "ROLLSAFE_TEST_OFREP_JS"

func jsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envJS)
	if dir == "" {
		t.Skip(envJS + " is not set: run `npm ci` in flags/ofrep/testdata/js and set it to that folder")
	}
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(abs, "node_modules", "@openfeature", "ofrep-provider"))
	require.NoError(t, err, "%s: run npm ci there first", abs)
	return abs
}

type jsCase struct {
	Name    string         `json:"name"`
	Flag    string         `json:"flag"`
	Type    string         `json:"type"` // the JavaScript SDK's: boolean, string, number, object
	Default any            `json:"default"`
	Context map[string]any `json:"context"`
}

type answer struct {
	Value     any    `json:"value"`
	Variant   string `json:"variant"`
	Reason    string `json:"reason"`
	ErrorCode string `json:"errorCode"`
}

var jsCases = []jsCase{
	{"boolean", "new-checkout", "boolean", false, map[string]any{"targetingKey": "u1"}},
	{"string", "banner-text", "string", "", map[string]any{"targetingKey": "u1"}},
	{"integer", "page-size", "number", 0, map[string]any{"targetingKey": "u1"}},
	{"float", "discount", "number", 0, map[string]any{"targetingKey": "u1"}},
	{"object", "theme", "object", map[string]any{}, map[string]any{"targetingKey": "u1"}},
	{"targeting match", "pro-search", "boolean", false, map[string]any{"targetingKey": "u2", "plan": "pro"}},
	{"targeting miss", "pro-search", "boolean", false, map[string]any{"targetingKey": "u3", "plan": "free"}},
	{"fractional a", "summary-v2", "boolean", false, map[string]any{"targetingKey": "user-1"}},
	{"fractional b", "summary-v2", "boolean", false, map[string]any{"targetingKey": "user-7"}},
	{"disabled", "legacy-export", "boolean", false, map[string]any{"targetingKey": "u1"}},
	{"no default variant", "unset-default", "boolean", false, map[string]any{"targetingKey": "u4", "plan": "free"}},
	{"missing", "no-such-flag", "boolean", false, map[string]any{"targetingKey": "u1"}},
}

// cliAnswers runs `rollsafe flags eval` on the same file for each case.
func cliAnswers(t *testing.T, file string) []answer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rollsafe")
	build := exec.Command("go", "build", "-o", bin, "github.com/rollsafe/rollsafe/cmd/rollsafe")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	goType := map[string]string{"boolean": "boolean", "string": "string", "object": "object"}
	var answers []answer
	for _, c := range jsCases {
		ctx, err := json.Marshal(c.Context)
		require.NoError(t, err)
		args := []string{"flags", "eval", "--file", file, "--context", string(ctx), "--format", "json"}
		if typ, ok := goType[c.Type]; ok {
			args = append(args, "--type", typ)
		}
		cmd := exec.Command(bin, append(args, c.Flag)...)
		out, err := cmd.Output()
		require.NoError(t, err, "%s: %s", c.Name, out)
		var a answer
		require.NoError(t, json.Unmarshal(out, &a), c.Name)
		answers = append(answers, a)
	}
	return answers
}

// serveFile serves the conformance flags over OFREP on 127.0.0.1.
func serveFile(t *testing.T, file string, opts ...ofrep.Option) string {
	t.Helper()
	src, err := flags.NewFileSource(file)
	require.NoError(t, err)
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	h, err := ofrep.NewHandler(p, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return srv.URL
}

// OpenFeature's JavaScript OFREP providers, reading flags from our handler,
// answer what `rollsafe flags eval` answers for the same file and context.
func TestJavaScriptProvidersAnswerAsTheCLI(t *testing.T) {
	dir := jsDir(t)
	file, err := filepath.Abs("testdata/conformance.flags.json")
	require.NoError(t, err)
	want := cliAnswers(t, file)
	base := serveFile(t, file)

	input, err := json.Marshal(map[string]any{"baseUrl": base, "cases": jsCases})
	require.NoError(t, err)
	casesFile := filepath.Join(t.TempDir(), "cases.json")
	require.NoError(t, os.WriteFile(casesFile, input, 0o600))
	cmd := exec.Command("node", filepath.Join(dir, "eval.mjs"), casesFile)
	cmd.Dir = dir
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "node eval.mjs: %s", stderr)
	var got struct {
		Server []answer `json:"server"`
		Web    []answer `json:"web"`
	}
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	require.Len(t, got.Server, len(jsCases))
	require.Len(t, got.Web, len(jsCases))

	for i, c := range jsCases {
		w := want[i]
		wantValue := w.Value
		if wantValue == nil { // the calling code's default applies
			wantValue = c.Default
		}
		for _, side := range []struct {
			name string
			a    answer
		}{{"server SDK", got.Server[i]}, {"web SDK", got.Web[i]}} {
			a := side.a
			msg := c.Name + " through the " + side.name
			assert.Equal(t, normalizeJSON(t, wantValue), normalizeJSON(t, a.Value), msg)
			if w.ErrorCode != "" {
				assert.Equal(t, w.ErrorCode, a.ErrorCode, msg)
				continue
			}
			if w.Value == nil && side.name == "server SDK" {
				// @openfeature/ofrep-provider 0.1.3 compares the type of the
				// answer's value with the default's before it looks for a
				// value at all, so an answer that defers to the code default
				// (OFREP's codeDefaultFlag) is an error there (its
				// TypeMismatchError surfaces as GENERAL); the value is the
				// default either way. The web provider reads it as meant.
				assert.Equal(t, "GENERAL", a.ErrorCode, msg)
				continue
			}
			assert.Empty(t, a.ErrorCode, msg)
			assert.Equal(t, w.Variant, a.Variant, msg)
			assert.Equal(t, ofrepReason(w.Reason), a.Reason, msg)
		}
	}
}

// ofrepReason is the reason OFREP carries for one of OpenFeature's: its
// enum has no DEFAULT, which the handler sends as STATIC.
func ofrepReason(r string) string {
	if r == "DEFAULT" {
		return "STATIC"
	}
	return r
}

func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// A write to the flag store reaches OpenFeature's JavaScript web provider
// through the handler's event stream: it refetches and reports
// CONFIGURATION_CHANGED naming the flag.
func TestJavaScriptWebProviderFollowsTheStore(t *testing.T) {
	dir := jsDir(t)
	ctx := context.Background()
	store, srv, _ := storeServer(t)

	events := startWatch(t, dir, srv.URL, map[string]any{"targetingKey": "u1"})
	require.Equal(t, "ready", nextEvent(t, events).Event)
	_, err := store.Apply(ctx, flagstore.Change{Actor: "alice", Reason: "kill", Edits: []flagstore.Edit{
		flagstore.SetState("new-checkout", flags.Disabled)}})
	require.NoError(t, err)
	ev := nextEvent(t, events)
	require.Equal(t, "changed", ev.Event, "%+v", ev)
	assert.Contains(t, ev.Flags, "new-checkout")
}

type watchEvent struct {
	Event   string   `json:"event"`
	At      int64    `json:"at"`
	Flags   []string `json:"flags"`
	Message string   `json:"message"`
}

// startWatch runs watch.mjs against base and returns its events.
func startWatch(t *testing.T, dir, base string, evalCtx map[string]any) <-chan watchEvent {
	t.Helper()
	ctxJSON, err := json.Marshal(evalCtx)
	require.NoError(t, err)
	cmd := exec.Command("node", filepath.Join(dir, "watch.mjs"), base, string(ctxJSON))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	events := make(chan watchEvent, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev watchEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return events
}

func nextEvent(t *testing.T, events <-chan watchEvent) watchEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "watch.mjs ended")
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event from watch.mjs within 20s")
	}
	return watchEvent{}
}
