package ofrep_test

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

func keyAuthorizer(want string) ofrep.Authorizer {
	return func(_ *http.Request, cred string) error {
		if cred != want {
			return errors.New("unknown key ending " + cred[len(cred)-1:])
		}
		return nil
	}
}

func TestAuthorizer(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 3)
	_, srv := newHandler(t, p, ofrep.WithAuthorizer(keyAuthorizer("s3cret")))
	body := `{"context": {"targetingKey": "u"}}`
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"no credential", nil, http.StatusUnauthorized},
		{"a Basic header is none", map[string]string{"Authorization": "Basic czNjcmV0"}, http.StatusUnauthorized},
		{"wrong API key", map[string]string{"X-API-Key": "guess"}, http.StatusForbidden},
		{"wrong bearer token", map[string]string{"Authorization": "Bearer guess"}, http.StatusForbidden},
		{"API key", map[string]string{"X-API-Key": "s3cret"}, http.StatusOK},
		{"bearer token", map[string]string{"Authorization": "bearer s3cret"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/ofrep/v1/evaluate/flags/color", bulkPath} {
				resp, got := do(t, srv, call{path: path, body: body, header: tc.header})
				assert.Equal(t, tc.status, resp.StatusCode, path)
				if tc.status != http.StatusOK {
					assert.Empty(t, got, "no body that says why")
				}
			}
		})
	}
	resp, err := srv.Client().Get(srv.URL + eventsPath)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the stream too")
	s := openStream(t, srv.Client(), srv.URL, map[string]string{"X-API-Key": "s3cret"})
	assert.Equal(t, http.StatusOK, s.resp.StatusCode)
	s.next(t)
}

func TestRateLimit(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 3)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	_, srv := newHandler(t, p,
		ofrep.WithAuthorizer(keyAuthorizer("s3cret")),
		ofrep.WithRateLimit(rate.Every(10*time.Second), 2),
		ofrep.WithClock(clock))
	ok := map[string]string{"X-API-Key": "s3cret"}
	body := `{"context": {"targetingKey": "u"}}`
	path := "/ofrep/v1/evaluate/flags/color"
	for range 2 {
		resp, _ := do(t, srv, call{path: path, body: body, header: ok})
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	resp, got := do(t, srv, call{path: path, body: body, header: ok})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "10", resp.Header.Get("Retry-After"))
	assert.Empty(t, got)
	resp, _ = do(t, srv, call{path: bulkPath, body: body, header: ok})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "one limit for every route")

	// Another client (refused credentials count against its address, as
	// does an open handler's every request) has its own bucket.
	for _, want := range []int{http.StatusForbidden, http.StatusForbidden, http.StatusTooManyRequests} {
		resp, _ := do(t, srv, call{path: path, body: body, header: map[string]string{"X-API-Key": "guess"}})
		assert.Equal(t, want, resp.StatusCode)
	}

	now.Add(int64(4 * time.Second))
	resp, _ = do(t, srv, call{path: path, body: body, header: ok})
	assert.Equal(t, "6", resp.Header.Get("Retry-After"), "rounded up to whole seconds")
	now.Add(int64(6 * time.Second))
	resp, _ = do(t, srv, call{path: path, body: body, header: ok})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a token again after 10 s")
}

func TestRateLimitersAreBounded(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 3)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(base.UnixNano())
	keys := []string{"a", "b", "c"}
	_, srv := newHandler(t, p,
		ofrep.WithAuthorizer(func(*http.Request, string) error { return nil }),
		ofrep.WithRateLimit(rate.Every(time.Minute), 1),
		ofrep.WithMaxRateLimiters(2),
		ofrep.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	get := func(key string) int {
		resp, _ := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context":{"targetingKey":"u"}}`, header: map[string]string{"X-API-Key": key}})
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get(keys[0]))
	require.Equal(t, http.StatusOK, get(keys[1]))
	require.Equal(t, http.StatusTooManyRequests, get(keys[0]))
	// A third client makes room by dropping one of the two; after a minute
	// both buckets are full and dropping them loses nothing.
	require.Equal(t, http.StatusOK, get(keys[2]))
	now.Add(int64(time.Minute))
	for _, k := range keys {
		assert.Equal(t, http.StatusOK, get(k), k)
	}
}
