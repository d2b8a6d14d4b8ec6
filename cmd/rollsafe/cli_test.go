package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rollsafe runs the CLI in-process and returns its exit code, stdout and stderr.
func rollsafe(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := rollsafe(t, "--version")
	assert.Equal(t, exitOK, code)
	assert.Regexp(t, `^rollsafe \S+\n$`, out)
}

func TestHelp(t *testing.T) {
	code, out, _ := rollsafe(t, "help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "usage: rollsafe COMMAND")
	assert.Contains(t, out, "exit codes")

	code, out, _ = rollsafe(t, "help", "help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "rollsafe help [COMMAND")

	code, _, errOut := rollsafe(t, "help", "nosuch")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, `unknown command "nosuch"`)

	for _, cmd := range commands() {
		code, out, _ = rollsafe(t, "help", cmd.name)
		assert.Equal(t, exitOK, code, cmd.name)
		assert.Contains(t, out, "usage: rollsafe "+cmd.name, cmd.name)
		for _, sub := range cmd.subs {
			code, out, _ = rollsafe(t, "help", cmd.name, sub.name)
			assert.Equal(t, exitOK, code, cmd.name+" "+sub.name)
			assert.Contains(t, out, "usage: rollsafe "+cmd.name+" "+sub.name, cmd.name+" "+sub.name)
		}
	}

	code, _, errOut = rollsafe(t, "help", "migrate", "nosuch")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, `unknown command "migrate nosuch"`)
	code, out, errOut = rollsafe(t, "help", "help", "extra")
	assert.Equal(t, exitCantRun, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `unknown command "help extra"`)
}

func TestUsageErrorsExitTwo(t *testing.T) {
	code, _, errOut := rollsafe(t)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "usage")

	code, _, errOut = rollsafe(t, "frobnicate")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, `unknown command "rollsafe frobnicate"`)
}

// A command table with a group and a leaf, to exercise dispatch and flag
// errors independently of the real commands.
func TestDispatch(t *testing.T) {
	var got []string
	var level string
	cmds := []command{{
		name: "grp", summary: "a group",
		subs: []command{{
			name: "leaf", summary: "a leaf", usage: "rollsafe grp leaf [--level N] ARG",
			flags: func(fs *flag.FlagSet) func(*env, []string) int {
				fs.StringVar(&level, "level", "low", "how much")
				return func(e *env, args []string) int {
					got = args
					return exitFailed
				}
			},
		}},
	}}
	var out, errOut bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &out, stderr: &errOut}

	assert.Equal(t, exitFailed, dispatch(e, cmds, []string{"grp", "leaf", "--level", "high", "x"}, "rollsafe"))
	assert.Equal(t, []string{"x"}, got)
	assert.Equal(t, "high", level)

	assert.Equal(t, exitCantRun, dispatch(e, cmds, []string{"grp", "leaf", "--bogus"}, "rollsafe"))
	assert.Contains(t, errOut.String(), "flag provided but not defined: -bogus")
	assert.Contains(t, errOut.String(), "usage: rollsafe grp leaf")

	out.Reset()
	assert.Equal(t, exitOK, dispatch(e, cmds, []string{"grp", "leaf", "-h"}, "rollsafe"))
	assert.Contains(t, out.String(), "-level")

	errOut.Reset()
	assert.Equal(t, exitCantRun, dispatch(e, cmds, []string{"grp"}, "rollsafe"))
	assert.Contains(t, errOut.String(), "missing command")
	assert.Contains(t, errOut.String(), "grp leaf")
}

func TestFormatFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	f := newFormatFlag(fs, "text", "json")
	assert.Equal(t, "text", f.String())
	assert.NoError(t, fs.Parse([]string{"--format", "json"}))
	assert.Equal(t, "json", f.String())
	err := fs.Parse([]string{"--format", "xml"})
	assert.ErrorContains(t, err, `unknown format "xml" (want text|json)`)
}

func TestErrorsSayTheProgramNameOnce(t *testing.T) {
	code, _, errOut := rollsafe(t, "version")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "rollsafe: version: missing command\n")
	assert.NotContains(t, errOut, "rollsafe: rollsafe")

	code, _, errOut = rollsafe(t, "flags", "validate", "--nosuch")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "rollsafe: flags validate: flag provided but not defined: -nosuch\n")
	assert.NotContains(t, errOut, "rollsafe: rollsafe")
}

func TestJSONErrorWhenACommandCannotRun(t *testing.T) {
	// A usage error is answered in JSON too, with the exit code's meaning.
	code, out, errOut := rollsafe(t, "migrate", "check", "--format", "json", "--nosuch", "dir")
	assert.Equal(t, exitCantRun, code)
	var got jsonError
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, exitCantRun, got.ExitCode)
	assert.Contains(t, got.Error, "migrate check: flag provided but not defined: -nosuch")
	assert.Contains(t, got.Meaning, "could not run")
	assert.Contains(t, errOut, "flag provided but not defined")
	assert.Equal(t, 1, strings.Count(out, "\n"), "exactly one JSON object")

	// Without --format json nothing is printed on stdout.
	code, out, _ = rollsafe(t, "migrate", "check", "--nosuch", "dir")
	assert.Equal(t, exitCantRun, code)
	assert.Empty(t, out)
}

func TestWantsJSON(t *testing.T) {
	assert.True(t, wantsJSON([]string{"a", "--format", "json"}))
	assert.True(t, wantsJSON([]string{"--format=json", "x"}))
	assert.True(t, wantsJSON([]string{"-format", "json"}))
	assert.False(t, wantsJSON([]string{"--format", "text"}))
	assert.False(t, wantsJSON([]string{"--format"}))
	assert.False(t, wantsJSON([]string{"--", "--format=json"}))
}

func TestPlural(t *testing.T) {
	assert.Equal(t, "1 error", plural(1, "error", "errors"))
	assert.Equal(t, "0 errors", plural(0, "error", "errors"))
	assert.Equal(t, "3 problems", plural(3, "problem", "problems"))
}

func TestDSNFromEnvironment(t *testing.T) {
	e := &env{getenv: func(k string) string {
		if k == envDSN {
			return "postgres://u:secret@h/db"
		}
		return ""
	}}
	assert.Equal(t, "postgres://u:secret@h/db", e.dsn(""))
	assert.Equal(t, "flag-wins", e.dsn("flag-wins"))
	assert.Empty(t, (&env{}).dsn(""))
}
