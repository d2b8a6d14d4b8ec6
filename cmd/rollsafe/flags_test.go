package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cliFlags = `{
  "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@example.com"]}},
  "flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [{"$ref": "staff"}, "on", {"fractional": [["on", 0], ["off", 1]]}]}},
    "plan-limit": {"state": "ENABLED", "variants": {"small": 10, "large": 1000, "half": 0.5}, "defaultVariant": "small",
      "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "large", {"==": [{"var": "plan"}, "trial"]}, "half", null]}},
    "banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}},
    "theme": {"state": "ENABLED", "variants": {"dark": {"bg": "#000"}}, "defaultVariant": "dark"},
    "off-flag": {"state": "DISABLED", "variants": {"on": true}, "defaultVariant": "on"}
  }
}`

func writeFlagFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestFlagsValidate(t *testing.T) {
	good := writeFlagFile(t, "flags.json", cliFlags)
	yml := writeFlagFile(t, "flags.yaml", "flags:\n  f:\n    state: ENABLED\n    variants: {a: 1}\n")
	bad := writeFlagFile(t, "bad.json", `{"flags": {"new-checkout": {"state": "ON", "variants": {"on": true, "off": "no"}}}}`)
	malformed := writeFlagFile(t, "malformed.json", "{\"flags\": {\n  \"a\": }\n}")
	tests := []struct {
		name string
		args []string
		code int
		out  []string
		err  string
	}{
		{"valid", []string{good}, exitOK, []string{"valid, 5 flags"}, ""},
		{"valid yaml", []string{yml}, exitOK, []string{"valid, 1 flag\n"}, ""},
		{"invalid names flag and field", []string{bad}, exitFailed, []string{
			`flag "new-checkout": state: "ON" is not ENABLED or DISABLED`,
			`flag "new-checkout": variants.on: is a boolean but variant "off" is a string`,
			"invalid, 2 problems in 1 flag; the 0 other flags load"}, ""},
		{"malformed JSON is invalid", []string{malformed}, exitFailed, []string{"malformed JSON at line 2", "invalid, 1 problem; the whole file is refused\n"}, ""},
		{"github format", []string{"--format", "github", bad}, exitFailed, []string{"::error file=" + bad + ",title=invalid flag definitions::flag \"new-checkout\": state:"}, ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "none.json")}, exitCantRun, nil, "no such file"},
		{"directory", []string{t.TempDir()}, exitCantRun, nil, "is a directory"},
		{"no file", nil, exitCantRun, nil, "want one FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags", "validate"}, tc.args...)...)
			assert.Equal(t, tc.code, code, "stdout %s stderr %s", out, errOut)
			for _, want := range tc.out {
				assert.Contains(t, out, want)
			}
			if tc.err != "" {
				assert.Contains(t, errOut, tc.err)
			}
		})
	}
}

func TestFlagsValidateJSON(t *testing.T) {
	bad := writeFlagFile(t, "bad.json", `{"flags": {"x": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "b"}}}`)
	code, out, _ := rollsafe(t, "flags", "validate", "--format", "json", bad)
	assert.Equal(t, exitFailed, code)
	var got struct {
		File     string
		Valid    bool
		Flags    []string
		Problems []struct{ Flag, Field, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Valid)
	assert.Empty(t, got.Flags)
	require.Len(t, got.Problems, 1)
	assert.Equal(t, "x", got.Problems[0].Flag)
	assert.Equal(t, "defaultVariant", got.Problems[0].Field)
}

func TestFlagsEval(t *testing.T) {
	file := writeFlagFile(t, "flags.json", cliFlags)
	bad := writeFlagFile(t, "bad.json", `{"flags": {"x": {"state": "MAYBE", "variants": {"a": 1}}}}`)
	truncated := writeFlagFile(t, "truncated.json", `{"flags": {"x": {"state": "ENABLED",`)
	badYAML := writeFlagFile(t, "bad.yaml", "flags:\n  x:\n    state: ENABLED\n    variants: {}\n")
	tests := []struct {
		name string
		args []string
		code int
		want string // the JSON printed
		err  string
	}{
		{"targeting match", []string{"--file", file, "--context", `{"targetingKey": "u1", "email": "ann@example.com"}`, "new-checkout"}, exitOK,
			`{"key":"new-checkout","value":true,"variant":"on","reason":"TARGETING_MATCH"}`, ""},
		{"split", []string{"--file", file, "--context", `{"targetingKey": "u2", "email": "bob@corp.org"}`, "new-checkout"}, exitOK,
			`{"key":"new-checkout","value":false,"variant":"off","reason":"SPLIT"}`, ""},
		{"number", []string{"--file", file, "--context", `{"plan": "pro"}`, "plan-limit"}, exitOK,
			`{"key":"plan-limit","value":1000,"variant":"large","reason":"TARGETING_MATCH"}`, ""},
		{"fractional number", []string{"--file", file, "--context", `{"plan": "trial"}`, "plan-limit"}, exitOK,
			`{"key":"plan-limit","value":0.5,"variant":"half","reason":"TARGETING_MATCH"}`, ""},
		{"default variant", []string{"--file", file, "plan-limit"}, exitOK,
			`{"key":"plan-limit","value":10,"variant":"small","reason":"DEFAULT"}`, ""},
		{"code default", []string{"--file", file, "banner"}, exitOK,
			`{"key":"banner","value":null,"variant":null,"reason":"DEFAULT"}`, ""},
		{"object", []string{"--file", file, "theme"}, exitOK,
			`{"key":"theme","value":{"bg":"#000"},"variant":"dark","reason":"STATIC"}`, ""},
		{"disabled", []string{"--file", file, "off-flag"}, exitOK,
			`{"key":"off-flag","value":null,"variant":null,"reason":"DISABLED"}`, ""},
		{"unknown flag", []string{"--file", file, "nope"}, exitOK,
			`{"key":"nope","value":null,"variant":null,"reason":"ERROR","errorCode":"FLAG_NOT_FOUND"}`, `flag "nope" not found`},
		// An invalid file fails the command, as flags validate does; the
		// answer is still the one a service would give.
		{"invalid file", []string{"--file", bad, "x"}, exitFailed,
			`{"key":"x","value":null,"variant":null,"reason":"ERROR","errorCode":"PARSE_ERROR"}`, bad + ` is invalid (1 problem): flag "x": state: "MAYBE" is not ENABLED or DISABLED`},
		{"unparsable file", []string{"--file", truncated, "x"}, exitFailed,
			`{"key":"x","value":null,"variant":null,"reason":"ERROR","errorCode":"PARSE_ERROR"}`, "malformed JSON"},
		{"invalid YAML file", []string{"--file", badYAML, "x"}, exitFailed,
			`{"key":"x","value":null,"variant":null,"reason":"ERROR","errorCode":"PARSE_ERROR"}`, `flag "x": variants`},
		{"unreadable file", []string{"--file", filepath.Join(t.TempDir(), "none.json"), "x"}, exitCantRun, "", "no such file"},
		{"bad context JSON", []string{"--file", file, "--context", `{"targetingKey":`, "x"}, exitCantRun, "", "--context"},
		{"data after the context", []string{"--file", file, "--context", `{} {}`, "x"}, exitCantRun, "", "--context: data after the JSON object"},
		{"context not an object", []string{"--file", file, "--context", `[1]`, "x"}, exitCantRun, "", "not a JSON object"},
		{"targeting key not a string", []string{"--file", file, "--context", `{"targetingKey": 7}`, "x"}, exitCantRun, "", "targetingKey must be a string"},
		{"no file flag", []string{"x"}, exitCantRun, "", "--file is required"},
		{"no key", []string{"--file", file}, exitCantRun, "", "want one flag KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"flags", "eval"}, tc.args...)...)
			assert.Equal(t, tc.code, code, "stdout %s stderr %s", out, errOut)
			if tc.want != "" {
				assert.JSONEq(t, tc.want, out)
			} else {
				assert.Empty(t, out)
			}
			if tc.err != "" {
				assert.Contains(t, errOut, tc.err)
			}
		})
	}
}
