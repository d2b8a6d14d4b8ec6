package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMigrateCreate(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := rollsafe(t, "migrate", "create", "create_users", dir)
	require.Equal(t, exitOK, code, errOut)
	first := filepath.Join(dir, "00001_create_users.sql")
	assert.Equal(t, "created "+first+"\n", out)
	body, err := os.ReadFile(first)
	require.NoError(t, err)
	assert.Contains(t, string(body), "\n-- +goose Up\n")
	assert.Contains(t, string(body), "\n-- +goose Down\n")

	// The next number after the highest, whatever the gaps.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00007_other.sql"), body, 0o644))
	code, out, errOut = rollsafe(t, "migrate", "create", "add_email", dir)
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "created "+filepath.Join(dir, "00008_add_email.sql")+"\n", out)

	// The files are migrations the runner accepts (empty ones).
	db := filepath.Join(t.TempDir(), "app.db")
	code, out, errOut = rollsafe(t, "migrate", "up", "--dialect", "sqlite", "--dsn", db, dir)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "database at version 8")

	// A timestamp, in UTC.
	var stdout, stderr strings.Builder
	e := &env{ctx: t.Context(), stdout: &stdout, stderr: &stderr}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	require.Equal(t, exitOK, runMigrateCreate(e, []string{"stamped", dir}, true, func() time.Time { return at }), stderr.String())
	assert.Equal(t, "created "+filepath.Join(dir, "20260304040607_stamped.sql")+"\n", stdout.String())
	// Same second again: the version exists.
	stderr.Reset()
	assert.Equal(t, exitCantRun, runMigrateCreate(e, []string{"stamped_again", dir}, true, func() time.Time { return at }))
	assert.Contains(t, stderr.String(), "version 20260304040607 exists already (20260304040607_stamped.sql)")

	code, _, errOut = rollsafe(t, "migrate", "create", "--timestamp", "now", dir)
	require.Equal(t, exitOK, code, errOut)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var stamped int
	for _, en := range entries {
		if regexp.MustCompile(`^\d{14}_now\.sql$`).MatchString(en.Name()) {
			stamped++
		}
	}
	assert.Equal(t, 1, stamped)
}

func TestMigrateCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00001_x.sql"), []byte("-- +goose Up\n"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "want NAME and at most one directory, got 0 arguments"},
		{"bad name", []string{"add users", dir}, `NAME "add users": use letters, digits and underscores`},
		{"path in name", []string{"../evil", dir}, `NAME "../evil"`},
		{"leading underscore", []string{"_x", dir}, `NAME "_x"`},
		{"missing directory", []string{"x", filepath.Join(dir, "nope")}, "no migration directory " + filepath.Join(dir, "nope")},
		{"too many", []string{"x", dir, "y"}, "got 3 arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := rollsafe(t, append([]string{"migrate", "create"}, tt.args...)...)
			assert.Equal(t, exitCantRun, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tt.want)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing was created")

	// An existing file is never overwritten.
	var stdout, stderr strings.Builder
	e := &env{ctx: t.Context(), stdout: &stdout, stderr: &stderr}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "20260101000000_x.txt"), nil, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "20260101000000_dir.sql"), 0o755))
	assert.Equal(t, exitCantRun, runMigrateCreate(e, []string{"dir", dir}, true, func() time.Time { return at }))
	assert.Contains(t, stderr.String(), "20260101000000_dir.sql exists already")
}
