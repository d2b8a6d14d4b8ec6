package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMigrateHash(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"00001_users.sql":  "-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n",
		"00002_orders.sql": "-- +goose Up\nCREATE TABLE orders (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE orders;\n",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}

	code, out, errOut := rollsafe(t, "migrate", "hash", dir)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "wrote "+filepath.Join(dir, "rollsafe.sum")+" (2 migrations)\n", out)
	sums, err := os.ReadFile(filepath.Join(dir, "rollsafe.sum"))
	require.NoError(t, err)
	assert.Contains(t, string(sums), "\n1 00001_users.sql sha256:")

	code, out, errOut = rollsafe(t, "migrate", "check", "--format", "json", dir)
	require.Equal(t, exitOK, code, errOut+out)

	// A shipped migration is edited, another removed: check fails and says which.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00001_users.sql"), []byte(files["00001_users.sql"]+"-- edited\n"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "00002_orders.sql")))
	code, out, errOut = rollsafe(t, "migrate", "check", "--format", "json", dir)
	require.Equal(t, exitFailed, code, errOut)
	var rep struct {
		OK         bool
		Findings   []struct{ Code, Severity, Message string }
		Migrations []struct {
			Source   string
			Findings []struct{ Code, Severity, Message string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.False(t, rep.OK)
	var codes []string
	for _, f := range rep.Findings {
		codes = append(codes, f.Code)
	}
	for _, m := range rep.Migrations {
		for _, f := range m.Findings {
			codes = append(codes, f.Code)
		}
	}
	assert.ElementsMatch(t, []string{"sum_changed", "sum_missing"}, codes)

	// Hashing again accepts the current files.
	code, _, errOut = rollsafe(t, "migrate", "hash", dir)
	require.Equal(t, exitOK, code, errOut)
	code, _, errOut = rollsafe(t, "migrate", "check", dir)
	assert.Equal(t, exitOK, code, errOut)
}

func TestMigrateHashErrors(t *testing.T) {
	code, _, errOut := rollsafe(t, "migrate", "hash")
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "want one migrations directory")

	code, _, errOut = rollsafe(t, "migrate", "hash", filepath.Join(t.TempDir(), "nope"))
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "nope")

	empty := t.TempDir()
	code, _, errOut = rollsafe(t, "migrate", "hash", empty)
	assert.Equal(t, exitCantRun, code)
	assert.Contains(t, errOut, "holds no migration files")
}

func TestMigrateHashSaysOneMigration(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00001_users.sql"),
		[]byte("-- +goose Up\nCREATE TABLE users (id integer PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n"), 0o644))
	code, out, errOut := rollsafe(t, "migrate", "hash", dir)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "wrote "+filepath.Join(dir, "rollsafe.sum")+" (1 migration)\n", out)
}
