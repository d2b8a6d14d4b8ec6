package flags_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
)

const swDefinitions = `{"flags": {
  "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "banner-text": {"state": "ENABLED", "variants": {"a": "hello"}, "defaultVariant": "a"}
}}`

// swProviderClient serves swDefinitions through this package's Provider
// over a MemorySource, and returns a function that waits for the next
// provider event of type want (the SDK delivers them on its own goroutine).
func swProviderClient(t *testing.T) (*openfeature.Client, *flags.MemorySource, func(want openfeature.EventType)) {
	t.Helper()
	set, err := flags.Parse([]byte(swDefinitions))
	require.NoError(t, err)
	src := flags.NewMemorySource(set)
	provider, err := flags.NewProvider(src)
	require.NoError(t, err)
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), provider))
	client := api.NewClient()

	events := make(chan openfeature.EventType, 16)
	for _, et := range []openfeature.EventType{openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError} {
		forward := func(openfeature.EventDetails) { events <- et }
		client.AddHandler(et, &forward)
	}
	wait := func(want openfeature.EventType) {
		t.Helper()
		for {
			select {
			case got := <-events:
				if got == want {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event from the provider", want)
			}
		}
	}
	return client, src, wait
}

func TestSwitchOverTheProvider(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	client, src, wait := swProviderClient(t)
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(2))
	require.NoError(t, err)
	var p strPaths
	ctx := context.Background()
	run := func() string {
		t.Helper()
		got, err := s.Run(ctx, openfeature.EvaluationContext{}, p.newPath, p.oldPath)
		require.NoError(t, err)
		return got
	}

	assert.Equal(t, "new", run())

	// Switched off in the source: the old path, and no evaluation error.
	require.NoError(t, src.SetState(ctx, swFlag, flags.Disabled))
	wait(openfeature.ProviderConfigChange)
	assert.Equal(t, "old", run())
	require.NoError(t, src.SetState(ctx, swFlag, flags.Enabled))
	wait(openfeature.ProviderConfigChange)
	assert.Equal(t, "new", run())

	// A refused change keeps the last good definitions: still the new path.
	require.Error(t, src.ReplaceJSON(ctx, []byte(`{"flags": {"new-checkout": {"state": "ENABLED"`)))
	wait(openfeature.ProviderStale)
	assert.Equal(t, "new", run())
	assert.Zero(t, s.Stats().EvaluationErrors)

	// The flag gone from the definitions: fail safe.
	require.NoError(t, src.ReplaceJSON(ctx, []byte(`{"flags": {}}`)))
	wait(openfeature.ProviderConfigChange)
	assert.Equal(t, "old", run())
	assert.Equal(t, uint64(1), s.Stats().EvaluationErrors)
	assert.Equal(t, flags.SwitchClosed, s.State())
}

func TestSwitchOverTheProviderFailsSafeOnTypeMismatch(t *testing.T) {
	client, _, _ := swProviderClient(t)
	s, err := flags.NewSwitch[string](client, "banner-text")
	require.NoError(t, err)
	var p strPaths
	got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
	require.NoError(t, err)
	assert.Equal(t, "old", got)
	assert.Equal(t, uint64(1), s.Stats().EvaluationErrors)
}

func TestSwitchOverTheProviderTripsAndKeepsServing(t *testing.T) {
	client, _, _ := swProviderClient(t)
	var s *flags.Switch[string]
	var healthAtTrip error
	s, err := flags.NewSwitch[string](client, swFlag, flags.WithMinCalls(3),
		flags.WithStateListener(func(ev flags.SwitchEvent) {
			if ev.To == flags.SwitchOpen {
				healthAtTrip = s.Healthy(context.Background())
			}
		}))
	require.NoError(t, err)
	p := strPaths{newErr: errBoom}
	for range 3 {
		_, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
		require.ErrorIs(t, err, errBoom)
	}
	require.ErrorIs(t, healthAtTrip, flags.ErrSwitchTripped)
	for range 10 {
		got, err := s.Run(context.Background(), openfeature.EvaluationContext{}, p.newPath, p.oldPath)
		require.NoError(t, err)
		assert.Equal(t, "old", got)
	}
	newCalls, oldCalls := p.counts()
	assert.Equal(t, 3, newCalls)
	assert.Equal(t, 10, oldCalls)
}
