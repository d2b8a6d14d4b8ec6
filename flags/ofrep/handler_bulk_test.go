package ofrep_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

const bulkPath = "/ofrep/v1/evaluate/flags"

func TestBulkEvaluatesEveryFlag(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 1) // a revision to watch: the stream is offered
	_, srv := newHandler(t, p)
	resp, body := do(t, srv, call{path: bulkPath, body: `{"context": {"targetingKey": "u", "plan": "pro"}}`})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("ETag"))
	var got ofrep.BulkResponse
	require.NoError(t, json.Unmarshal(body, &got))
	keys := make([]string, 0, len(got.Flags))
	byKey := map[string]ofrep.EvaluationResult{}
	for _, f := range got.Flags {
		keys = append(keys, f.Key)
		byKey[f.Key] = f
	}
	assert.Equal(t, []string{"bool-static", "broken-rule", "color", "config", "count", "killed", "no-default", "ratio", "rollout"}, keys)
	assert.Equal(t, "blue", byKey["color"].Value)
	assert.Equal(t, "GENERAL", byKey["broken-rule"].ErrorCode, "per-flag failures inside the 200")
	assert.Nil(t, byKey["killed"].Value)
	assert.Equal(t, []ofrep.EventStream{{Type: "sse", Endpoint: &ofrep.EventStreamEndpoint{RequestURI: "/ofrep/v1/events"}}}, got.EventStreams)

	resp, body = do(t, srv, call{path: bulkPath, body: `{"context": 3}`, lenient: true})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.JSONEq(t, `{"errorCode":"INVALID_CONTEXT","errorDetails":"context must be an object, not a number"}`, string(body))
	resp, body = do(t, srv, call{path: bulkPath, body: `{`, lenient: true})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), `"errorCode":"PARSE_ERROR"`)
}

func TestBulkEventStreamKeepsTheMountPrefix(t *testing.T) {
	p, _, _, _ := revisionProvider(t, 1)
	h, err := ofrep.NewHandler(p)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/svc/", http.StripPrefix("/svc", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { require.NoError(t, h.Close()); srv.Close() })

	resp, err := srv.Client().Post(srv.URL+"/svc"+bulkPath, "application/json", strings.NewReader(`{"context":{"targetingKey":"u"}}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got ofrep.BulkResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.EventStreams, 1)
	assert.Equal(t, "/svc/ofrep/v1/events", got.EventStreams[0].Endpoint.RequestURI)

	h2, err := ofrep.NewHandler(p, ofrep.WithEventsURI("/elsewhere/events?x=1"))
	require.NoError(t, err)
	srv2 := serve(t, h2)
	_, body := do(t, srv2, call{path: bulkPath, body: `{"context":{"targetingKey":"u"}}`})
	assert.Contains(t, string(body), `"requestUri":"/elsewhere/events?x=1"`)
}

// countingProvider counts bulk evaluations.
type countingProvider struct {
	*flags.Provider
	bulk atomic.Int64
}

func (c *countingProvider) EvaluateAll(ctx context.Context, flat openfeature.FlattenedContext) (int64, []flags.Evaluation, error) {
	c.bulk.Add(1)
	return c.Provider.EvaluateAll(ctx, flat)
}

func TestBulkETagFromTheRevision(t *testing.T) {
	p, src, _ := newProvider(t, testFlags)
	set, err := parse(testFlags)
	require.NoError(t, err)
	require.NoError(t, src.Replace(t.Context(), set.WithRevision(3)))
	cp := &countingProvider{Provider: p}
	_, srv := newHandler(t, cp)
	ann := `{"context": {"targetingKey": "ann", "plan": "pro"}}`

	resp, _ := do(t, srv, call{path: bulkPath, body: ann})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	require.True(t, strings.HasPrefix(etag, `"r3-`), etag)
	require.Equal(t, int64(1), cp.bulk.Load())

	resp, body := do(t, srv, call{path: bulkPath, body: ann, header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, etag, resp.Header.Get("ETag"))
	assert.Equal(t, int64(1), cp.bulk.Load(), "304 without evaluating")

	// The same context with its keys in another order is the same context.
	resp, _ = do(t, srv, call{path: bulkPath, body: `{"context": {"plan": "pro", "targetingKey": "ann"}}`, header: map[string]string{"If-None-Match": `"x", W/` + etag}})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	resp, _ = do(t, srv, call{path: bulkPath, body: `{"context": {"targetingKey": "bob"}}`, header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "another context")
	assert.NotEqual(t, etag, resp.Header.Get("ETag"))

	require.NoError(t, src.Replace(t.Context(), set.WithRevision(4)))
	resp, _ = do(t, srv, call{path: bulkPath, body: ann, header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a flag changed")
	assert.True(t, strings.HasPrefix(resp.Header.Get("ETag"), `"r4-`))
}

func TestBulkETagWithoutRevision(t *testing.T) {
	p, src, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p)
	ctx := `{"context": {"targetingKey": "ann"}}`
	resp, _ := do(t, srv, call{path: bulkPath, body: ctx})
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, _ = do(t, srv, call{path: bulkPath, body: ctx, header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	require.NoError(t, src.SetState(t.Context(), "color", flags.Disabled))
	resp, _ = do(t, srv, call{path: bulkPath, body: ctx, header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEqual(t, etag, resp.Header.Get("ETag"))
}

func TestAnyProviderEvaluatedByType(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	plain := plainProvider{p}
	_, srvRich := newHandler(t, p)
	_, srvPlain := newHandler(t, plain)
	for _, key := range []string{"bool-static", "color", "count", "ratio", "config", "killed", "no-default", "nope", "broken-rule"} {
		c := call{path: "/ofrep/v1/evaluate/flags/" + key, body: `{"context": {"targetingKey": "u", "plan": "pro"}}`}
		wantResp, want := do(t, srvRich, c)
		gotResp, got := do(t, srvPlain, c)
		assert.Equal(t, wantResp.StatusCode, gotResp.StatusCode, key)
		assert.JSONEq(t, string(want), string(got), key)
	}

	resp, body := do(t, srvPlain, call{path: bulkPath, body: `{"context": {"targetingKey": "u"}}`, unchecked: true})
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	assert.Contains(t, string(body), "cannot list its flags")

	_, srvKeys := newHandler(t, plain, ofrep.WithFlagKeys(func() []string { return []string{"count", "gone", "color"} }))
	resp, body = do(t, srvKeys, call{path: bulkPath, body: `{"context": {"targetingKey": "u"}}`})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got ofrep.BulkResponse
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.Flags, 2, "the key the provider lacks is left out")
	assert.Equal(t, "count", got.Flags[0].Key)
	assert.EqualValues(t, 3, got.Flags[0].Value)
	assert.Equal(t, "red", got.Flags[1].Value)
	assert.Empty(t, got.EventStreams, "no way to learn of changes: no stream offered")
}
