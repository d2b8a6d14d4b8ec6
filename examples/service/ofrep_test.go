package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/flags/ofrep"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func ofrepEval(t *testing.T, base, key, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/ofrep/v1/evaluate/flags/"+key,
		bytes.NewReader([]byte(`{"context":{"targetingKey":"u1"}}`)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// The service serves its flags over OFREP at /ofrep/ to callers on this
// host, and a kill through the store reaches a Go OFREP provider reading
// it.
func TestServiceServesOFREP(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	base, _, _ := service(t, dbArgs(db)...)
	waitReady(t, base)
	status, body := ofrepEval(t, base, "orders-summary-v2", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, true, body["value"])
	status, _ = ofrepEval(t, base, "no-such-flag", "")
	assert.Equal(t, http.StatusNotFound, status)

	p, err := ofrep.NewProvider(base)
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	client := api.NewClient()
	store, err := flagstore.New(db.DB, db.Dialect)
	require.NoError(t, err)
	kill(t, store)
	require.Eventually(t, func() bool {
		d, _ := client.BooleanValueDetails(context.Background(), "orders-summary-v2", false, openfeature.NewEvaluationContext("u1", nil))
		return d.Reason == openfeature.DisabledReason
	}, 10*time.Second, 10*time.Millisecond)
}

// With $ORDERS_OFREP_TOKEN set, a caller must present the token.
func TestServiceOFREPToken(t *testing.T) {
	t.Setenv(envOFREPToken, "s3cret-token")
	base, _, _ := service(t, "--db", testdb.New(t, dialect.SQLite).Name)
	waitReady(t, base)
	status, _ := ofrepEval(t, base, "orders-summary-v2", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = ofrepEval(t, base, "orders-summary-v2", "wrong")
	assert.Equal(t, http.StatusForbidden, status)
	status, body := ofrepEval(t, base, "orders-summary-v2", "s3cret-token")
	assert.Equal(t, http.StatusOK, status, "%v", body)
}

// Without a token, only callers on this host are answered.
func TestOFREPWithoutTokenIsLoopbackOnly(t *testing.T) {
	t.Setenv(envOFREPToken, "")
	set, err := flags.Parse(defaultFlags)
	require.NoError(t, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	h, routes, err := ofrepHandler(p, api.NewClient(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	for addr, want := range map[string]int{"10.0.0.5:41000": http.StatusForbidden, "127.0.0.1:41000": http.StatusOK, "[::1]:41000": http.StatusOK} {
		req := httptest.NewRequest(http.MethodPost, "/ofrep/v1/evaluate/flags/orders-summary-v2", strings.NewReader(`{"context":{"targetingKey":"u1"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, addr)
	}
}
