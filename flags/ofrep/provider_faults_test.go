package ofrep_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

var flat = openfeature.FlattenedContext{"targetingKey": "user-1"}

func TestDynamicFailuresAnswerTheDefault(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	cases := map[string]struct {
		handler func(w http.ResponseWriter, r *http.Request)
		code    openfeature.ErrorCode
		msg     string
	}{
		"500": {func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"errorDetails": "database gone"})
		}, openfeature.GeneralCode, "database gone"},
		"503 without body": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, openfeature.GeneralCode, "status 503"},
		"malformed JSON": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"key": "on", "value": tru`)
		}, openfeature.ParseErrorCode, "malformed"},
		"trailing data": {func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"key": "on", "value": true, "reason": "STATIC"} {}`)
		}, openfeature.ParseErrorCode, "data after"},
		"400 that is not a failure body": {func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "bad")
		}, openfeature.GeneralCode, "400"},
		"oversized with length": {func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"key":"on","value":"`+strings.Repeat("x", 2000)+`"}`)
		}, openfeature.GeneralCode, "too large"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool { c.handler(w, r); return true })
			p, err := ofrep.NewProvider(f.URL, ofrep.WithMaxResponseSize(1000))
			require.NoError(t, err)
			defer p.Shutdown()
			d := p.BooleanEvaluation(context.Background(), "on", true, flat)
			assert.True(t, d.Value)
			assert.Equal(t, c.code, d.ResolutionDetail().ErrorCode)
			assert.Contains(t, d.ResolutionDetail().ErrorMessage, c.msg)
			assert.Equal(t, openfeature.ErrorReason, d.Reason)
		})
	}
}

func TestDynamicNetworkDown(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	url := f.URL
	p, err := ofrep.NewProvider(url)
	require.NoError(t, err)
	defer p.Shutdown()
	require.True(t, p.BooleanEvaluation(context.Background(), "on", false, flat).Value)
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close() // the connection drops without an answer
		return true
	})
	d := p.BooleanEvaluation(context.Background(), "on", false, flat)
	assert.False(t, d.Value)
	assert.Equal(t, openfeature.GeneralCode, d.ResolutionDetail().ErrorCode)
}

// A 50 MB body (no Content-Length) must not be read whole: the provider
// stops at its cap and drops the connection, so the server's writes fail
// long before the end.
func TestDynamicHugeBodyNotReadWhole(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	var written atomic.Int64
	done := make(chan struct{})
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		defer close(done)
		chunk := []byte(strings.Repeat("x", 64<<10))
		_, _ = io.WriteString(w, `{"key":"on","value":"`)
		for range 50 << 20 / len(chunk) {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return true
			}
		}
		return true
	})
	p, err := ofrep.NewProvider(f.URL, ofrep.WithRequestTimeout(wait))
	require.NoError(t, err)
	defer p.Shutdown()
	d := p.StringEvaluation(context.Background(), "on", "dflt", flat)
	assert.Equal(t, "dflt", d.Value)
	assert.Equal(t, openfeature.GeneralCode, d.ResolutionDetail().ErrorCode)
	assert.Contains(t, d.ResolutionDetail().ErrorMessage, "too large")
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("the server is still writing: the provider kept reading")
	}
	assert.Less(t, written.Load(), int64(50<<20), "the whole body was read")
}

// A server that never answers: the evaluation ends at the request timeout,
// with the default, and the caller's own context can end it sooner.
func TestDynamicTimeout(t *testing.T) {
	clientNoLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		client, stop := servePipe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer stop()
		defer close(release)
		p, err := ofrep.NewProvider(pipeURL, ofrep.WithHTTPClient(client))
		require.NoError(t, err)
		start := time.Now()
		d := p.BooleanEvaluation(context.Background(), "on", true, flat)
		assert.Equal(t, ofrep.DefaultRequestTimeout, time.Since(start))
		assert.True(t, d.Value)
		assert.Equal(t, openfeature.GeneralCode, d.ResolutionDetail().ErrorCode)
		assert.Contains(t, d.ResolutionDetail().ErrorMessage, "deadline")

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		p.BooleanEvaluation(ctx, "on", true, flat)
		assert.Equal(t, 100*time.Millisecond, time.Since(start))
	})
}

// After a 429 nothing is sent until its Retry-After has passed; the
// evaluations meanwhile answer the default with an error.
func TestDynamicRetryAfter(t *testing.T) {
	clientNoLeaks(t)
	for name, header := range map[string]func(now time.Time) string{
		"seconds":   func(time.Time) string { return "30" },
		"HTTP date": func(now time.Time) string { return now.Add(30 * time.Second).UTC().Format(http.TimeFormat) },
		"RFC 3339":  func(now time.Time) string { return now.Add(30 * time.Second).UTC().Format(time.RFC3339) },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var requests atomic.Int64
				limited := atomic.Bool{}
				limited.Store(true)
				client, stop := servePipe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					requests.Add(1)
					if limited.Swap(false) {
						w.Header().Set("Retry-After", header(time.Now()))
						w.WriteHeader(http.StatusTooManyRequests)
						return
					}
					writeJSON(w, http.StatusOK, map[string]any{"key": "on", "value": true, "reason": "STATIC"})
				}))
				defer stop()
				p, err := ofrep.NewProvider(pipeURL, ofrep.WithHTTPClient(client))
				require.NoError(t, err)
				d := p.BooleanEvaluation(context.Background(), "on", false, flat)
				assert.False(t, d.Value)
				assert.Equal(t, openfeature.GeneralCode, d.ResolutionDetail().ErrorCode)
				assert.Contains(t, d.ResolutionDetail().ErrorMessage, "429")
				time.Sleep(29 * time.Second)
				d = p.BooleanEvaluation(context.Background(), "on", false, flat)
				assert.False(t, d.Value)
				assert.Contains(t, d.ResolutionDetail().ErrorMessage, "rate limited")
				assert.Equal(t, int64(1), requests.Load(), "a request was sent before Retry-After")
				time.Sleep(time.Second)
				d = p.BooleanEvaluation(context.Background(), "on", false, flat)
				assert.True(t, d.Value, d.ResolutionError)
				assert.Equal(t, int64(2), requests.Load())
			})
		})
	}
	t.Run("absent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var requests atomic.Int64
			client, stop := servePipe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer stop()
			p, err := ofrep.NewProvider(pipeURL, ofrep.WithHTTPClient(client))
			require.NoError(t, err)
			p.BooleanEvaluation(context.Background(), "on", false, flat)
			time.Sleep(ofrep.DefaultRetryAfter - time.Millisecond)
			p.BooleanEvaluation(context.Background(), "on", false, flat)
			assert.Equal(t, int64(1), requests.Load())
			time.Sleep(time.Millisecond)
			p.BooleanEvaluation(context.Background(), "on", false, flat)
			assert.Equal(t, int64(2), requests.Load())
		})
	})
}

// 401 and 403 are fatal: an ERROR event with PROVIDER_FATAL, the client
// FATAL, and no further request until Init runs again.
func TestDynamicUnauthorizedIsFatal(t *testing.T) {
	clientNoLeaks(t)
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFake(t, clientFlags).serve(t)
			var refused atomic.Bool
			refused.Store(true)
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if refused.Load() {
					w.WriteHeader(status)
					return true
				}
				return false
			})
			p, err := ofrep.NewProvider(f.URL)
			require.NoError(t, err)
			h, err := newHarness(t, p)
			require.NoError(t, err)
			h.next(t, openfeature.ProviderReady)
			v, err := h.client.BooleanValue(context.Background(), "on", false, userCtx())
			require.Error(t, err)
			assert.False(t, v)
			h.next(t, openfeature.ProviderError)
			// The SDK does not pass an event's ErrorCode on to handlers
			// (go-sdk v1.20.0 executeHandler); its FATAL state shows that
			// the code reached it.
			require.Eventually(t, func() bool { return h.client.State() == openfeature.FatalState }, wait, time.Millisecond)

			before := f.singles.Load() + int64(len(f.allHeaders()))
			for range 20 {
				d := p.BooleanEvaluation(context.Background(), "on", false, flat)
				assert.Equal(t, openfeature.ProviderFatalCode, d.ResolutionDetail().ErrorCode)
			}
			assert.Equal(t, before, f.singles.Load()+int64(len(f.allHeaders())), "requests were sent after a fatal refusal")

			refused.Store(false)
			require.NoError(t, p.Init(openfeature.EvaluationContext{}))
			assert.True(t, p.BooleanEvaluation(context.Background(), "on", false, flat).Value)
		})
	}
}
