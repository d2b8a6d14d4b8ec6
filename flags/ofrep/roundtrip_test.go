package ofrep_test

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/ofrep"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// storeServer serves the conformance flags from a flag store on SQLite
// (polled every 20 ms) over OFREP on 127.0.0.1, the handler told of
// changes by the provider's events; it returns the store, the server and
// the OpenFeature API the provider is registered with.
func storeServer(t *testing.T) (*flagstore.Store, *httptest.Server, *openfeature.EvaluationAPI) {
	t.Helper()
	ctx := context.Background()
	db := testdb.NewSQLite(t)
	store, err := flagstore.New(db.DB, db.Dialect, flagstore.WithPollInterval(20*time.Millisecond))
	require.NoError(t, err)
	seed, err := os.ReadFile("testdata/conformance.flags.json")
	require.NoError(t, err)
	_, err = store.Import(ctx, seed, flagstore.Change{Actor: "ci", Reason: "seed"})
	require.NoError(t, err)
	p, err := flags.NewProvider(store)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(ctx, p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	h, err := ofrep.NewHandler(p, ofrep.WithEvents(api.NewClient()))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close()
	})
	return store, srv, api
}

// Our provider reads our handler, through the OpenFeature Go SDK on both
// sides, in both modes: every answer is the in-process provider's, and in
// cached mode a store write arrives through the event stream.
func TestProviderReadsHandler(t *testing.T) {
	ctx := context.Background()
	store, srv, serverAPI := storeServer(t)
	inProcess := serverAPI.NewClient()

	evalCtx := openfeature.NewEvaluationContext("user-7", map[string]any{"plan": "pro"})
	remote := func(opts ...ofrep.ProviderOption) *openfeature.Client {
		p, err := ofrep.NewProvider(srv.URL, opts...)
		require.NoError(t, err)
		api := isolated.NewAPI()
		require.NoError(t, api.SetProviderAndWait(ctx, p))
		t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
		return api.NewClient()
	}
	dynamic, cached := remote(), remote(ofrep.WithCachedContext(evalCtx))

	boolKeys := []string{"new-checkout", "pro-search", "summary-v2", "legacy-export", "unset-default", "no-such-flag"}
	for _, c := range []*openfeature.Client{dynamic, cached} {
		for _, key := range boolKeys {
			want, _ := inProcess.BooleanValueDetails(ctx, key, false, evalCtx)
			got, _ := c.BooleanValueDetails(ctx, key, false, evalCtx)
			assert.Equal(t, want.Value, got.Value, key)
			assert.Equal(t, want.Variant, got.Variant, key)
			assert.Equal(t, want.ErrorCode, got.ErrorCode, key)
		}
		s, err := c.StringValue(ctx, "banner-text", "", evalCtx)
		require.NoError(t, err)
		assert.Equal(t, "Everything on sale", s)
		n, err := c.IntValue(ctx, "page-size", 0, evalCtx)
		require.NoError(t, err)
		assert.Equal(t, int64(10), n)
		f, err := c.FloatValue(ctx, "discount", 0, evalCtx)
		require.NoError(t, err)
		assert.Equal(t, 0.15, f)
		o, err := c.ObjectValue(ctx, "theme", nil, evalCtx)
		require.NoError(t, err)
		assert.Equal(t, "#fff", o.(map[string]any)["bg"])
	}

	_, err := store.Apply(ctx, flagstore.Change{Actor: "alice", Reason: "kill", Edits: []flagstore.Edit{
		flagstore.SetState("new-checkout", flags.Disabled)}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		d, _ := cached.BooleanValueDetails(ctx, "new-checkout", false, evalCtx)
		return d.Reason == openfeature.DisabledReason
	}, 10*time.Second, 5*time.Millisecond, "the cached provider refetches on the stream's refetchEvaluation")
	d, _ := dynamic.BooleanValueDetails(ctx, "new-checkout", false, evalCtx)
	assert.Equal(t, openfeature.DisabledReason, d.Reason)
}
