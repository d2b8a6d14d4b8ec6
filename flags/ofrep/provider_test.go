package ofrep_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/ofrep"
)

func TestDynamicEveryType(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	p, err := ofrep.NewProvider(f.URL)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx, ec := context.Background(), userCtx()

	b, err := h.client.BooleanValueDetails(ctx, "on", false, ec)
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, "on", b.Variant)
	assert.Equal(t, openfeature.StaticReason, b.Reason)
	owner, err := b.FlagMetadata.GetString("owner")
	require.NoError(t, err)
	assert.Equal(t, "checkout", owner)
	version, err := b.FlagMetadata.GetInt("version")
	require.NoError(t, err)
	assert.Equal(t, int64(3), version)

	s, err := h.client.StringValueDetails(ctx, "color", "none", ec)
	require.NoError(t, err)
	assert.Equal(t, "#0f0", s.Value)
	assert.Equal(t, openfeature.TargetingMatchReason, s.Reason)

	i, err := h.client.IntValue(ctx, "limit", 0, ec)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), i)

	fl, err := h.client.FloatValue(ctx, "ratio", 0, ec)
	require.NoError(t, err)
	assert.Equal(t, 0.25, fl)
	fl, err = h.client.FloatValue(ctx, "limit", 0, ec) // an int answers a float call
	require.NoError(t, err)
	assert.Equal(t, 1000.0, fl)

	o, err := h.client.ObjectValue(ctx, "config", nil, ec)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"retries": int64(3), "backoff": 1.5, "hosts": []any{"a", "b"}}, o)

	split, err := h.client.BooleanValueDetails(ctx, "ramp", false, ec)
	require.NoError(t, err)
	assert.Equal(t, openfeature.SplitReason, split.Reason)

	// The answers are the in-process provider's for the same context.
	for _, key := range []string{"on", "color", "limit", "ratio", "config", "ramp"} {
		local := f.flag.Evaluate(ctx, key, openfeature.FlattenedContext{"targetingKey": "user-1", "email": "ann@example.com", "plan": "pro"})
		remote := p.ObjectEvaluation(ctx, key, nil, openfeature.FlattenedContext{"targetingKey": "user-1", "email": "ann@example.com", "plan": "pro"})
		if _, isObject := local.Value.(map[string]any); !isObject {
			assert.Equal(t, openfeature.TypeMismatchCode, remote.ResolutionDetail().ErrorCode, key)
			continue
		}
		assert.Equal(t, local.Value, remote.Value, key)
	}
}

func TestDynamicCodeDefaultAndErrors(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	p, err := ofrep.NewProvider(f.URL)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx, ec := context.Background(), userCtx()

	// codeDefault: the caller's default, the server's reason, no error.
	d, err := h.client.BooleanValueDetails(ctx, "off", false, ec)
	require.NoError(t, err)
	assert.False(t, d.Value)
	assert.Equal(t, openfeature.DisabledReason, d.Reason)
	assert.Empty(t, d.ErrorCode)
	sd, err := h.client.StringValueDetails(ctx, "nodef", "mine", ec)
	require.NoError(t, err)
	assert.Equal(t, "mine", sd.Value)

	// Missing flag: 404 → FLAG_NOT_FOUND.
	d, err = h.client.BooleanValueDetails(ctx, "missing", true, ec)
	require.Error(t, err)
	assert.True(t, d.Value)
	assert.Equal(t, openfeature.FlagNotFoundCode, d.ErrorCode)

	// The value's type is not the call's.
	i, err := h.client.IntValueDetails(ctx, "on", 7, ec)
	require.Error(t, err)
	assert.Equal(t, int64(7), i.Value)
	assert.Equal(t, openfeature.TypeMismatchCode, i.ErrorCode)
	i, err = h.client.IntValueDetails(ctx, "ratio", 7, ec)
	require.Error(t, err)
	assert.Equal(t, int64(7), i.Value, "0.25 is not whole")
	assert.Equal(t, openfeature.TypeMismatchCode, i.ErrorCode)
	b, err := h.client.BooleanValueDetails(ctx, "color", true, ec)
	require.Error(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, openfeature.TypeMismatchCode, b.ErrorCode)
	o, err := h.client.ObjectValueDetails(ctx, "color", "dflt", ec)
	require.Error(t, err)
	assert.Equal(t, "dflt", o.Value)
	assert.Equal(t, openfeature.TypeMismatchCode, o.ErrorCode)
}

func TestDynamicErrorCodesMapped(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	for _, code := range []openfeature.ErrorCode{
		openfeature.ParseErrorCode, openfeature.TargetingKeyMissingCode, openfeature.InvalidContextCode,
		openfeature.GeneralCode, openfeature.FlagNotFoundCode,
	} {
		t.Run(string(code), func(t *testing.T) {
			f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				writeJSON(w, http.StatusBadRequest, map[string]any{"key": "on", "errorCode": string(code), "errorDetails": "told so"})
				return true
			})
			p, err := ofrep.NewProvider(f.URL)
			require.NoError(t, err)
			d := p.BooleanEvaluation(context.Background(), "on", true, openfeature.FlattenedContext{"targetingKey": "u"})
			assert.True(t, d.Value)
			assert.Equal(t, code, d.ResolutionDetail().ErrorCode)
			assert.Contains(t, d.ResolutionDetail().ErrorMessage, "told so")
			assert.Equal(t, openfeature.ErrorReason, d.Reason)
			p.Shutdown()
		})
	}
	t.Run("unknown code is GENERAL", func(t *testing.T) {
		f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			writeJSON(w, http.StatusBadRequest, map[string]any{"key": "on", "errorCode": "PROVIDER_FATAL", "errorDetails": "x"})
			return true
		})
		p, err := ofrep.NewProvider(f.URL)
		require.NoError(t, err)
		d := p.BooleanEvaluation(context.Background(), "on", true, nil)
		assert.Equal(t, openfeature.GeneralCode, d.ResolutionDetail().ErrorCode)
		p.Shutdown()
	})
}

func TestDynamicRequestShape(t *testing.T) {
	clientNoLeaks(t)
	f := newFake(t, clientFlags).serve(t)
	var got *http.Request
	var body []byte
	f.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		got = r.Clone(context.Background())
		flat, b, ok := readContext(w, r, "a b")
		if ok {
			body = b
			assert.Equal(t, "user-1", flat["targetingKey"])
			writeJSON(w, http.StatusOK, map[string]any{"key": "a b", "value": true, "reason": "STATIC"})
		}
		return true
	})
	p, err := ofrep.NewProvider(f.URL+"/", ofrep.WithBearerToken("tok"), ofrep.WithHeader("X-Tenant", "t1"))
	require.NoError(t, err)
	defer p.Shutdown()
	d := p.BooleanEvaluation(context.Background(), "a b", false, openfeature.FlattenedContext{"targetingKey": "user-1", "n": 2})
	require.True(t, d.Value, d.ResolutionError)
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/ofrep/v1/evaluate/flags/a%20b", got.URL.EscapedPath())
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "Bearer tok", got.Header.Get("Authorization"))
	assert.Equal(t, "t1", got.Header.Get("X-Tenant"))
	assert.JSONEq(t, `{"context": {"targetingKey": "user-1", "n": 2}}`, string(body))
}
