package ofrep_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
)

// wait bounds every wait for something to happen, so that a missing event
// fails the test instead of hanging it; things normally happen in
// milliseconds.
const wait = 10 * time.Second

func clientNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// clientFlags covers every OFREP value type, a targeted flag, a split, a
// disabled flag and one without a default variant (codeDefault).
const clientFlags = `{"flags": {
  "on":      {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
              "metadata": {"owner": "checkout", "version": 3}},
  "color":   {"state": "ENABLED", "variants": {"red": "#f00", "green": "#0f0"}, "defaultVariant": "red",
              "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "green", null]}},
  "limit":   {"state": "ENABLED", "variants": {"low": 10, "high": 1000}, "defaultVariant": "low",
              "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "high", null]}},
  "ratio":   {"state": "ENABLED", "variants": {"a": 0.25, "b": 0.75}, "defaultVariant": "a"},
  "config":  {"state": "ENABLED", "variants": {"v1": {"retries": 3, "backoff": 1.5, "hosts": ["a", "b"]}}, "defaultVariant": "v1"},
  "ramp":    {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
              "targeting": {"fractional": [["new", 50], ["old", 50]]}},
  "off":     {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "nodef":   {"state": "ENABLED", "variants": {"a": "alpha"}, "defaultVariant": null}
}}`

// fakeOFREP is an OFREP server over a real flags.Provider, speaking the
// wire format of OFREP v0.3.0 (testdata/openapi.yaml): single and bulk
// evaluation, a strong bulk ETag with If-None-Match, and an SSE stream of
// refetchEvaluation events. Knobs break it in the ways a test needs.
type fakeOFREP struct {
	t    testing.TB
	src  *flags.MemorySource
	flag *flags.Provider
	URL  string

	// intercept, when set, answers a request instead of the fake (return
	// true) or lets it through (false).
	intercept atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	// streamMode is how the bulk answer offers the stream: "endpoint"
	// (the default), "url", "origin" (an endpoint with an origin), or
	// "none".
	streamMode atomic.Pointer[string]
	streamDown atomic.Bool // new stream requests get 503

	singles, bulks, notModified, streamOpens atomic.Int64

	mu       sync.Mutex
	subs     map[chan string]struct{}
	lastBulk *http.Request
	lastBody []byte
	headers  []http.Header
}

// newFake builds the fake; t may be nil in examples, where a failure
// panics instead.
func newFake(t testing.TB, definitions string) *fakeOFREP {
	must := func(err error) {
		if err == nil {
			return
		}
		if t == nil {
			panic(err)
		}
		t.Helper()
		require.NoError(t, err)
	}
	set, err := flags.Parse([]byte(definitions))
	must(err)
	f := &fakeOFREP{t: t, src: flags.NewMemorySource(set), subs: map[chan string]struct{}{}}
	f.flag, err = flags.NewProvider(f.src)
	must(err)
	must(f.flag.InitWithContext(context.Background(), openfeature.EvaluationContext{}))
	if t != nil {
		t.Cleanup(f.flag.Shutdown)
	}
	return f
}

// serve starts the fake on 127.0.0.1.
func (f *fakeOFREP) serve(t testing.TB) *fakeOFREP {
	t.Helper()
	srv := httptest.NewServer(f)
	f.URL = srv.URL
	t.Cleanup(func() {
		f.closeStreams()
		srv.CloseClientConnections()
		srv.Close()
	})
	return f
}

// replace swaps the fake's definitions.
func (f *fakeOFREP) replace(t testing.TB, definitions string) {
	t.Helper()
	set, err := flags.Parse([]byte(definitions))
	require.NoError(t, err)
	require.NoError(t, f.src.Replace(context.Background(), set))
}

func (f *fakeOFREP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	if fn := f.intercept.Load(); fn != nil && (*fn)(w, r) {
		return
	}
	const prefix = "/ofrep/v1/evaluate/flags"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == prefix:
		f.bulk(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, prefix+"/"):
		f.single(w, r, strings.TrimPrefix(r.URL.Path, prefix+"/"))
	case r.Method == http.MethodGet && r.URL.Path == "/ofrep/v1/events":
		f.stream(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeOFREP) setIntercept(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.intercept.Store(&fn)
}

func (f *fakeOFREP) setStreamMode(m string) { f.streamMode.Store(&m) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readContext reads {"context": {...}}; false after answering 400.
func readContext(w http.ResponseWriter, r *http.Request, key string) (openfeature.FlattenedContext, []byte, bool) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Context == nil {
		fail := map[string]any{"errorCode": "INVALID_CONTEXT", "errorDetails": "the body has no context object"}
		if key != "" {
			fail["key"] = key
		}
		writeJSON(w, http.StatusBadRequest, fail)
		return nil, nil, false
	}
	return req.Context, body, true
}

// wire renders one evaluation as the spec's evaluationSuccess (with no
// value for codeDefault) or evaluationFailure.
func wire(key string, d openfeature.InterfaceResolutionDetail) map[string]any {
	if code := d.ResolutionDetail().ErrorCode; code != "" {
		return map[string]any{"key": key, "errorCode": string(code), "errorDetails": d.ResolutionDetail().ErrorMessage}
	}
	reason := string(d.Reason)
	if d.Reason == openfeature.DefaultReason {
		reason = string(openfeature.StaticReason) // the spec's enum has no DEFAULT
	}
	m := map[string]any{"key": key, "reason": reason}
	if d.Variant != "" {
		m["variant"] = d.Variant
	}
	if d.Value != nil {
		m["value"] = d.Value
	}
	if len(d.FlagMetadata) > 0 {
		m["metadata"] = d.FlagMetadata
	}
	return m
}

func (f *fakeOFREP) single(w http.ResponseWriter, r *http.Request, key string) {
	f.singles.Add(1)
	flat, _, ok := readContext(w, r, key)
	if !ok {
		return
	}
	d := f.flag.Evaluate(r.Context(), key, flat)
	switch d.ResolutionDetail().ErrorCode {
	case "":
		writeJSON(w, http.StatusOK, wire(key, d))
	case openfeature.FlagNotFoundCode:
		writeJSON(w, http.StatusNotFound, wire(key, d))
	default:
		writeJSON(w, http.StatusBadRequest, wire(key, d))
	}
}

func (f *fakeOFREP) bulk(w http.ResponseWriter, r *http.Request) {
	f.bulks.Add(1)
	flat, body, ok := readContext(w, r, "")
	if !ok {
		return
	}
	f.mu.Lock()
	f.lastBulk, f.lastBody = r.Clone(context.Background()), body
	f.mu.Unlock()
	_, evals, err := f.flag.EvaluateAll(r.Context(), flat)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"errorDetails": err.Error()})
		return
	}
	items := make([]map[string]any, len(evals))
	for i, e := range evals {
		items[i] = wire(e.Key, e.InterfaceResolutionDetail)
	}
	sum, _ := json.Marshal(struct {
		F []map[string]any
		C map[string]any
	}{items, flat})
	h := sha256.Sum256(sum)
	etag := `"` + hex.EncodeToString(h[:8]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		f.notModified.Add(1)
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	out := map[string]any{"flags": items, "metadata": map[string]any{"version": "fake"}}
	mode := "endpoint"
	if m := f.streamMode.Load(); m != nil {
		mode = *m
	}
	unknown := map[string]any{"type": "websocket", "url": "wss://ws.example.com/flags"}
	switch mode {
	case "endpoint":
		out["eventStreams"] = []any{unknown, map[string]any{"type": "sse", "endpoint": map[string]any{"requestUri": "/ofrep/v1/events?channel=c1"}, "inactivityDelaySec": 120}}
	case "origin":
		out["eventStreams"] = []any{map[string]any{"type": "sse", "endpoint": map[string]any{"origin": f.URL, "requestUri": "/ofrep/v1/events"}}}
	case "url":
		out["eventStreams"] = []any{unknown, map[string]any{"type": "sse", "url": f.URL + "/ofrep/v1/events?token=secret"}}
	}
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeOFREP) stream(w http.ResponseWriter, r *http.Request) {
	if f.streamDown.Load() {
		http.Error(w, "stream down", http.StatusServiceUnavailable)
		return
	}
	sub := make(chan string, 16)
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	f.streamOpens.Add(1)
	defer func() {
		f.mu.Lock()
		if _, ok := f.subs[sub]; ok {
			delete(f.subs, sub)
		}
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for {
		select {
		case msg, ok := <-sub:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, msg); err != nil {
				return
			}
			_ = rc.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// publish sends raw SSE text to every open stream.
func (f *fakeOFREP) publish(raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		sub <- raw
	}
}

// refetch sends the spec's refetchEvaluation event.
func (f *fakeOFREP) refetch(etag string, lastModified any) {
	data := map[string]any{"type": "refetchEvaluation"}
	if etag != "" {
		data["etag"] = etag
	}
	if lastModified != nil {
		data["lastModified"] = lastModified
	}
	b, _ := json.Marshal(data)
	f.publish("event: message\nid: evt-1\ndata: " + string(b) + "\n\n")
}

// closeStreams ends every open stream.
func (f *fakeOFREP) closeStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		close(sub)
		delete(f.subs, sub)
	}
}

func (f *fakeOFREP) openStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *fakeOFREP) lastBulkRequest() (*http.Request, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBulk, f.lastBody
}

func (f *fakeOFREP) allHeaders() []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]http.Header(nil), f.headers...)
}

// pipeNet is an in-memory network for tests inside a synctest bubble,
// where real sockets would keep time from advancing: the client dials
// net.Pipe connections that an http.Server accepts.
type pipeNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (n *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case n.conns <- server:
		return client, nil
	case <-n.closed:
		return nil, errors.New("pipe network closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipe serves h on an in-memory network and returns a client for it
// and a stop function that ends every goroutine the two started; base URL
// "http://fake.test".
func servePipe(h http.Handler) (*http.Client, func()) {
	n := &pipeNet{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(n)
	}()
	tr := &http.Transport{DialContext: n.dial, MaxIdleConnsPerHost: 16}
	return &http.Client{Transport: tr}, func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
		<-done
	}
}

const pipeURL = "http://fake.test"

// event is one provider event as the SDK's handlers saw it.
type event struct {
	typ     openfeature.EventType
	changes []string
	message string
	code    openfeature.ErrorCode
}

// harness is an isolated OpenFeature API with a provider registered and
// every provider event recorded.
type harness struct {
	api     *openfeature.EvaluationAPI
	client  *openfeature.Client
	events  chan event
	pending []event
}

func newHarness(t testing.TB, p openfeature.FeatureProvider) (*harness, error) {
	t.Helper()
	h := &harness{api: isolated.NewAPI(), events: make(chan event, 100)}
	for _, typ := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError} {
		cb := func(d openfeature.EventDetails) {
			h.events <- event{typ: typ, changes: d.FlagChanges, message: d.Message, code: d.ErrorCode}
		}
		h.api.AddHandler(typ, &cb)
	}
	t.Cleanup(func() { require.NoError(t, h.api.Shutdown(context.Background())) })
	err := h.api.SetProviderAndWait(context.Background(), p)
	h.client = h.api.NewClient()
	return h, err
}

// next waits for the next event of type typ. The SDK runs each handler on
// a goroutine of its own, so events of different types may arrive out of
// order.
func (h *harness) next(t testing.TB, typ openfeature.EventType) event {
	t.Helper()
	for i, ev := range h.pending {
		if ev.typ == typ {
			h.pending = append(h.pending[:i], h.pending[i+1:]...)
			return ev
		}
	}
	deadline := time.After(wait)
	for {
		select {
		case ev := <-h.events:
			if ev.typ == typ {
				return ev
			}
			h.pending = append(h.pending, ev)
		case <-deadline:
			t.Fatalf("no %s event within %v; other events: %v", typ, wait, h.pending)
		}
	}
}

// none checks that no event of type typ has arrived so far.
func (h *harness) none(t testing.TB, typ openfeature.EventType) {
	t.Helper()
	for {
		select {
		case ev := <-h.events:
			h.pending = append(h.pending, ev)
			continue
		default:
		}
		break
	}
	for _, ev := range h.pending {
		require.NotEqual(t, typ, ev.typ, "unexpected %s event: %+v", typ, ev)
	}
}

func userCtx() openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext("user-1", map[string]any{"email": "ann@example.com", "plan": "pro"})
}

func (f *fakeOFREP) String() string { return fmt.Sprintf("fake OFREP at %s", f.URL) }
