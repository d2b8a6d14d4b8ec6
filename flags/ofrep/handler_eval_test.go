package ofrep_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

func TestEvaluateSingleFlag(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p)
	const anyone = `{"context": {"targetingKey": "user-1"}}`
	for _, tc := range []struct {
		name    string
		key     string
		body    string
		lenient bool
		status  int
		want    string // the answer, as JSON
	}{
		{"static bool with metadata", "bool-static", anyone, false, 200,
			`{"key":"bool-static","value":true,"reason":"STATIC","variant":"on","metadata":{"owner":"ann","team":"checkout","ticket":12}}`},
		{"targeting match", "color", `{"context": {"targetingKey": "u", "plan": "pro"}}`, false, 200,
			`{"key":"color","value":"blue","reason":"TARGETING_MATCH","variant":"blue","metadata":{"team":"checkout"}}`},
		{"rule chose nothing: DEFAULT is STATIC", "color", anyone, false, 200,
			`{"key":"color","value":"red","reason":"STATIC","variant":"red","metadata":{"team":"checkout"}}`},
		{"integer", "count", anyone, false, 200,
			`{"key":"count","value":3,"reason":"STATIC","variant":"low","metadata":{"team":"checkout"}}`},
		{"float", "ratio", anyone, false, 200,
			`{"key":"ratio","value":0.75,"reason":"STATIC","variant":"b","metadata":{"team":"checkout"}}`},
		{"object", "config", anyone, false, 200,
			`{"key":"config","value":{"size":1,"tags":["x"]},"reason":"STATIC","variant":"v1","metadata":{"team":"checkout"}}`},
		{"disabled: code default", "killed", anyone, false, 200,
			`{"key":"killed","reason":"DISABLED","metadata":{"team":"checkout"}}`},
		{"no default variant: code default", "no-default", anyone, false, 200,
			`{"key":"no-default","reason":"STATIC","metadata":{"team":"checkout"}}`},
		{"without targetingKey, evaluated as flagd does", "rollout", `{"context": {}}`, true, 200,
			`{"key":"rollout","value":false,"reason":"STATIC","variant":"off","metadata":{"team":"checkout"}}`},
		{"not found", "nope", anyone, false, 404,
			`{"key":"nope","errorCode":"FLAG_NOT_FOUND","errorDetails":"flag \"nope\" not found"}`},
		{"rule error is GENERAL", "broken-rule", anyone, false, 400,
			`{"key":"broken-rule","errorCode":"GENERAL","errorDetails":"targeting of flag \"broken-rule\" chose variant \"missing-variant\", which the flag does not have","metadata":{"team":"checkout"}}`},
		{"not JSON", "color", `{"context": `, true, 400,
			`{"key":"color","errorCode":"PARSE_ERROR","errorDetails":"request body is not JSON: unexpected end of JSON input at offset 12"}`},
		{"empty body", "color", ``, true, 400,
			`{"key":"color","errorCode":"PARSE_ERROR","errorDetails":"request body is empty: it must be a JSON object with a \"context\" object"}`},
		{"body an array", "color", `[1]`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"request body must be a JSON object, not an array"}`},
		{"no context", "color", `{"ctx": {}}`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"request body has no \"context\""}`},
		{"context null", "color", `{"context": null}`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"context must be an object, not null"}`},
		{"context a string", "color", `{"context": "u"}`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"context must be an object, not a string"}`},
		{"targetingKey a number", "color", `{"context": {"targetingKey": 7}}`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"context.targetingKey must be a string, not a number"}`},
		{"context too deep", "color", `{"context": {"targetingKey": "u", "a": [[[[[[[[[[1]]]]]]]]]]}}`, true, 400,
			`{"key":"color","errorCode":"INVALID_CONTEXT","errorDetails":"context nests 11 deep, over the limit of 10"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/" + tc.key, body: tc.body, lenient: tc.lenient})
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.JSONEq(t, tc.want, string(body))
		})
	}
}

func TestEvaluateSplitAnswersAsTheProvider(t *testing.T) {
	p, _, api := newProvider(t, testFlags)
	_, srv := newHandler(t, p)
	client := api.NewClient()
	seen := map[bool]bool{}
	for _, user := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		resp, body := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/rollout", body: `{"context": {"targetingKey": "` + user + `"}}`})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var got ofrep.EvaluationResult
		require.NoError(t, json.Unmarshal(body, &got))
		want, err := client.BooleanValueDetails(t.Context(), "rollout", false, evalCtx(user))
		require.NoError(t, err)
		assert.Equal(t, want.Value, got.Value, user)
		assert.Equal(t, "SPLIT", got.Reason)
		seen[want.Value] = true
	}
	assert.Len(t, seen, 2, "both arms of the split")
}

func TestEvaluateRefusesLargeBodies(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p, ofrep.WithMaxBodyBytes(64))
	big := `{"context": {"targetingKey": "u", "pad": "` + strings.Repeat("x", 100) + `"}}`
	for _, path := range []string{"/ofrep/v1/evaluate/flags/color", "/ofrep/v1/evaluate/flags"} {
		// Announced by Content-Length, and streamed without one.
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(big))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, path)

		resp, err = srv.Client().Post(srv.URL+path, "application/json", struct{ *strings.Reader }{strings.NewReader(big)})
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, path+" chunked")
	}
	resp, _ := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context": {"targetingKey": "u"}}`})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a body under the limit")
}

func TestEvaluateContextDepthOption(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p, ofrep.WithMaxContextDepth(2))
	resp, _ := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context": {"targetingKey": "u", "a": {"b": 1}}}`})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context": {"targetingKey": "u", "a": {"b": ["[{"]}}}`, lenient: true})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "context nests 3 deep, over the limit of 2")
}

func TestEvaluateProviderNotReady(t *testing.T) {
	set, err := parse(testFlags)
	require.NoError(t, err)
	p := unregistered(t, set)
	_, srv := newHandler(t, p)
	resp, body := do(t, srv, call{path: "/ofrep/v1/evaluate/flags/color", body: `{"context": {"targetingKey": "u"}}`})
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.JSONEq(t, `{"errorDetails":"flag \"color\": PROVIDER_NOT_READY: flag definitions not loaded: the provider is not initialised"}`, string(body))
	resp, body = do(t, srv, call{path: "/ofrep/v1/evaluate/flags", body: `{"context": {"targetingKey": "u"}}`})
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, string(body), "PROVIDER_NOT_READY")
}

func TestRoutesAndMethods(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, srv := newHandler(t, p)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/ofrep/v1/evaluate/flags/color", http.StatusMethodNotAllowed},
		{http.MethodGet, "/ofrep/v1/evaluate/flags", http.StatusMethodNotAllowed},
		{http.MethodPost, "/ofrep/v1/events", http.StatusMethodNotAllowed},
		{http.MethodPost, "/ofrep/v2/evaluate/flags", http.StatusNotFound},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"context":{}}`))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, tc.status, resp.StatusCode, tc.method+" "+tc.path)
	}
}

func TestNewHandlerRefusesBadArguments(t *testing.T) {
	p, _, _ := newProvider(t, testFlags)
	_, err := ofrep.NewHandler(nil)
	require.ErrorContains(t, err, "nil provider")
	for name, opt := range map[string]ofrep.Option{
		"nil option":      nil,
		"nil logger":      ofrep.WithLogger(nil),
		"nil authorizer":  ofrep.WithAuthorizer(nil),
		"zero rate":       ofrep.WithRateLimit(0, 1),
		"zero burst":      ofrep.WithRateLimit(1, 0),
		"zero limiters":   ofrep.WithMaxRateLimiters(0),
		"nil clock":       ofrep.WithClock(nil),
		"zero body":       ofrep.WithMaxBodyBytes(0),
		"zero depth":      ofrep.WithMaxContextDepth(0),
		"nil keys":        ofrep.WithFlagKeys(nil),
		"nil events":      ofrep.WithEvents(nil),
		"zero poll":       ofrep.WithRevisionPoll(0),
		"zero keep-alive": ofrep.WithKeepAlive(0),
		"zero retry":      ofrep.WithRetry(0),
		"zero streams":    ofrep.WithMaxSubscribers(0),
		"relative uri":    ofrep.WithEventsURI("events"),
		"zero write":      ofrep.WithStreamWriteTimeout(0),
	} {
		_, err := ofrep.NewHandler(p, opt)
		assert.Error(t, err, name)
	}
}
