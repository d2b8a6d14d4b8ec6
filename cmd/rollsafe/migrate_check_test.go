package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

const checkFixtures = "../../migrate/check/testdata"

func TestMigrateCheckExitCodes(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	goDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(goDir, "00001_init.go"), []byte("package migrations\n"), 0o644))
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "clean", args: []string{filepath.Join(checkFixtures, "clean")}, code: exitOK, stdout: "ok: 5 migrations checked on sqlite: 0 errors, 0 warnings, 0 notes\n"},
		{name: "finding", args: []string{"--compat=false", filepath.Join(checkFixtures, "down_missing")}, code: exitFailed,
			stdout: "FAIL 00003_add_phone.sql\n     error down_missing: 00003_add_phone.sql: has an empty down section"},
		{name: "info only", args: []string{"--compat=false", filepath.Join(checkFixtures, "irreversible")}, code: exitOK, stdout: "note 00003_drop_name.sql"},
		{name: "plurals", args: []string{"--compat=false", filepath.Join(checkFixtures, "down_missing")}, code: exitFailed, stdout: ": 1 error, "},
		{name: "no dir", args: nil, code: exitCantRun, stderr: "want one migrations directory"},
		{name: "missing dir", args: []string{filepath.Join(empty, "nope")}, code: exitCantRun,
			stderr: "rollsafe: migrate check: migrations directory " + filepath.Join(empty, "nope") + " does not exist\n"},
		{name: "not a dir", args: []string{filepath.Join(goDir, "00001_init.go")}, code: exitCantRun, stderr: "00001_init.go is not a directory"},
		{name: "no migrations", args: []string{empty}, code: exitCantRun,
			stderr: "rollsafe: migrate check: " + empty + " holds no migrations (no goose file named NUMBER_name.sql)\n"},
		{name: "two dirs", args: []string{empty, empty}, code: exitCantRun, stderr: "want one migrations directory, got 2 arguments"},
		{name: "go migrations", args: []string{goDir}, code: exitCantRun, stderr: "holds Go migrations (00001_init.go)"},
		{name: "bad format", args: []string{"--format", "xml", empty}, code: exitCantRun, stderr: `unknown format "xml"`},
		{name: "server without dsn", args: []string{"--dialect", "postgres", empty}, code: exitCantRun, stderr: "--dialect postgres needs --dsn or $ROLLSAFE_DSN"},
		{name: "unknown dialect", args: []string{"--dialect", "oracle", "--dsn", "oracle://x", empty}, code: exitCantRun, stderr: `--dialect: unknown dialect "oracle"`},
		{name: "unknown dialect without dsn", args: []string{"--dialect", "oracle", empty}, code: exitCantRun, stderr: `unknown dialect "oracle"`},
		{name: "dialect alias", args: []string{"--dialect", "postgresql", empty}, code: exitCantRun, stderr: "--dialect postgres needs --dsn"},
		{name: "unreachable", args: []string{"--dialect", "postgres", "--dsn", "postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=2",
			filepath.Join(checkFixtures, "clean")}, code: exitCantRun, stderr: "scratch database unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := rollsafe(t, append([]string{"migrate", "check"}, tt.args...)...)
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Contains(t, out, tt.stdout)
			assert.Contains(t, errOut, tt.stderr)
			assert.NotContains(t, out+errOut, "s3cret")
		})
	}
}

func TestMigrateCheckJSON(t *testing.T) {
	t.Parallel()
	code, out, _ := rollsafe(t, "migrate", "check", "--format", "json", "--compat=false", filepath.Join(checkFixtures, "up_failed"))
	assert.Equal(t, exitFailed, code)
	dec := json.NewDecoder(strings.NewReader(out))
	var rep struct {
		OK         *bool  `json:"ok"`
		Dialect    string `json:"dialect"`
		Migrations []struct {
			Version    int64  `json:"version"`
			Source     string `json:"source"`
			Reversible *bool  `json:"reversible"`
			Findings   []struct {
				Code, Severity, Message string
			} `json:"findings"`
		} `json:"migrations"`
	}
	require.NoError(t, dec.Decode(&rep))
	assert.False(t, dec.More(), "exactly one JSON object")
	require.NotNil(t, rep.OK)
	assert.False(t, *rep.OK)
	assert.Equal(t, "sqlite", rep.Dialect)
	require.Len(t, rep.Migrations, 4)
	third, fourth := rep.Migrations[2], rep.Migrations[3]
	assert.Equal(t, int64(3), third.Version)
	assert.Equal(t, "00003_typo.sql", third.Source)
	assert.False(t, *third.Reversible)
	require.Len(t, third.Findings, 1)
	assert.Equal(t, "up_failed", third.Findings[0].Code)
	assert.Equal(t, "error", third.Findings[0].Severity)
	assert.False(t, *fourth.Reversible, "the migration after a failed up is not reached")
	assert.Equal(t, "not_checked", fourth.Findings[0].Code)
	assert.Contains(t, fourth.Findings[0].Message, "00003_typo.sql")
}

func TestMigrateCheckGitHub(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(checkFixtures, "reapply_differs")
	code, out, _ := rollsafe(t, "migrate", "check", "--format", "github", "--compat=false", dir)
	assert.Equal(t, exitFailed, code)
	file := filepath.ToSlash(dir) + "/00003_index.sql"
	assert.Contains(t, out, "::error file="+file+",title=schema_not_restored::00003_index.sql: down did not restore the schema")
	assert.Contains(t, out, "::error file="+file+",title=reapply_differs::")

	code, out, _ = rollsafe(t, "migrate", "check", "--format", "github", "--compat=false", filepath.Join(checkFixtures, "irreversible"))
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "::notice file=")
	assert.Contains(t, out, "title=irreversible::")
}

func TestMigrateCheckNoData(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(checkFixtures, "rows_lost")
	code, _, _ := rollsafe(t, "migrate", "check", "--compat=false", dir)
	assert.Equal(t, exitFailed, code)
	code, out, _ := rollsafe(t, "migrate", "check", "--compat=false", "--no-data", dir)
	assert.Equal(t, exitOK, code, out)
}

func TestMigrateCheckServers(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			db := testdb.New(t, d)
			code, out, errOut := rollsafe(t, "migrate", "check", "--dialect", d.String(), "--dsn", db.DSN, "--format", "json",
				filepath.Join(checkFixtures, d.String(), "clean"))
			assert.Equal(t, exitOK, code, "%s\n%s", out, errOut)
			assert.Contains(t, out, `"dialect":"`+d.String()+`"`)
		})
	}
}

// The CI templates in examples/ci run commands that work: every
// "rollsafe migrate check" line they hold runs here on the same directory,
// with the PostgreSQL DSN swapped for the test server's.
func TestCITemplates(t *testing.T) {
	root := "../.."
	for _, name := range []string{"github-actions.yml", "gitlab-ci.yml"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(root, "examples", "ci", name))
			require.NoError(t, err)
			text := string(raw)
			assert.Contains(t, text, "DIR: examples/service/migrations")
			var ran int
			for _, line := range strings.Split(text, "\n") {
				_, cmd, ok := strings.Cut(line, "rollsafe migrate check ")
				if !ok {
					continue
				}
				cmd, _, _ = strings.Cut(cmd, ">")
				cmd = strings.ReplaceAll(cmd, `"$DIR"`, filepath.Join(root, "examples", "service", "migrations"))
				args := append([]string{"migrate", "check"}, strings.Fields(cmd)...)
				for i, a := range args {
					if a == `"$PG_DSN"` {
						args[i] = testdb.New(t, dialect.Postgres).DSN
					}
				}
				code, out, errOut := rollsafe(t, args...)
				assert.Equal(t, exitOK, code, "%s\n%s\n%s", line, out, errOut)
				ran++
			}
			assert.GreaterOrEqual(t, ran, 2, "commands found in %s", name)
		})
	}
}

// An edited shipped migration is a FAIL in the text output too, not only in
// the summary, the JSON and the annotations.
func TestMigrateCheckTextShowsSumFindings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "00001_users.sql")
	body := "-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n"
	require.NoError(t, os.WriteFile(file, []byte(body), 0o644))
	code, _, errOut := rollsafe(t, "migrate", "hash", dir)
	require.Equal(t, exitOK, code, errOut)
	require.NoError(t, os.WriteFile(file, []byte(body+"-- edited\n"), 0o644))

	code, out, errOut := rollsafe(t, "migrate", "check", dir)
	assert.Equal(t, exitFailed, code, errOut)
	assert.Contains(t, out, "FAIL 00001_users.sql\n     error sum_changed: 00001_users.sql was shipped")
	assert.NotContains(t, out, "ok   00001_users.sql")
	assert.Contains(t, out, "FAILED: 1 migration checked on sqlite: 1 error, 0 warnings, 0 notes\n")
}

// A check that cannot run answers --format json with one JSON object on
// stdout naming the error, for every reason it cannot run.
func TestMigrateCheckJSONWhenItCannotRun(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	clean := filepath.Join(checkFixtures, "clean")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nonexistent dir", []string{filepath.Join(empty, "nope")}, "does not exist"},
		{"empty dir", []string{empty}, empty + " holds no migrations"},
		{"bad dialect", []string{"--dialect", "oracle", clean}, `--dialect: unknown dialect "oracle" (want sqlite, postgres or mysql)`},
		{"missing dsn", []string{"--dialect", "mysql", clean}, "--dialect mysql needs --dsn"},
		{"unreachable scratch database", []string{"--dialect", "postgres", "--dsn", "postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=2", clean},
			"scratch database unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := rollsafe(t, append([]string{"migrate", "check", "--format", "json"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code)
			dec := json.NewDecoder(strings.NewReader(out))
			var got struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exitCode"`
				Meaning  string `json:"meaning"`
			}
			require.NoError(t, dec.Decode(&got), "stdout %q, stderr %q", out, errOut)
			assert.False(t, dec.More(), "exactly one JSON object")
			assert.Contains(t, got.Error, tt.want)
			assert.Equal(t, exitCantRun, got.ExitCode)
			assert.NotEmpty(t, got.Meaning)
			assert.NotContains(t, out+errOut, "s3cret")
		})
	}
}

// The DSN may come from $ROLLSAFE_DSN, so that a password stays out of the
// process list; --dsn wins over it.
func TestMigrateCheckDSNFromEnvironment(t *testing.T) {
	t.Parallel()
	clean := filepath.Join(checkFixtures, "clean")
	unreachable := "postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=2"
	run := func(env map[string]string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runEnv(context.Background(), append([]string{"migrate", "check"}, args...), strings.NewReader(""), &out, &errOut,
			func(k string) string { return env[k] })
		return code, out.String(), errOut.String()
	}
	code, _, errOut := run(map[string]string{envDSN: unreachable}, "--dialect", "postgres", clean)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "scratch database unreachable", "the DSN came from the environment")
	assert.NotContains(t, errOut, "s3cret")

	db := testdb.New(t, dialect.Postgres)
	code, out, errOut := run(map[string]string{envDSN: db.DSN}, "--dialect", "postgres", "--format", "json",
		filepath.Join(checkFixtures, "postgres", "clean"))
	assert.Equal(t, exitOK, code, "%s\n%s", out, errOut)
	assert.Contains(t, out, `"dialect":"postgres"`)

	code, out, errOut = run(map[string]string{envDSN: unreachable}, "--dialect", "postgres", "--dsn", db.DSN, "--format", "json",
		filepath.Join(checkFixtures, "postgres", "clean"))
	assert.Equal(t, exitOK, code, "--dsn wins: %s\n%s", out, errOut)
}
