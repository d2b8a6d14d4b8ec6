package ofrep_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// A cached provider refused at Init (401) answers PROVIDER_FATAL without a
// request, and the next Init asks again: once the server accepts, it
// serves.
func TestCachedProviderInitAgainAfterUnauthorized(t *testing.T) {
	clientNoLeaks(t)
	var accept atomic.Bool
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if !accept.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"e1"`)
		_, _ = w.Write([]byte(`{"flags":[{"key":"on","value":true,"reason":"STATIC","variant":"yes"}]}`))
	}))
	t.Cleanup(srv.Close)
	evalCtx := openfeature.NewEvaluationContext("u1", nil)
	p, err := ofrep.NewProvider(srv.URL, ofrep.WithCachedContext(evalCtx), ofrep.WithPollInterval(3600e9))
	require.NoError(t, err)
	ctx := context.Background()
	err = p.InitWithContext(ctx, evalCtx)
	var initErr *openfeature.ProviderInitError
	require.ErrorAs(t, err, &initErr)
	assert.Equal(t, openfeature.ProviderFatalCode, initErr.ErrorCode)
	before := requests.Load()
	d := p.BooleanEvaluation(ctx, "on", false, openfeature.FlattenedContext{"targetingKey": "u1"})
	assert.Equal(t, openfeature.ProviderFatalCode, d.ResolutionDetail().ErrorCode)
	assert.Equal(t, before, requests.Load(), "no request while fatal")

	accept.Store(true)
	require.NoError(t, p.InitWithContext(ctx, evalCtx))
	d = p.BooleanEvaluation(ctx, "on", false, openfeature.FlattenedContext{"targetingKey": "u1"})
	assert.True(t, d.Value)
	require.NoError(t, p.ShutdownWithContext(ctx))
}
