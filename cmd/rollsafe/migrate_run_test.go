package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/testdb"
)

// runnerFixtures holds three migrations; the third is marked irreversible.
const runnerFixtures = "../../migrate/testdata/runner"

func TestMigrateRunnerCommands(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		conn := []string{"--dialect", db.Dialect.String(), "--dsn", db.DSN}
		args := func(cmd string, extra ...string) []string {
			return append(append(append([]string{"migrate", cmd}, conn...), extra...), runnerFixtures)
		}

		code, out, errOut := rollsafe(t, args("up", "--to", "2")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Regexp(t, `(?m)^up   00001_create_users.sql \(.+\)\nup   00002_add_users_name.sql \(.+\)\ndatabase at version 2\n$`, out)

		code, out, errOut = rollsafe(t, args("status")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Regexp(t, `(?m)^VERSION\s+STATE\s+APPLIED AT\s+SOURCE$`, out)
		assert.Regexp(t, `(?m)^1\s+applied\s+\d{4}-\d\d-\d\dT\S+\s+00001_create_users.sql$`, out)
		assert.Regexp(t, `(?m)^3\s+pending\s+-\s+00003_purge_unverified.sql \(irreversible\)$`, out)
		assert.Contains(t, out, "2 applied, 1 pending\n")

		code, out, errOut = rollsafe(t, args("up")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "up   00003_purge_unverified.sql")

		code, out, _ = rollsafe(t, args("up")...)
		assert.Equal(t, exitOK, code)
		assert.Equal(t, "nothing to do; database at version 3\n", out)

		code, out, errOut = rollsafe(t, args("status", "--format", "json")...)
		require.Equal(t, exitOK, code, errOut)
		var st statusJSON
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		assert.Equal(t, db.Dialect.String(), st.Dialect)
		assert.Equal(t, int64(3), st.Version)
		assert.Equal(t, 0, st.Pending)
		require.Len(t, st.Migrations, 3)
		assert.NotNil(t, st.Migrations[2].AppliedAt)
		assert.Equal(t, "deletes unverified sign-ups; a down cannot bring them back", st.Migrations[2].Irreversible)

		// The irreversible migration stops a rollback: exit 1, nothing done.
		code, out, errOut = rollsafe(t, args("down", "--to", "0")...)
		assert.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "stopped at 00003_purge_unverified.sql")
		assert.Contains(t, out, "database at version 3")

		code, out, errOut = rollsafe(t, args("down", "--force", "--format", "json")...)
		require.Equal(t, exitOK, code, errOut)
		var rr runResult
		require.NoError(t, json.Unmarshal([]byte(out), &rr))
		require.Len(t, rr.Applied, 1)
		assert.Equal(t, "00003_purge_unverified.sql", rr.Applied[0].Source)
		require.NotNil(t, rr.Version)
		assert.Equal(t, int64(2), *rr.Version)

		code, out, errOut = rollsafe(t, args("down", "--to", "0")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "down 00002_add_users_name.sql")
		assert.Contains(t, out, "down 00001_create_users.sql")
		assert.Contains(t, out, "database at version 0")
	})
}

func TestMigrateRunnerFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00001_ok.sql"),
		[]byte("-- +goose Up\nCREATE TABLE ok (id INTEGER);\n-- +goose Down\nDROP TABLE ok;\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00002_broken.sql"),
		[]byte("-- +goose Up\nCREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n-- +goose Down\nDROP TABLE half;\n"), 0o600))
	dbPath := filepath.Join(t.TempDir(), "app.db")

	code, out, errOut := rollsafe(t, "migrate", "up", "--dialect", "sqlite", "--dsn", dbPath, "--format", "json", dir)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "migrate: up 00002_broken.sql failed")
	assert.Contains(t, errOut, "its transaction was rolled back; applied before it: 00001_ok.sql")
	var rr runResult
	require.NoError(t, json.Unmarshal([]byte(out), &rr))
	require.Len(t, rr.Applied, 1)
	require.NotNil(t, rr.Failed)
	assert.Equal(t, "00002_broken.sql", rr.Failed.Source)
	assert.Contains(t, rr.Error, "no such table: nowhere")
	require.NotNil(t, rr.Version)
	assert.Equal(t, int64(1), *rr.Version)
}

func TestMigrateRunnerCannotRun(t *testing.T) {
	sqlite := filepath.Join(t.TempDir(), "app.db")
	missing := filepath.Join(t.TempDir(), "missing.db")
	badAnnotation := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(badAnnotation, "00001_x.sql"),
		[]byte("-- rollsafe:irreversible\n-- +goose Up\nSELECT 1;\n"), 0o600))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no directory", []string{"up", "--dialect", "sqlite", "--dsn", sqlite}, "want exactly one migration directory"},
		{"no dialect", []string{"up", "--dsn", sqlite, runnerFixtures}, "--dialect and --dsn (or $ROLLSAFE_DSN) are required"},
		{"unknown dialect", []string{"status", "--dialect", "oracle", "--dsn", sqlite, runnerFixtures}, `unknown dialect "oracle"`},
		{"missing directory", []string{"up", "--dialect", "sqlite", "--dsn", sqlite, "no/such/dir"}, "no migration directory no/such/dir"},
		{"bad annotation", []string{"up", "--dialect", "sqlite", "--dsn", sqlite, badAnnotation}, "00001_x.sql"},
		{"bad format", []string{"status", "--format", "xml", "--dialect", "sqlite", "--dsn", sqlite, runnerFixtures}, `unknown format "xml"`},
		{"status of a missing database", []string{"status", "--dialect", "sqlite", "--dsn", missing, runnerFixtures}, "no SQLite database at " + missing},
		{"down of a missing database", []string{"down", "--dialect", "sqlite", "--dsn", "file:" + missing + "?_pragma=busy_timeout(100)", runnerFixtures}, "no SQLite database at " + missing},
		{"bad mysql dsn", []string{"up", "--dialect", "mysql", "--dsn", "not a dsn", runnerFixtures}, "--dsn"},
		{"postgres unreachable", []string{"up", "--dialect", "postgres", "--dsn",
			"postgres://app:s3cr3t-pw@127.0.0.1:1/app?sslmode=disable&connect_timeout=5", runnerFixtures}, "does not answer"},
		{"mysql unreachable", []string{"down", "--dialect", "mysql", "--dsn",
			"app:s3cr3t-pw@tcp(127.0.0.1:1)/app?timeout=5s", runnerFixtures}, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"migrate"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Contains(t, errOut, tt.want)
			assert.NotContains(t, errOut+out, "s3cr3t-pw", "a password leaked")
		})
	}
	_, err := os.Stat(missing)
	assert.ErrorIs(t, err, os.ErrNotExist, "status or down created the database")
}

func TestSQLitePath(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"/var/lib/app.db", "/var/lib/app.db"},
		{"app.db?_pragma=busy_timeout(5000)", "app.db"},
		{"file:/tmp/a.db?mode=rwc", "/tmp/a.db"},
		{":memory:", ""},
		{"file::memory:?cache=shared", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sqlitePath(tt.dsn), tt.dsn)
	}
}

func TestVersionFlag(t *testing.T) {
	up := &versionFlag{min: 1}
	assert.Equal(t, "", up.String())
	require.NoError(t, up.Set("12"))
	assert.Equal(t, "12", up.String())
	assert.ErrorContains(t, up.Set("0"), `"0" is not a version (a whole number from 1)`)
	assert.ErrorContains(t, up.Set("v3"), `"v3" is not a version`)
	down := &versionFlag{min: 0}
	require.NoError(t, down.Set("0"))
	assert.True(t, down.set)
}

// A command that exits 2 prints nothing on stdout in text (no "database at
// version N" that reads like success), and one JSON object in JSON.
func TestMigrateRunnerCannotRunOutput(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "app.db")
	conn := []string{"--dialect", "sqlite", "--dsn", dbPath}
	code, _, errOut := rollsafe(t, append(append([]string{"migrate", "up", "--to", "1"}, conn...), runnerFixtures)...)
	require.Equal(t, exitOK, code, errOut)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"up to a version no migration has", append(append([]string{"up", "--to", "99"}, conn...), runnerFixtures),
			"migrate: up to 99: no migration has that version: 99 (the migrations run from 1 to 3)"},
		{"down to a version no migration has", append(append([]string{"down", "--to", "42"}, conn...), runnerFixtures),
			"no migration has that version: 42"},
		{"up from a missing directory", append(append([]string{"up"}, conn...), "no/such/dir"), "no migration directory no/such/dir"},
		{"status from a missing directory", append(append([]string{"status"}, conn...), "no/such/dir"), "no migration directory no/such/dir"},
		{"status of an empty directory", append(append([]string{"status"}, conn...), t.TempDir()), "no migrations found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"migrate"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Empty(t, out, "nothing on stdout when the command could not run")
			assert.Contains(t, errOut, tt.want)
			assert.NotContains(t, errOut, "migrate: migrate:")
			assert.LessOrEqual(t, strings.Count(errOut, "no migrations found"), 1, "said once: %s", errOut)

			code, out, _ = rollsafe(t, append([]string{"migrate"}, append(tt.args[:1:1], append([]string{"--format", "json"}, tt.args[1:]...)...)...)...)
			assert.Equal(t, exitCantRun, code)
			dec := json.NewDecoder(strings.NewReader(out))
			var obj map[string]any
			require.NoError(t, dec.Decode(&obj), "stdout: %q", out)
			assert.False(t, dec.More(), "one JSON object, got %q", out)
			assert.Contains(t, obj["error"], tt.want)
			assert.Equal(t, float64(exitCantRun), obj["exitCode"])
		})
	}
	// Nothing was applied by the refused --to 99.
	code, out, _ := rollsafe(t, append(append([]string{"migrate", "status"}, conn...), runnerFixtures)...)
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "1 applied, 2 pending")
}

// --dsn falls back to $ROLLSAFE_DSN, so that a password stays out of ps.
func TestMigrateRunnerDSNFromEnvironment(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "app.db")
	env := map[string]string{"ROLLSAFE_DSN": dbPath}
	var out, errOut strings.Builder
	code := runEnv(t.Context(), []string{"migrate", "up", "--dialect", "sqlite", runnerFixtures},
		strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	require.Equal(t, exitOK, code, errOut.String())
	assert.Contains(t, out.String(), "database at version 3")
	_, err := os.Stat(dbPath)
	require.NoError(t, err, "the database named by $ROLLSAFE_DSN was migrated")

	code, helpOut, _ := rollsafe(t, "help", "migrate", "up")
	require.Equal(t, exitOK, code)
	assert.Contains(t, helpOut, "$ROLLSAFE_DSN")
	assert.Contains(t, helpOut, "user:pass@tcp(127.0.0.1:3306)/app?parseTime=true")
}

// A failed migration whose statements stay applied is visible in status (with
// the statements that ran), blocks up until repaired, and repair gets it
// moving.
func TestMigrateRepairAfterFailure(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		dir := t.TempDir()
		write := func(name, body string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
		}
		write("00001_base.sql", "-- +goose Up\nCREATE TABLE base (id INTEGER);\n-- +goose Down\nDROP TABLE base;\n")
		write("00002_broken.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n-- +goose Down\nDROP TABLE half;\n")
		conn := []string{"--dialect", db.Dialect.String(), "--dsn", db.DSN}
		cmd := func(name string, extra ...string) []string {
			return append(append(append([]string{"migrate", name}, conn...), extra...), dir)
		}

		code, _, errOut := rollsafe(t, cmd("up")...)
		require.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "it is recorded as failed and will not run again until repaired")
		assert.Contains(t, errOut, "`rollsafe migrate repair --version 2 --as applied|pending "+dir+"`")

		code, out, errOut := rollsafe(t, cmd("status")...)
		require.Equal(t, exitFailed, code, errOut)
		assert.Regexp(t, `(?m)^2\s+failed\s+-\s+00002_broken.sql$`, out)
		assert.Contains(t, out, "00002_broken.sql: its up failed: ")
		assert.Contains(t, out, "2 statements had started (the last may not have completed):\n  [1] CREATE TABLE half (id INTEGER);\n  [2] INSERT INTO nowhere VALUES (1);\n")
		assert.Contains(t, out, "then: rollsafe migrate repair --version 2 --as applied|pending "+dir+"\n")
		assert.Contains(t, out, "1 applied, 0 pending, 1 to repair\n")

		code, out, _ = rollsafe(t, cmd("status", "--format", "json")...)
		require.Equal(t, exitFailed, code)
		var st statusJSON
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		assert.Equal(t, 1, st.NeedsRepair)
		require.NotNil(t, st.Migrations[1].Attempt)
		assert.Equal(t, "failed", st.Migrations[1].State)
		assert.Len(t, st.Migrations[1].Attempt.Statements, 2)

		// up does not trip over the table the failed run left.
		code, out, errOut = rollsafe(t, cmd("up", "--format", "json")...)
		require.Equal(t, exitFailed, code)
		assert.Contains(t, errOut, "00002_broken.sql migration needs repair")
		assert.NotContains(t, errOut, "already exists")
		var rr runResult
		require.NoError(t, json.Unmarshal([]byte(out), &rr))
		require.NotNil(t, rr.NeedsRepair)
		assert.Equal(t, int64(2), *rr.NeedsRepair)

		for _, bad := range [][]string{
			cmd("repair", "--as", "pending"),
			cmd("repair", "--version", "2", "--as", "done"),
			cmd("repair", "--version", "1", "--as", "pending"),
			cmd("repair", "--version", "9", "--as", "pending"),
		} {
			code, out, errOut = rollsafe(t, bad...)
			assert.Equal(t, exitCantRun, code, bad)
			assert.Empty(t, out)
			assert.NotEmpty(t, errOut)
		}

		// The operator drops what ran and fixes the file.
		_, err := db.ExecContext(t.Context(), "DROP TABLE half")
		require.NoError(t, err)
		write("00002_broken.sql", "-- +goose Up\nCREATE TABLE half (id INTEGER);\n-- +goose Down\nDROP TABLE half;\n")
		code, out, errOut = rollsafe(t, cmd("repair", "--version", "2", "--as", "pending")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Equal(t, "repaired 00002_broken.sql: marked pending\n", out)
		code, out, errOut = rollsafe(t, cmd("up")...)
		require.Equal(t, exitOK, code, errOut)
		assert.Contains(t, out, "database at version 2")
	})
}

// A down that failed half-way leaves its version applied in goose's table:
// status says so in its version, beside the repair to make.
func TestMigrateStatusAfterAFailedDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		dir := t.TempDir()
		write := func(name, body string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
		}
		write("00001_base.sql", "-- +goose Up\nCREATE TABLE base (id INTEGER);\n-- +goose Down\nDROP TABLE base;\n")
		write("00002_two.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE two (id INTEGER);\n-- +goose Down\nDROP TABLE two;\nDROP TABLE nowhere;\n")
		conn := []string{"--dialect", db.Dialect.String(), "--dsn", db.DSN}
		cmd := func(name string, extra ...string) []string {
			return append(append(append([]string{"migrate", name}, conn...), extra...), dir)
		}
		code, _, errOut := rollsafe(t, cmd("up")...)
		require.Equal(t, exitOK, code, errOut)
		code, _, _ = rollsafe(t, cmd("down")...)
		require.Equal(t, exitFailed, code)

		code, out, _ := rollsafe(t, cmd("status", "--format", "json")...)
		require.Equal(t, exitFailed, code)
		var st statusJSON
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		assert.Equal(t, int64(2), st.Version, "the failed down's version is still applied")
		assert.Equal(t, 1, st.NeedsRepair)
		require.NotNil(t, st.Migrations[1].Attempt)
		assert.Equal(t, "down", st.Migrations[1].Attempt.Direction)
	})
}

// A database migrated from other files (same versions) is reported: a warning,
// or exit 1 with --strict.
func TestMigrateChangedFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "00001_base.sql")
	require.NoError(t, os.WriteFile(file, []byte("-- +goose Up\nCREATE TABLE base (id INTEGER);\n-- +goose Down\nDROP TABLE base;\n"), 0o600))
	conn := []string{"--dialect", "sqlite", "--dsn", filepath.Join(t.TempDir(), "app.db")}
	cmd := func(name string, extra ...string) []string {
		return append(append(append([]string{"migrate", name}, conn...), extra...), dir)
	}
	code, _, errOut := rollsafe(t, cmd("up")...)
	require.Equal(t, exitOK, code, errOut)
	require.NoError(t, os.WriteFile(file, []byte("-- +goose Up\nCREATE TABLE base (id INTEGER, other TEXT);\n-- +goose Down\nDROP TABLE base;\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00002_next.sql"), []byte("-- +goose Up\nCREATE TABLE next (id INTEGER);\n-- +goose Down\nDROP TABLE next;\n"), 0o600))

	code, out, errOut := rollsafe(t, cmd("status")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Regexp(t, `(?m)^1\s+applied\s+\S+\s+00001_base.sql \(changed since applied\)$`, out)
	assert.Regexp(t, `version 1 changed since it was applied: applied 00001_base.sql \(sha256:[0-9a-f]{64}\), the directory has 00001_base.sql \(sha256:[0-9a-f]{64}\)`, out)
	assert.Contains(t, out, "1 applied, 1 pending, 1 changed\n")

	code, _, _ = rollsafe(t, cmd("status", "--strict")...)
	assert.Equal(t, exitFailed, code)

	code, out, errOut = rollsafe(t, cmd("up", "--strict")...)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "migrate: applied migration changed on disk: 00001_base.sql was applied with sha256:")
	assert.Contains(t, out, "database at version 1")

	code, out, errOut = rollsafe(t, cmd("up", "--format", "json")...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "rollsafe: warning: version 1 changed since it was applied")
	var rr runResult
	require.NoError(t, json.Unmarshal([]byte(out), &rr))
	require.Len(t, rr.Changed, 1)
	assert.Equal(t, int64(1), rr.Changed[0].Version)
	assert.NotEqual(t, rr.Changed[0].Sum, rr.Changed[0].AppliedSum)
	require.Len(t, rr.Applied, 1)
}
