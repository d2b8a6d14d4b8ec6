package ofrep_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

func TestOptionsRefuseBadInput(t *testing.T) {
	for name, opt := range map[string]ofrep.ProviderOption{
		"nil option":      nil,
		"nil client":      ofrep.WithHTTPClient(nil),
		"bad header name": ofrep.WithHeader("X Bad", "v"),
		"header CRLF":     ofrep.WithHeader("X-Ok", "a\r\nInjected: 1"),
		"empty token":     ofrep.WithBearerToken(""),
		"empty key":       ofrep.WithAPIKey(""),
		"zero timeout":    ofrep.WithRequestTimeout(0),
		"zero fetch":      ofrep.WithFetchTimeout(0),
		"zero size":       ofrep.WithMaxResponseSize(0),
		"zero poll":       ofrep.WithPollInterval(0),
		"zero idle":       ofrep.WithStreamIdleTimeout(0),
		"backoff min>max": ofrep.WithReconnectBackoff(2*time.Second, time.Second),
		"nil logger":      ofrep.WithProviderLogger(nil),
		"unencodable ctx": ofrep.WithCachedContext(openfeature.NewEvaluationContext("u", map[string]any{"f": func() {}})),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ofrep.NewProvider("http://127.0.0.1:1", opt)
			require.Error(t, err)
		})
	}
	for _, u := range []string{"", "ftp://x", "http://", "http://x/?q=1", "://"} {
		_, err := ofrep.NewProvider(u)
		require.Error(t, err, u)
	}
}

func TestFromEnv(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	t.Setenv("OFREP_ENDPOINT", f.URL)
	t.Setenv("OFREP_HEADERS", "X-Tenant=t%2C1, Authorization=Bearer%20env,X-Empty=")
	t.Setenv("OFREP_TIMEOUT", "2s")
	p, err := ofrep.NewProvider("", ofrep.FromEnv(), ofrep.WithAPIKey("k1"))
	require.NoError(t, err)
	defer p.Shutdown()
	require.True(t, p.BooleanEvaluation(context.Background(), "on", false, nil).Value)
	hs := f.allHeaders()
	got := hs[len(hs)-1]
	assert.Equal(t, "t,1", got.Get("X-Tenant"))
	assert.Equal(t, "Bearer env", got.Get("Authorization"))
	assert.Equal(t, "k1", got.Get("X-Api-Key"))

	// Settings made in code win, whatever the order.
	p2, err := ofrep.NewProvider("", ofrep.WithBearerToken("code"), ofrep.FromEnv())
	require.NoError(t, err)
	defer p2.Shutdown()
	p2.BooleanEvaluation(context.Background(), "on", false, nil)
	hs = f.allHeaders()
	assert.Equal(t, []string{"Bearer code"}, hs[len(hs)-1].Values("Authorization"))

	for name, env := range map[string][2]string{
		"headers without =":  {"OFREP_HEADERS", "X-Tenant"},
		"headers bad escape": {"OFREP_HEADERS", "X=%zz"},
		"timeout":            {"OFREP_TIMEOUT", "soon"},
		"timeout negative":   {"OFREP_TIMEOUT", "-1s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(env[0], env[1])
			_, err := ofrep.NewProvider("", ofrep.FromEnv())
			require.ErrorContains(t, err, env[0])
		})
	}
	t.Run("no FromEnv, no environment", func(t *testing.T) {
		_, err := ofrep.NewProvider("")
		require.Error(t, err)
	})
}

func TestFromEnvTimeoutMilliseconds(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	release := make(chan struct{})
	defer close(release)
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	t.Setenv("OFREP_TIMEOUT_MS", "30")
	p, err := ofrep.NewProvider(f.URL, ofrep.FromEnv())
	require.NoError(t, err)
	defer p.Shutdown()
	start := time.Now()
	d := p.BooleanEvaluation(context.Background(), "on", true, nil)
	assert.Contains(t, d.ResolutionDetail().ErrorMessage, "deadline")
	assert.Less(t, time.Since(start), ofrep.DefaultRequestTimeout, "OFREP_TIMEOUT_MS was not applied")
}
