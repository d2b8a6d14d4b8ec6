package release_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
)

// FuzzParsePlan checks that no input panics the parser, and that a plan it
// reads, written back as JSON, reads back as the same plan.
func FuzzParsePlan(f *testing.F) {
	seeds, err := filepath.Glob("testdata/plans/*")
	require.NoError(f, err)
	seeds = append(seeds, "../examples/service/release.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"id": "x", "flags": [{"key": "a", "baseline": "b", "canary": "c"}], "steps": [{"weights": {"a": 1}}], "analysis": {"consecutiveErrorLimit": 0, "errorRate": {}}}`))
	f.Add([]byte("id: x\nflags: []\nsteps: [{weights: {}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := release.ParsePlan(data)
		if err != nil {
			require.Nil(t, p)
			require.ErrorIs(t, err, release.ErrInvalidPlan)
			return
		}
		require.NoError(t, p.Validate())
		js, err := json.Marshal(p)
		require.NoError(t, err)
		again, err := release.ParsePlan(js)
		require.NoError(t, err, "%s", js)
		require.Equal(t, p, again, "%s", js)
	})
}
