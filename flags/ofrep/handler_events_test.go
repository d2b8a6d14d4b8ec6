package ofrep_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

const eventsPath = "/ofrep/v1/events"

// stream is an open event stream, read block by block.
type stream struct {
	resp   *http.Response
	blocks chan string
	cancel context.CancelFunc
}

// openStream opens the event stream of srvURL with header.
func openStream(t testing.TB, client *http.Client, srvURL string, header map[string]string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srvURL+eventsPath, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	s := &stream{resp: resp, blocks: make(chan string, 16), cancel: cancel}
	if resp.StatusCode != http.StatusOK {
		return s
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.blocks)
		sc := bufio.NewScanner(resp.Body)
		var block []string
		for sc.Scan() {
			if sc.Text() == "" {
				s.blocks <- strings.Join(block, "\n")
				block = nil
				continue
			}
			block = append(block, sc.Text())
		}
	}()
	t.Cleanup(func() { cancel(); <-done; resp.Body.Close() })
	return s
}

// next is the next block of the stream, waiting at most 10 s.
func (s *stream) next(t testing.TB) string {
	t.Helper()
	select {
	case b, ok := <-s.blocks:
		require.True(t, ok, "the stream ended")
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
		return ""
	}
}

func revisionProvider(t testing.TB, rev int64) (*flags.Provider, *flags.MemorySource, *flags.Set, *openfeature.EvaluationAPI) {
	t.Helper()
	p, src, api := newProvider(t, testFlags)
	set, err := parse(testFlags)
	require.NoError(t, err)
	require.NoError(t, src.Replace(context.Background(), set.WithRevision(rev)))
	return p, src, set, api
}

func TestEventsRefetchWhenTheRevisionChanges(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, src, set, _ := revisionProvider(t, 3)
	_, srv := newHandler(t, p, ofrep.WithRetry(2*time.Second))
	s := openStream(t, srv.Client(), srv.URL, nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	assert.Equal(t, "text/event-stream", s.resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", s.resp.Header.Get("Cache-Control"))
	assert.Equal(t, "retry: 2000\nid: r3", s.next(t))

	require.NoError(t, src.Replace(t.Context(), set.WithRevision(4)))
	assert.Equal(t, "id: r4\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"r4\"}", s.next(t))
	require.NoError(t, src.Replace(t.Context(), set.WithRevision(7)))
	assert.Equal(t, "id: r7\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"r7\"}", s.next(t))

	// A client that comes back having seen r4 missed r7.
	again := openStream(t, srv.Client(), srv.URL, map[string]string{"Last-Event-ID": "r4"})
	assert.Equal(t, "retry: 2000\nid: r7\n\nid: r7\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"r7\"}",
		again.next(t)+"\n\n"+again.next(t))
	// One that saw r7 missed nothing.
	current := openStream(t, srv.Client(), srv.URL, map[string]string{"Last-Event-ID": "r7"})
	assert.Equal(t, "retry: 2000\nid: r7", current.next(t))
	require.NoError(t, src.Replace(t.Context(), set.WithRevision(8)))
	assert.Contains(t, current.next(t), `"etag":"r8"`)
}

// A provider whose revision is 0 (a file's, or one not yet initialised),
// without WithEvents, has nothing to tell: no stream is offered, so that a
// client keeps polling instead of waiting for events that never come.
func TestEventsNotOfferedForRevisionZero(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p)
	resp, body := do(t, srv, call{path: "/ofrep/v1/evaluate/flags", body: `{"context": {"targetingKey": "u"}}`})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got ofrep.BulkResponse
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Empty(t, got.EventStreams)
	events, err := srv.Client().Get(srv.URL + "/ofrep/v1/events")
	require.NoError(t, err)
	events.Body.Close()
	assert.Equal(t, http.StatusNotFound, events.StatusCode)
}

// HEAD on the stream answers its headers and ends: a stream written into
// it would never end and would hold the client's connection.
func TestEventsHead(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, _, _, _ := revisionProvider(t, 2)
	_, srv := newHandler(t, p, ofrep.WithMaxSubscribers(1))
	req, err := http.NewRequest(http.MethodHead, srv.URL+"/ofrep/v1/events", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	// The same connection, and the one subscriber slot, serve a stream next.
	s := openStream(t, srv.Client(), srv.URL, nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	assert.Equal(t, "retry: 1000\nid: r2", s.next(t))
}

func TestEventsFollowTheProvidersEvents(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, src, api := newProvider(t, testFlags) // revision 0: only the events tell
	_, srv := newHandler(t, p, ofrep.WithEvents(api))
	s := openStream(t, srv.Client(), srv.URL, nil)
	assert.Equal(t, "retry: 1000\nid: c0", s.next(t))
	require.NoError(t, src.SetState(t.Context(), "color", flags.Disabled))
	assert.Equal(t, "id: c1\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"c1\"}", s.next(t))
	require.NoError(t, src.SetState(t.Context(), "color", flags.Enabled))
	assert.Contains(t, s.next(t), `"etag":"c2"`)
}

func TestEventsOnePerRevisionFromBothSources(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, src, set, api := revisionProvider(t, 3)
	_, srv := newHandler(t, p, ofrep.WithEvents(api), ofrep.WithKeepAlive(time.Hour))
	s := openStream(t, srv.Client(), srv.URL, nil)
	s.next(t)
	for rev := int64(4); rev <= 6; rev++ {
		require.NoError(t, src.Replace(t.Context(), set.WithRevision(rev)))
		assert.Equal(t, fmt.Sprintf("id: r%d\ndata: {\"type\":\"refetchEvaluation\",\"etag\":\"r%d\"}", rev, rev), s.next(t))
	}
}

func TestEventsNotOfferedWithoutAWayToLearnOfChanges(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, plainProvider{p})
	resp, err := srv.Client().Get(srv.URL + eventsPath)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestEventsClientGoneLeavesNoGoroutine(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 3)
	_, srv := newHandler(t, p, ofrep.WithRevisionPoll(time.Millisecond))
	srv.Client().Transport.(*http.Transport).DisableKeepAlives = true
	before := goleak.IgnoreCurrent()
	s := openStream(t, srv.Client(), srv.URL, nil)
	s.next(t)
	s.cancel()
	for range s.blocks {
	}
	// The stream's handler and the revision poll have returned, with the
	// handler still open.
	goleak.VerifyNone(t, before)
}

func TestEventsCloseEndsEveryStream(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, _, _, _ := revisionProvider(t, 3)
	h, srv := newHandler(t, p)
	streams := []*stream{openStream(t, srv.Client(), srv.URL, nil), openStream(t, srv.Client(), srv.URL, nil)}
	for _, s := range streams {
		s.next(t)
	}
	require.NoError(t, h.Close())
	for _, s := range streams {
		for range s.blocks { // until the server ends it
		}
	}
	require.NoError(t, h.Close(), "twice")
	resp, err := srv.Client().Get(srv.URL + eventsPath)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp, _ = do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context":{"targetingKey":"u"}}`})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "evaluations go on")
}

func TestEventsSubscriberLimit(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, _, _, _ := revisionProvider(t, 3)
	_, srv := newHandler(t, p, ofrep.WithMaxSubscribers(2), ofrep.WithRetry(3*time.Second))
	a := openStream(t, srv.Client(), srv.URL, nil)
	a.next(t)
	b := openStream(t, srv.Client(), srv.URL, nil)
	b.next(t)
	c := openStream(t, srv.Client(), srv.URL, nil)
	assert.Equal(t, http.StatusServiceUnavailable, c.resp.StatusCode)
	assert.Equal(t, "3", c.resp.Header.Get("Retry-After"))
	require.NoError(t, c.resp.Body.Close())

	a.cancel()
	for range a.blocks {
	}
	require.Eventually(t, func() bool {
		d := openStream(t, srv.Client(), srv.URL, nil)
		defer d.cancel()
		return d.resp.StatusCode == http.StatusOK
	}, 10*time.Second, 5*time.Millisecond, "a place freed")
}

// sseRecorder is a ResponseWriter for in-process streams.
type sseRecorder struct {
	mu     sync.Mutex
	header http.Header
	status int
	body   strings.Builder
	wrote  chan struct{} // closed at the first write
	once   sync.Once
}

func newRecorder() *sseRecorder {
	return &sseRecorder{header: http.Header{}, wrote: make(chan struct{})}
}

func (r *sseRecorder) Header() http.Header { return r.header }
func (r *sseRecorder) WriteHeader(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}
func (r *sseRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.once.Do(func() { close(r.wrote) })
	return r.body.Write(b)
}
func (r *sseRecorder) Flush() {}
func (r *sseRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.String()
}
func (r *sseRecorder) Status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func TestEventsTheThousandAndFirstSubscriberIsRefused(t *testing.T) {
	t.Cleanup(func() { noLeaks(t) })
	p, _, _, _ := revisionProvider(t, 3)
	h, err := ofrep.NewHandler(p)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range ofrep.DefaultMaxSubscribers {
		rec := newRecorder()
		req := httptestRequest(ctx, t)
		wg.Go(func() { h.ServeHTTP(rec, req) })
		<-rec.wrote
	}
	rec := newRecorder()
	h.ServeHTTP(rec, httptestRequest(ctx, t))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Status())
	cancel()
	wg.Wait()
	require.NoError(t, h.Close())
}

func httptestRequest(ctx context.Context, t testing.TB) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1"+eventsPath, nil)
	require.NoError(t, err)
	req.RequestURI = eventsPath
	return req
}

func TestEventsKeepAlive(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 3)
	synctest.Test(t, func(t *testing.T) {
		h, err := ofrep.NewHandler(p, ofrep.WithKeepAlive(15*time.Second))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		rec := newRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.ServeHTTP(rec, httptestRequest(ctx, t)) }()
		synctest.Wait()
		assert.Equal(t, "retry: 1000\nid: r3\n\n", rec.String())
		time.Sleep(15*time.Second - time.Nanosecond)
		synctest.Wait()
		assert.NotContains(t, rec.String(), "keep-alive", "not before 15 s")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, "retry: 1000\nid: r3\n\n: keep-alive\n\n", rec.String())
		time.Sleep(15 * time.Second)
		synctest.Wait()
		assert.Equal(t, 2, strings.Count(rec.String(), ": keep-alive\n\n"))
		cancel()
		<-done
		require.NoError(t, h.Close())
	})
}
