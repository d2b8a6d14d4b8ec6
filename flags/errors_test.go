package flags_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

// TestErrorsSayThePackageOnce collects an error from each layer that wraps
// another of the package's errors: each starts with "flags: " and says it
// once.
func TestErrorsSayThePackageOnce(t *testing.T) {
	client, _ := swClient(t, true)
	_, switchErr := flags.NewSwitch[string](client, "x", flags.WithTripRatio(2))
	assert.EqualError(t, switchErr, `flags: new switch "x": invalid switch option: trip ratio 2 is not in (0, 1]`)

	invalid := `{"flags": {"x": {"state": "ON", "variants": {"a": 1}}}}`
	_, parseErr := flags.Parse([]byte(invalid))
	assert.EqualError(t, parseErr, `flags: invalid flag definitions: flag "x": state: "ON" is not ENABLED or DISABLED`)

	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(invalid), 0o644))
	src, err := flags.NewFileSource(path)
	require.NoError(t, err)
	_, loadErr := src.Load(context.Background())
	assert.EqualError(t, loadErr, `flags: flag file `+path+`: invalid flag definitions: flag "x": state: "ON" is not ENABLED or DISABLED`)
	assert.ErrorIs(t, loadErr, flags.ErrInvalid)

	// An invalid flag does not refuse the file: the flag answers
	// PARSE_ERROR, its message naming the field without the package's name.
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	require.NoError(t, p.InitWithContext(context.Background(), openfeature.EvaluationContext{}))
	d := p.StringEvaluation(context.Background(), "x", "", openfeature.FlattenedContext{})
	assert.Equal(t, openfeature.ParseErrorCode, d.ResolutionDetail().ErrorCode)
	assert.Equal(t, `flag "x" has an invalid definition: state: "ON" is not ENABLED or DISABLED`, d.ResolutionDetail().ErrorMessage)
	require.NoError(t, p.ShutdownWithContext(context.Background()))

	// A document refused whole refuses the provider's first definitions.
	refused := `{"flags": {"x": {"state": "ON", "variants": {"a": 1}}}, "flag": {}}`
	require.NoError(t, os.WriteFile(path, []byte(refused), 0o644))
	p, err = flags.NewProvider(src)
	require.NoError(t, err)
	initErr := p.InitWithContext(context.Background(), openfeature.EvaluationContext{})
	assert.EqualError(t, initErr, `flags: first flag definitions refused: flag file `+path+`: invalid flag definitions: flag: unknown field (want flags, $evaluators, metadata or $schema); flag "x": state: "ON" is not ENABLED or DISABLED`)
	assert.ErrorIs(t, initErr, flags.ErrInvalid)
	// The evaluation's message says it without the package's name.
	d = p.StringEvaluation(context.Background(), "x", "", openfeature.FlattenedContext{})
	assert.Equal(t, openfeature.ParseErrorCode, d.ResolutionDetail().ErrorCode)
	assert.Equal(t, `flag definitions refused: flag file `+path+`: invalid flag definitions: flag: unknown field (want flags, $evaluators, metadata or $schema); flag "x": state: "ON" is not ENABLED or DISABLED`, d.ResolutionDetail().ErrorMessage)
	require.NoError(t, p.ShutdownWithContext(context.Background()))

	mem := flags.NewMemorySource(nil)
	setErr := mem.SetState(context.Background(), "nope", flags.Disabled)
	assert.ErrorIs(t, setErr, flags.ErrNotFound)
	replaceErr := mem.ReplaceJSON(context.Background(), []byte(invalid))

	for _, err := range []error{switchErr, parseErr, loadErr, initErr, setErr, replaceErr} {
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "flags: "), "%q does not start with the package", err)
		assert.Equal(t, 1, strings.Count(err.Error(), "flags: "), "%q says the package more than once", err)
	}
}
