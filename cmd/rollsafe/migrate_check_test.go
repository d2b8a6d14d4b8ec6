package main

import (
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
		{name: "clean", args: []string{filepath.Join(checkFixtures, "clean")}, code: exitOK, stdout: "ok: 5 migrations checked on sqlite"},
		{name: "finding", args: []string{"--compat=false", filepath.Join(checkFixtures, "down_missing")}, code: exitFailed,
			stdout: "FAIL 00003_add_phone.sql\n     error down_missing: 00003_add_phone.sql: has an empty down section"},
		{name: "info only", args: []string{"--compat=false", filepath.Join(checkFixtures, "irreversible")}, code: exitOK, stdout: "note 00003_drop_name.sql"},
		{name: "no dir", args: nil, code: exitCantRun, stderr: "want one migrations directory"},
		{name: "missing dir", args: []string{filepath.Join(empty, "nope")}, code: exitCantRun, stderr: "is not a directory"},
		{name: "no migrations", args: []string{empty}, code: exitCantRun, stderr: "no migrations"},
		{name: "go migrations", args: []string{goDir}, code: exitCantRun, stderr: "holds Go migrations (00001_init.go)"},
		{name: "bad format", args: []string{"--format", "xml", empty}, code: exitCantRun, stderr: `unknown format "xml"`},
		{name: "server without dsn", args: []string{"--dialect", "postgres", empty}, code: exitCantRun, stderr: "--dialect postgres needs --dsn"},
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
