package flagstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// serve registers a provider over s with an isolated OpenFeature API and
// returns its client.
func serve(t *testing.T, s *flagstore.Store, opts ...flags.ProviderOption) (*flags.Provider, *openfeature.Client) {
	t.Helper()
	p, err := flags.NewProvider(s, opts...)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	return p, api.NewClient()
}

func TestProviderFollowsTheStore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		writer := newStore(t, db)
		_, err := writer.Import(ctx, []byte(seedFile), flagstore.Change{Actor: "ci", Reason: "seed"})
		require.NoError(t, err)

		reader := newStore(t, &testdb.DB{DB: db.Open(t), Dialect: db.Dialect}, flagstore.WithPollInterval(20*time.Millisecond))
		p, client := serve(t, reader)
		assert.Equal(t, int64(1), p.Revision())
		evalCtx := openfeature.NewEvaluationContext("user-1", nil)

		res, err := writer.Apply(ctx, change("kill", flagstore.SetState("orders-summary-v2", flags.Disabled)))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return p.Revision() == res.Revision }, 10*time.Second, 5*time.Millisecond)
		// A disabled flag answers the caller's default, which a guarded path
		// reads as "the old path".
		d, err := client.BooleanValueDetails(ctx, "orders-summary-v2", false, evalCtx)
		require.NoError(t, err)
		assert.False(t, d.Value)
		assert.Equal(t, openfeature.DisabledReason, d.Reason)
	})
}
