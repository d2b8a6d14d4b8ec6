package release_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/runbook")

func TestRunbookGolden(t *testing.T) {
	for _, tt := range []struct {
		plan, golden string
		o            release.RunbookOptions
	}{
		{"testdata/plans/full.yaml", "full.md", release.RunbookOptions{Dialect: "postgres"}},
		{"testdata/plans/minimal.json", "minimal.md", release.RunbookOptions{}},
		{"../examples/service/release.yaml", "example-service.md", release.RunbookOptions{Dialect: "sqlite", DSNVar: "$ORDERS_DSN"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			p, err := release.ParsePlanFile(tt.plan)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, p.Runbook(&buf, tt.o))
			path := filepath.Join("testdata", "runbook", tt.golden)
			if *update {
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestRunbookGolden -update to write it")
			assert.Equal(t, string(want), buf.String())
		})
	}
}

func TestRunbookCommands(t *testing.T) {
	p, err := release.ParsePlanFile("testdata/plans/full.yaml")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, p.Runbook(&buf, release.RunbookOptions{Dialect: "mariadb"}))
	out := buf.String()
	assert.Contains(t, out, "rollsafe release abort --dialect mysql --dsn \"$ROLLSAFE_DSN\" checkout-v3 --reason \"...\"\n")
	for _, f := range p.Flags {
		assert.Contains(t, out, "rollsafe flags weights --dialect mysql --dsn \"$ROLLSAFE_DSN\" "+f.Key+" "+f.Baseline+"=100 "+f.Canary+"=0 --release checkout-v3 --actor \"$USER\" --reason \"...\"\n")
		assert.Contains(t, out, "rollsafe flags kill --dialect mysql --dsn \"$ROLLSAFE_DSN\" "+f.Key+" --release checkout-v3")
	}
	assert.Contains(t, out, "rolls back the migrations above 41")
	assert.Contains(t, out, "the release rolls back.", "onTimeout rollback")

	buf.Reset()
	require.NoError(t, p.Runbook(&buf, release.RunbookOptions{}))
	assert.Contains(t, buf.String(), `--dialect DIALECT --dsn "$ROLLSAFE_DSN"`)
}

func TestRunbookQuotesWhatTheShellWouldSplit(t *testing.T) {
	p := validPlan()
	p.Flags[0].Key, p.Flags[0].Canary = "a key", "it's on"
	p.Steps[0].Weights = map[string]int{"a key": 10, "b": 0}
	p.Steps[1].Weights = map[string]int{"a key": 100, "b": 100}
	var buf bytes.Buffer
	require.NoError(t, p.Runbook(&buf, release.RunbookOptions{Dialect: "sqlite"}))
	assert.Contains(t, buf.String(), `'a key' off=100 'it'\''s on'=0 --release`)
}

func TestRunbookRefuses(t *testing.T) {
	p := validPlan()
	p.ID = ""
	var buf bytes.Buffer
	err := p.Runbook(&buf, release.RunbookOptions{})
	assert.ErrorIs(t, err, release.ErrInvalidPlan)
	assert.Zero(t, buf.Len(), "nothing written for an invalid plan")

	err = validPlan().Runbook(&buf, release.RunbookOptions{Dialect: "oracle"})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "release: runbook: "), err.Error())
	assert.Zero(t, buf.Len())

	err = validPlan().Runbook(failingWriter{}, release.RunbookOptions{})
	assert.ErrorIs(t, err, errWrite)
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }
