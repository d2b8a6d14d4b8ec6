package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metadataFlags has set metadata, overridden by one flag's own.
const metadataFlags = `{
  "metadata": {"team": "checkout", "version": 1},
  "flags": {
    "own": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
      "metadata": {"version": 2, "owner": "ann"}},
    "inherits": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}
  }
}`

func TestFlagsEvalType(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	mismatch := func(key string) string {
		return `{"key":"` + key + `","value":null,"variant":null,"reason":"ERROR","errorCode":"TYPE_MISMATCH"}`
	}
	tests := []struct {
		name string
		args []string
		want string
		err  string
	}{
		{"boolean", []string{"--type", "boolean", "--context", `{"email": "ann@example.com"}`, "new-checkout"},
			`{"key":"new-checkout","value":true,"variant":"on","reason":"TARGETING_MATCH"}`, ""},
		{"boolean of a string flag", []string{"--type", "boolean", "banner"}, mismatch("banner"), `TYPE_MISMATCH: flag "banner" is a string flag`},
		{"string", []string{"--type", "string", "--context", `{"targetingKey": "u1"}`, "banner"},
			`{"key":"banner","value":null,"variant":null,"reason":"DEFAULT"}`, ""},
		{"string of a boolean flag", []string{"--type", "string", "new-checkout"}, mismatch("new-checkout"), "TYPE_MISMATCH"},
		{"integer", []string{"--type", "integer", "--context", `{"plan": "pro"}`, "plan-limit"},
			`{"key":"plan-limit","value":1000,"variant":"large","reason":"TARGETING_MATCH"}`, ""},
		// The SDK's Int evaluation cannot answer 0.5: the provider says so.
		{"integer of a fraction", []string{"--type", "integer", "--context", `{"plan": "trial"}`, "plan-limit"}, mismatch("plan-limit"), `variant "half" is not a whole number`},
		{"float", []string{"--type=float", "--context", `{"plan": "trial"}`, "plan-limit"},
			`{"key":"plan-limit","value":0.5,"variant":"half","reason":"TARGETING_MATCH"}`, ""},
		{"float of an object flag", []string{"--type", "float", "theme"}, mismatch("theme"), "TYPE_MISMATCH"},
		{"object", []string{"--type", "object", "theme"},
			`{"key":"theme","value":{"bg":"#000"},"variant":"dark","reason":"STATIC"}`, ""},
		{"object of a number flag", []string{"--type", "object", "plan-limit"}, mismatch("plan-limit"), "TYPE_MISMATCH"},
		{"typed, not found", []string{"--type", "integer", "nope"},
			`{"key":"nope","value":null,"variant":null,"reason":"ERROR","errorCode":"FLAG_NOT_FOUND"}`, `flag "nope" not found`},
		{"typed, disabled", []string{"--type", "boolean", "off-flag"},
			`{"key":"off-flag","value":null,"variant":null,"reason":"DISABLED"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags", "eval", "--file", file}, tc.args...)...)
			assert.Equal(t, exitOK, code, "stdout %s stderr %s", out, errOut)
			assert.JSONEq(t, tc.want, out)
			if tc.err != "" {
				assert.Contains(t, errOut, tc.err)
			} else {
				assert.Empty(t, errOut)
			}
		})
	}
}

func TestFlagsEvalUsage(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	contexts := writeFlagFile(t, "contexts.jsonl", "{}\n")
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"unknown type", []string{"--file", file, "--type", "bool", "new-checkout"}, `unknown type "bool" (want boolean|string|integer|float|object)`},
		{"unknown format", []string{"--file", file, "--format", "yaml", "new-checkout"}, `unknown format "yaml"`},
		{"context and contexts", []string{"--file", file, "--context", "{}", "--contexts", contexts, "new-checkout"}, "--context and --contexts cannot be used together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags", "eval"}, tc.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.err)
		})
	}

	// Asked for JSON, a usage error is a JSON object too.
	code, out, _ := rollsafe(t, "flags", "eval", "--format", "json", "--file", file, "--type", "bool", "new-checkout")
	assert.Equal(t, exitCantRun, code)
	var got jsonError
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Contains(t, got.Error, `unknown type "bool"`)
}

func TestFlagsEvalHelpListsEveryFlag(t *testing.T) {
	code, out, _ := rollsafe(t, "help", "flags", "eval")
	require.Equal(t, exitOK, code)
	for _, f := range []string{"-file", "-context ", "-contexts", "-type", "-format"} {
		assert.Contains(t, out, "\n  "+f, "help lists %s", f)
	}
	assert.Contains(t, out, "boolean|string|integer|float|object")
}

func TestFlagsEvalMetadata(t *testing.T) {
	file := writeFlagFile(t, "flags.json", metadataFlags)
	tests := []struct {
		name string
		args []string
		want string
	}{
		// The flag's own keys override the set's; the set's others stay.
		{"flag over set", []string{"own"},
			`{"key":"own","value":true,"variant":"on","reason":"STATIC","metadata":{"team":"checkout","version":2,"owner":"ann"}}`},
		{"set only", []string{"inherits"},
			`{"key":"inherits","value":"x","variant":"a","reason":"STATIC","metadata":{"team":"checkout","version":1}}`},
		{"on a type mismatch", []string{"--type", "string", "own"},
			`{"key":"own","value":null,"variant":null,"reason":"ERROR","errorCode":"TYPE_MISMATCH","metadata":{"team":"checkout","version":2,"owner":"ann"}}`},
		{"none for a flag not found", []string{"nope"},
			`{"key":"nope","value":null,"variant":null,"reason":"ERROR","errorCode":"FLAG_NOT_FOUND"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags", "eval", "--file", file}, tc.args...)...)
			assert.Equal(t, exitOK, code, "stderr %s", errOut)
			assert.JSONEq(t, tc.want, out)
		})
	}
}

func TestFlagsEvalText(t *testing.T) {
	file := writeFlagFile(t, "flags.json", metadataFlags)
	code, out, _ := rollsafe(t, "flags", "eval", "--format", "text", "--file", file, "own")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, `own: true (variant "on", reason STATIC)
  metadata owner: "ann"
  metadata team: "checkout"
  metadata version: 2
`, out)

	code, out, _ = rollsafe(t, "flags", "eval", "--format", "text", "--file", file, "nope")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "nope: null (reason ERROR, errorCode FLAG_NOT_FOUND)\n", out)

	plain := writeFlagFile(t, "plain.json", cliFlags)
	code, out, _ = rollsafe(t, "flags", "eval", "--format", "text", "--file", plain, "--context", `{"plan":"pro"}`, "plan-limit")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "plan-limit: 1000 (variant \"large\", reason TARGETING_MATCH)\n", out)
}

// rollsafeStdin is rollsafe with stdin.
func rollsafeStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestFlagsEvalContexts(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	lines := strings.Join([]string{
		`{"targetingKey": "u1", "email": "ann@example.com"}`,
		``,
		`{"targetingKey": "u2", "email": "bob@corp.org"}`,
		`{"targetingKey":`,
		`   `,
		`[1]`,
		`{"targetingKey": 7}`,
		`{}`,
		`{} {}`,
	}, "\n") + "\n"
	want := []string{
		`{"line":1,"key":"new-checkout","value":true,"variant":"on","reason":"TARGETING_MATCH"}`,
		`{"line":3,"key":"new-checkout","value":false,"variant":"off","reason":"SPLIT"}`,
		`{"line":4,"key":"new-checkout","value":null,"variant":null,"reason":"ERROR","errorCode":"INVALID_CONTEXT"}`,
		`{"line":6,"key":"new-checkout","value":null,"variant":null,"reason":"ERROR","errorCode":"INVALID_CONTEXT"}`,
		`{"line":7,"key":"new-checkout","value":null,"variant":null,"reason":"ERROR","errorCode":"INVALID_CONTEXT"}`,
		`{"line":8,"key":"new-checkout","value":false,"variant":"off","reason":"DEFAULT"}`,
		`{"line":9,"key":"new-checkout","value":null,"variant":null,"reason":"ERROR","errorCode":"INVALID_CONTEXT"}`,
	}
	check := func(t *testing.T, code int, out, errOut string) {
		t.Helper()
		assert.Equal(t, exitOK, code, "stderr %s", errOut)
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.Len(t, got, len(want), out)
		for i := range want {
			assert.JSONEq(t, want[i], got[i], "result %d", i)
		}
		assert.Contains(t, errOut, "line 4: not a JSON object")
		assert.Contains(t, errOut, "line 6: not a JSON object")
		assert.Contains(t, errOut, "line 7: targetingKey must be a string")
		assert.Contains(t, errOut, "line 9: data after the JSON object")
	}
	t.Run("file", func(t *testing.T) {
		path := writeFlagFile(t, "contexts.jsonl", lines)
		code, out, errOut := rollsafe(t, "flags", "eval", "--file", file, "--contexts", path, "new-checkout")
		check(t, code, out, errOut)
	})
	t.Run("stdin", func(t *testing.T) {
		code, out, errOut := rollsafeStdin(t, lines, "flags", "eval", "--file", file, "--contexts", "-", "new-checkout")
		check(t, code, out, errOut)
	})
	t.Run("no final newline", func(t *testing.T) {
		path := writeFlagFile(t, "contexts.jsonl", `{"plan":"pro"}`)
		code, out, _ := rollsafe(t, "flags", "eval", "--file", file, "--contexts", path, "plan-limit")
		assert.Equal(t, exitOK, code)
		assert.JSONEq(t, `{"line":1,"key":"plan-limit","value":1000,"variant":"large","reason":"TARGETING_MATCH"}`, out)
	})
	t.Run("empty", func(t *testing.T) {
		code, out, _ := rollsafeStdin(t, "\n\n", "flags", "eval", "--file", file, "--contexts", "-", "plan-limit")
		assert.Equal(t, exitOK, code)
		assert.Empty(t, out)
	})
	t.Run("typed, metadata, one message for many lines", func(t *testing.T) {
		meta := writeFlagFile(t, "meta.json", metadataFlags)
		code, out, errOut := rollsafeStdin(t, "{}\n{}\n", "flags", "eval", "--file", meta, "--type", "integer", "--contexts", "-", "own")
		assert.Equal(t, exitOK, code)
		mismatch := `"key":"own","value":null,"variant":null,"reason":"ERROR","errorCode":"TYPE_MISMATCH","metadata":{"owner":"ann","team":"checkout","version":2}}`
		assert.Equal(t, `{"line":1,`+mismatch+"\n"+`{"line":2,`+mismatch+"\n", out)
		assert.Equal(t, 1, strings.Count(errOut, "TYPE_MISMATCH"), errOut)
		assert.Contains(t, errOut, "flags eval: stdin line 1: TYPE_MISMATCH")
	})
	t.Run("text", func(t *testing.T) {
		code, out, _ := rollsafeStdin(t, "{\"plan\":\"pro\"}\n\n{]\n", "flags", "eval", "--format", "text", "--file", file, "--contexts", "-", "plan-limit")
		assert.Equal(t, exitOK, code)
		assert.Equal(t, "line 1: plan-limit: 1000 (variant \"large\", reason TARGETING_MATCH)\n"+
			"line 3: plan-limit: null (reason ERROR, errorCode INVALID_CONTEXT)\n", out)
	})
	t.Run("invalid flag file", func(t *testing.T) {
		bad := writeFlagFile(t, "bad.json", `{"flags": {"x": {"state": "MAYBE", "variants": {"a": 1}}}}`)
		code, out, errOut := rollsafeStdin(t, "{}\n{\"targetingKey\":\"u\"}\n", "flags", "eval", "--file", bad, "--contexts", "-", "x")
		assert.Equal(t, exitFailed, code)
		assert.Equal(t, `{"line":1,"key":"x","value":null,"variant":null,"reason":"ERROR","errorCode":"PARSE_ERROR"}`+"\n"+
			`{"line":2,"key":"x","value":null,"variant":null,"reason":"ERROR","errorCode":"PARSE_ERROR"}`+"\n", out)
		assert.Equal(t, 1, strings.Count(errOut, `state: "MAYBE"`), errOut)
	})
	t.Run("line too long", func(t *testing.T) {
		long := "{}\n{\"a\": \"" + strings.Repeat("x", maxContextLine) + "\"}\n{}\n"
		code, out, errOut := rollsafeStdin(t, long, "flags", "eval", "--file", file, "--contexts", "-", "plan-limit")
		assert.Equal(t, exitCantRun, code)
		// The results before the line are printed; the run stops there.
		assert.JSONEq(t, `{"line":1,"key":"plan-limit","value":10,"variant":"small","reason":"DEFAULT"}`, out)
		assert.Contains(t, errOut, "flags eval: --contexts stdin: line 2 is longer than 16 MiB")
	})
	t.Run("unreadable contexts", func(t *testing.T) {
		code, out, errOut := rollsafe(t, "flags", "eval", "--file", file, "--contexts", filepath.Join(t.TempDir(), "none.jsonl"), "x")
		assert.Equal(t, exitCantRun, code)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "--contexts")
		assert.Contains(t, errOut, "no such file")
	})
	t.Run("contexts a directory", func(t *testing.T) {
		code, out, errOut := rollsafe(t, "flags", "eval", "--file", file, "--contexts", t.TempDir(), "x")
		assert.Equal(t, exitCantRun, code)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "is a directory")
	})
	t.Run("unreadable flag file", func(t *testing.T) {
		code, out, errOut := rollsafeStdin(t, "{}\n", "flags", "eval", "--file", filepath.Join(t.TempDir(), "none.json"), "--contexts", "-", "x")
		assert.Equal(t, exitCantRun, code)
		assert.Empty(t, out)
		assert.Contains(t, errOut, "no such file")
	})
}

// manyContexts is n context lines, each a user of its own; every third on
// the staff list.
func manyContexts(n int) string {
	var b strings.Builder
	for i := range n {
		domain := "corp.org"
		if i%3 == 0 {
			domain = "example.com"
		}
		fmt.Fprintf(&b, "{\"targetingKey\": \"user-%d\", \"email\": \"u%d@%s\"}\n", i, i, domain)
	}
	return b.String()
}

// TestFlagsEvalContextsMany runs 10,000 contexts in one call and checks each
// answer against the one a single eval gives for the same context.
func TestFlagsEvalContextsMany(t *testing.T) {
	const n = 10_000
	file := writeFlagFile(t, "flags.json", cliFlags)
	input := manyContexts(n)
	code, out, errOut := rollsafeStdin(t, input, "flags", "eval", "--file", file, "--contexts", "-", "new-checkout")
	require.Equal(t, exitOK, code, errOut)
	assert.Empty(t, errOut)

	results := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, results, n)
	contexts := strings.Split(strings.TrimSuffix(input, "\n"), "\n")
	reasons := map[string]int{}
	for i, r := range results {
		var got evalOutput
		require.NoError(t, json.Unmarshal([]byte(r), &got), r)
		require.Equal(t, i+1, got.Line)
		reasons[got.Reason]++
		if i%997 == 0 {
			code, single, _ := rollsafe(t, "flags", "eval", "--file", file, "--context", contexts[i], "new-checkout")
			require.Equal(t, exitOK, code)
			var want evalOutput
			require.NoError(t, json.Unmarshal([]byte(single), &want))
			want.Line = i + 1
			assert.Equal(t, want, got, "line %d", i+1)
		}
	}
	assert.Equal(t, map[string]int{"TARGETING_MATCH": 3334, "SPLIT": 6666}, reasons)
}

func BenchmarkFlagsEvalContexts(b *testing.B) {
	const n = 10_000
	file := filepath.Join(b.TempDir(), "flags.json")
	require.NoError(b, os.WriteFile(file, []byte(cliFlags), 0o644))
	contexts := filepath.Join(b.TempDir(), "contexts.jsonl")
	require.NoError(b, os.WriteFile(contexts, []byte(manyContexts(n)), 0o644))
	args := []string{"flags", "eval", "--file", file, "--contexts", contexts, "new-checkout"}
	b.ReportAllocs()
	for b.Loop() {
		out := bufio.NewWriter(io.Discard)
		if code := run(context.Background(), args, nil, out, io.Discard); code != exitOK {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/line")
}

// brokenPipe fails every write, as a closed pipe does.
type brokenPipe struct{ writes int }

func (b *brokenPipe) Write([]byte) (int, error) {
	b.writes++
	return 0, errors.New("broken pipe")
}

func TestFlagsEvalContextsWriteError(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	out := &brokenPipe{}
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"flags", "eval", "--file", file, "--contexts", "-", "plan-limit"},
		strings.NewReader(manyContexts(10_000)), out, &errOut)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut.String(), "flags eval: write: broken pipe")
	assert.Equal(t, 1, out.writes, "the run stops at the first failed write")
}

func TestFlagsEvalContextsWriteErrorText(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	out := &brokenPipe{}
	var errOut bytes.Buffer
	input := manyContexts(10_000)
	in := &countingReader{r: strings.NewReader(input)}
	code := run(context.Background(), []string{"flags", "eval", "--file", file, "--format", "text", "--contexts", "-", "plan-limit"},
		in, out, &errOut)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut.String(), "flags eval: write: broken pipe")
	assert.Equal(t, 1, out.writes)
	assert.Less(t, in.n, len(input), "the run stops at the first failed write, in text too, and reads no further")
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
