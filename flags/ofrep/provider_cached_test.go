package ofrep_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// changedFlags is clientFlags with "on" switched off and "limit" raised.
var changedFlags = strings.NewReplacer(`"defaultVariant": "on",
              "metadata"`, `"defaultVariant": "off",
              "metadata"`, `"high": 1000`, `"high": 2000`).Replace(clientFlags)

func TestCachedAnswersFromMemory(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	f.setStreamMode("none")
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx := context.Background()
	require.Equal(t, int64(1), f.bulks.Load())
	_, body := f.lastBulkRequest()
	assert.JSONEq(t, `{"context": {"targetingKey": "user-1", "email": "ann@example.com", "plan": "pro"}}`, string(body))

	for _, ec := range []openfeature.EvaluationContext{userCtx(), {}} {
		b, err := h.client.BooleanValueDetails(ctx, "on", false, ec)
		require.NoError(t, err)
		assert.True(t, b.Value)
		assert.Equal(t, openfeature.StaticReason, b.Reason, "the server's reason is kept")
		s, err := h.client.StringValueDetails(ctx, "color", "", ec)
		require.NoError(t, err)
		assert.Equal(t, "#0f0", s.Value)
		assert.Equal(t, openfeature.TargetingMatchReason, s.Reason)
		i, err := h.client.IntValue(ctx, "limit", 0, ec)
		require.NoError(t, err)
		assert.Equal(t, int64(1000), i)
		fl, err := h.client.FloatValue(ctx, "ratio", 0, ec)
		require.NoError(t, err)
		assert.Equal(t, 0.25, fl)
		o, err := h.client.ObjectValue(ctx, "config", nil, ec)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"retries": int64(3), "backoff": 1.5, "hosts": []any{"a", "b"}}, o)
		d, err := h.client.BooleanValueDetails(ctx, "off", true, ec)
		require.NoError(t, err)
		assert.True(t, d.Value)
		assert.Equal(t, openfeature.DisabledReason, d.Reason)
		_, err = h.client.BooleanValue(ctx, "missing", false, ec)
		require.Error(t, err)
		_, err = h.client.IntValue(ctx, "color", 1, ec)
		require.ErrorContains(t, err, string(openfeature.TypeMismatchCode))
	}
	assert.Equal(t, int64(1), f.bulks.Load())
	assert.Zero(t, f.singles.Load(), "the cached context sent single requests")

	// Another context is evaluated by the server, one request each.
	other := openfeature.NewEvaluationContext("user-2", map[string]any{"email": "bob@other.org"})
	s, err := h.client.StringValue(ctx, "color", "", other)
	require.NoError(t, err)
	assert.Equal(t, "#f00", s)
	assert.Equal(t, int64(1), f.singles.Load())
}

func TestCachedRefetchOnEvent(t *testing.T) {
	clientNoLeaks(t)
	for _, mode := range []string{"endpoint", "url", "origin"} {
		t.Run(mode, func(t *testing.T) {
			f := newFake(t, clientFlags).serve(t)
			f.setStreamMode(mode)
			var log bytes.Buffer
			p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()),
				ofrep.WithProviderLogger(slog.New(slog.NewTextHandler(&log, nil))))
			require.NoError(t, err)
			h, err := newHarness(t, p)
			require.NoError(t, err)
			h.next(t, openfeature.ProviderReady)
			require.Eventually(t, func() bool { return f.openStreams() == 1 }, wait, time.Millisecond)
			// Connecting refetches (a change may have come in between):
			// If-None-Match makes it a 304.
			require.Eventually(t, func() bool { return f.notModified.Load() == 1 }, wait, time.Millisecond)

			f.replace(t, changedFlags)
			f.refetch("v2", 1771622898)
			ev := h.next(t, openfeature.ProviderConfigChange)
			assert.Equal(t, []string{"limit", "on"}, ev.changes)
			req, _ := f.lastBulkRequest()
			assert.Equal(t, "v2", req.URL.Query().Get("flagConfigEtag"))
			assert.Equal(t, "1771622898", req.URL.Query().Get("flagConfigLastModified"))
			assert.NotEmpty(t, req.Header.Get("If-None-Match"))
			v, err := h.client.IntValue(context.Background(), "limit", 0, userCtx())
			require.NoError(t, err)
			assert.Equal(t, int64(2000), v)

			// An event with nothing changed: 304, no event.
			f.refetch("", "2026-02-20T21:28:18Z")
			require.Eventually(t, func() bool { return f.notModified.Load() == 2 }, wait, time.Millisecond)
			req, _ = f.lastBulkRequest()
			assert.Equal(t, "2026-02-20T21:28:18Z", req.URL.Query().Get("flagConfigLastModified"))
			h.none(t, openfeature.ProviderStale)
			assert.NotContains(t, log.String(), "secret", "the stream URL's query was logged")
		})
	}
}

func TestCachedStreamDropsAndComesBack(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()),
		ofrep.WithReconnectBackoff(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	require.Eventually(t, func() bool { return f.openStreams() == 1 }, wait, time.Millisecond)

	f.streamDown.Store(true)
	f.closeStreams()
	h.next(t, openfeature.ProviderStale)
	// The cache serves while the stream is down.
	v, err := h.client.BooleanValue(context.Background(), "on", false, userCtx())
	require.NoError(t, err)
	assert.True(t, v)

	f.replace(t, changedFlags) // missed: no stream to hear it
	f.streamDown.Store(false)
	h.next(t, openfeature.ProviderReady)
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"limit", "on"}, ev.changes)
	v, err = h.client.BooleanValue(context.Background(), "on", true, userCtx())
	require.NoError(t, err)
	assert.False(t, v)
}

// A stream that ends and reconnects at once is not STALE.
func TestCachedStreamReconnectsQuietly(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()),
		ofrep.WithReconnectBackoff(time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	require.Eventually(t, func() bool { return f.openStreams() == 1 }, wait, time.Millisecond)
	f.closeStreams()
	require.Eventually(t, func() bool { return f.streamOpens.Load() == 2 && f.notModified.Load() == 2 }, wait, time.Millisecond)
	h.none(t, openfeature.ProviderStale)
}

// Without a stream the provider polls, every 30 s by default.
func TestCachedPollsWithoutStream(t *testing.T) {
	clientNoLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, clientFlags)
		f.URL = pipeURL
		f.setStreamMode("none")
		client, stop := servePipe(f)
		defer stop()
		p, err := ofrep.NewProvider(pipeURL, ofrep.WithCachedContext(userCtx()), ofrep.WithHTTPClient(client))
		require.NoError(t, err)
		require.NoError(t, p.Init(openfeature.EvaluationContext{}))
		defer p.Shutdown()
		synctest.Wait()
		require.Equal(t, int64(1), f.bulks.Load())
		time.Sleep(ofrep.DefaultPollInterval - time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(1), f.bulks.Load())
		time.Sleep(time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(2), f.bulks.Load())
		assert.Equal(t, int64(1), f.notModified.Load())
	})
}

// A stream that never sends anything (not even keep-alives) is dropped
// after the idle timeout and opened again, without a STALE.
func TestCachedSilentStreamReopened(t *testing.T) {
	clientNoLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, clientFlags)
		f.URL = pipeURL
		client, stop := servePipe(f)
		defer stop()
		defer f.closeStreams()
		p, err := ofrep.NewProvider(pipeURL, ofrep.WithCachedContext(userCtx()), ofrep.WithHTTPClient(client))
		require.NoError(t, err)
		require.NoError(t, p.Init(openfeature.EvaluationContext{}))
		defer p.Shutdown()
		synctest.Wait()
		require.Equal(t, int64(1), f.streamOpens.Load())
		time.Sleep(ofrep.DefaultStreamIdleTimeout - time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(1), f.streamOpens.Load())
		time.Sleep(time.Millisecond + ofrep.DefaultBackoffMin)
		synctest.Wait()
		assert.Equal(t, int64(2), f.streamOpens.Load())
		for len(p.EventChannel()) > 0 {
			ev := <-p.EventChannel()
			assert.NotEqual(t, openfeature.ProviderStale, ev.EventType)
		}
		// Keep-alive comments keep a stream open.
		for range 10 {
			time.Sleep(ofrep.DefaultStreamIdleTimeout / 2)
			f.publish(": keep-alive\n\n")
			synctest.Wait()
		}
		assert.Equal(t, int64(2), f.streamOpens.Load())
	})
}

// Failed refetches are retried with a back-off that doubles up to its
// maximum; the cache serves meanwhile (STALE), and READY follows the first
// success.
func TestCachedRetryBackoff(t *testing.T) {
	clientNoLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, clientFlags)
		f.URL = pipeURL
		f.setStreamMode("none")
		var failing atomic.Bool
		var mu sync.Mutex
		var attempts []time.Duration
		start := time.Now()
		f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !failing.Load() {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Since(start))
			w.WriteHeader(http.StatusBadGateway)
			return true
		})
		client, stop := servePipe(f)
		defer stop()
		p, err := ofrep.NewProvider(pipeURL, ofrep.WithCachedContext(userCtx()), ofrep.WithHTTPClient(client),
			ofrep.WithPollInterval(time.Hour), ofrep.WithReconnectBackoff(time.Second, 8*time.Second))
		require.NoError(t, err)
		require.NoError(t, p.Init(openfeature.EvaluationContext{}))
		defer p.Shutdown()
		failing.Store(true)
		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		start = time.Now()
		attempts = attempts[:0]
		mu.Unlock()
		require.Equal(t, openfeature.ProviderStale, (<-p.EventChannel()).EventType)
		time.Sleep(40 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// Delays drawn in [d/2, d] for d = 1, 2, 4, 8, 8, ... seconds,
		// the first counted from the failed poll.
		require.GreaterOrEqual(t, len(attempts), 6)
		require.LessOrEqual(t, len(attempts), 12)
		assert.GreaterOrEqual(t, attempts[0], 500*time.Millisecond)
		assert.LessOrEqual(t, attempts[0], time.Second)
		prev := attempts[0]
		for i, at := range attempts[1:] {
			d := min(2*time.Second<<i, 8*time.Second)
			gap := at - prev
			assert.GreaterOrEqual(t, gap, d/2, "attempt %d", i+1)
			assert.LessOrEqual(t, gap, d, "attempt %d", i+1)
			prev = at
		}
		assert.True(t, p.BooleanEvaluation(context.Background(), "on", false, nil).Value, "the cache stopped serving")
		failing.Store(false)
		time.Sleep(8 * time.Second)
		synctest.Wait()
		require.Equal(t, openfeature.ProviderReady, (<-p.EventChannel()).EventType)
	})
}

// A 429 on a refetch holds every request until Retry-After.
func TestCachedRetryAfter(t *testing.T) {
	clientNoLeaks(t)
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, clientFlags)
		f.URL = pipeURL
		f.setStreamMode("none")
		var limited atomic.Bool
		var mu sync.Mutex
		var bulks []time.Time
		f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			mu.Lock()
			defer mu.Unlock()
			bulks = append(bulks, time.Now())
			if limited.Swap(false) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		})
		client, stop := servePipe(f)
		defer stop()
		p, err := ofrep.NewProvider(pipeURL, ofrep.WithCachedContext(userCtx()), ofrep.WithHTTPClient(client),
			ofrep.WithPollInterval(10*time.Second))
		require.NoError(t, err)
		require.NoError(t, p.Init(openfeature.EvaluationContext{}))
		defer p.Shutdown()
		limited.Store(true)
		time.Sleep(10 * time.Second) // the poll gets the 429
		synctest.Wait()
		mu.Lock()
		limitedAt := bulks[len(bulks)-1]
		mu.Unlock()
		time.Sleep(130 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Greater(t, len(bulks), 2)
		assert.GreaterOrEqual(t, bulks[2].Sub(limitedAt), 120*time.Second, "a request was sent before Retry-After")
	})
}

func TestCachedUnauthorizedInit(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	var initErr *openfeature.ProviderInitError
	require.True(t, errors.As(err, &initErr), "%v", err)
	assert.Equal(t, openfeature.ProviderFatalCode, initErr.ErrorCode)
	assert.Equal(t, openfeature.FatalState, h.client.State())
	n := len(f.allHeaders())
	_, err = h.client.BooleanValue(context.Background(), "on", false, userCtx())
	require.Error(t, err)
	assert.Equal(t, n, len(f.allHeaders()))
}

// A 403 on the stream is fatal too: ERROR, and no more requests.
func TestCachedStreamForbidden(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusForbidden)
			return true
		}
		return false
	})
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()), ofrep.WithPollInterval(time.Millisecond))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderError)
	// The SDK may handle Init's READY after the provider's ERROR, so its
	// state is not checked; the provider's answers are.
	d, err := h.client.BooleanValueDetails(context.Background(), "on", false, userCtx())
	require.Error(t, err)
	assert.False(t, d.Value)
	assert.Equal(t, openfeature.ProviderFatalCode, d.ErrorCode)
	n := len(f.allHeaders())
	time.Sleep(20 * time.Millisecond) // the 1 ms poll would have sent many
	assert.Equal(t, n, len(f.allHeaders()))
}

// Init fails while the server is down, and the provider becomes READY by
// itself once it answers.
func TestCachedInitFailsThenRecovers(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	var down atomic.Bool
	down.Store(true)
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(userCtx()),
		ofrep.WithReconnectBackoff(time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.ErrorContains(t, err, "503")
	d := p.BooleanEvaluation(context.Background(), "on", false, nil)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
	assert.Contains(t, d.ResolutionDetail().ErrorMessage, "503")
	down.Store(false)
	h.next(t, openfeature.ProviderReady)
	v, err := h.client.BooleanValue(context.Background(), "on", false, userCtx())
	require.NoError(t, err)
	assert.True(t, v)
}
