package flags_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

func TestProviderReportsTheRevisionItServes(t *testing.T) {
	noLeaks(t)
	first, err := flags.Parse([]byte(`{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}}}`))
	require.NoError(t, err)
	second, err := flags.Parse([]byte(`{"flags":{"f":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}}}`))
	require.NoError(t, err)

	src := flags.NewMemorySource(first.WithRevision(5))
	revisions := make(chan int64, 10)
	p, err := flags.NewProvider(src, flags.WithRevisionListener(func(rev int64) { revisions <- rev }))
	require.NoError(t, err)
	assert.Zero(t, p.Revision(), "nothing served before Init")
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	assert.Equal(t, int64(5), p.Revision())
	assert.Equal(t, int64(5), <-revisions)

	require.NoError(t, src.Replace(context.Background(), second.WithRevision(7)))
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"f"}, ev.changes)
	assert.Equal(t, int64(7), ev.metadata["revision"])
	assert.Equal(t, int64(7), p.Revision())
	assert.Equal(t, int64(7), <-revisions)
	on, err := h.client.BooleanValue(context.Background(), "f", true, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.False(t, on, "the second revision's default variant serves")

	// WithRevision leaves the set it copies as it was.
	assert.Zero(t, first.Revision())
	assert.Equal(t, first.Keys(), first.WithRevision(9).Keys())
	assert.Zero(t, (*flags.Set)(nil).Revision())
	assert.Equal(t, int64(3), (*flags.Set)(nil).WithRevision(3).Revision())
}

func TestProviderRevisionOfAFileIsZero(t *testing.T) {
	set, err := flags.Parse([]byte(`{"flags":{}}`))
	require.NoError(t, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	assert.Zero(t, p.Revision())
	require.NoError(t, p.ShutdownWithContext(context.Background()))
	assert.Zero(t, p.Revision())

	_, err = flags.NewProvider(flags.NewMemorySource(set), flags.WithRevisionListener(nil))
	require.ErrorContains(t, err, "WithRevisionListener: nil function")
}
