package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// contractFixture renames a column in 2 (unacknowledged) and in 3
// (acknowledged with rollsafe:contract).
const contractFixture = "../../migrate/check/testdata/compat/contract"

func TestMigrateCheckCompat(t *testing.T) {
	type finding struct{ Code, Severity string }
	codes := func(t *testing.T, out string) map[int64][]finding {
		var rep struct {
			Migrations []struct {
				Version  int64
				Findings []finding
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		got := map[int64][]finding{}
		for _, m := range rep.Migrations {
			got[m.Version] = append(got[m.Version], m.Findings...)
		}
		return got
	}
	tests := []struct {
		name  string
		flags []string
		exit  int
		want  map[int64][]finding
	}{
		{"default", nil, exitFailed, map[int64][]finding{1: nil,
			2: {{"column_renamed", "error"}}, 3: {{"column_renamed", "info"}}}},
		{"since", []string{"--since", "2"}, exitOK, map[int64][]finding{1: nil,
			2: {{"column_renamed", "info"}}, 3: {{"column_renamed", "info"}}}},
		{"off", []string{"--compat=false"}, exitOK, map[int64][]finding{1: nil, 2: nil, 3: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"migrate", "check", "--format", "json"}, tt.flags...), contractFixture)
			code, out, errOut := rollsafe(t, args...)
			require.Equal(t, tt.exit, code, errOut)
			got := codes(t, out)
			for v, fs := range got {
				if len(fs) == 0 {
					got[v] = nil
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}

	code, out, _ := rollsafe(t, "migrate", "check", "--format", "github", contractFixture)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "::error file=../../migrate/check/testdata/compat/contract/00002_rename_name.sql,title=column_renamed::")
	assert.Contains(t, out, "::notice file=../../migrate/check/testdata/compat/contract/00003_rename_email.sql,title=column_renamed::")
}

// --timeouts asks every migration that locks an existing table to set a
// lock timeout first; it never applies to SQLite.
func TestMigrateCheckTimeouts(t *testing.T) {
	db := testdb.New(t, dialect.Postgres)
	code, out, errOut := rollsafe(t, "migrate", "check", "--format", "json", "--dialect", "postgres", "--dsn", db.DSN,
		"--since", "3", "--timeouts", contractFixture)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, `"code":"timeout_missing","severity":"warning"`)

	code, out, errOut = rollsafe(t, "migrate", "check", "--format", "json", "--since", "3", "--timeouts", contractFixture)
	require.Equal(t, exitOK, code, errOut)
	assert.NotContains(t, out, "timeout_missing")
}
