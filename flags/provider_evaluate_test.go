package flags_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

const anyKinds = `{"flags": {
  "b": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "s": {"state": "ENABLED", "variants": {"x": "ex", "y": "why"}, "defaultVariant": "y"},
  "i": {"state": "ENABLED", "variants": {"one": 1, "two": 2}, "defaultVariant": "two"},
  "f": {"state": "ENABLED", "variants": {"half": 0.5}, "defaultVariant": "half"},
  "o": {"state": "ENABLED", "variants": {"cfg": {"size": 3}}, "defaultVariant": "cfg"},
  "off": {"state": "DISABLED", "variants": {"on": true}, "defaultVariant": "on"},
  "nodefault": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": null},
  "rule": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]}},
  "broken": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "nope"}
}}`

func TestProviderEvaluatesAnyKind(t *testing.T) {
	set, err := flags.Parse([]byte(anyKinds))
	require.Error(t, err, "broken is invalid")
	p, err := flags.NewProvider(flags.NewMemorySource(set.WithRevision(4)))
	require.NoError(t, err)
	ctx := context.Background()
	_, _, err = p.EvaluateAll(ctx, nil)
	var re openfeature.ResolutionError
	require.ErrorAs(t, err, &re, "not ready before Init")
	assert.Contains(t, err.Error(), "PROVIDER_NOT_READY")
	_, err = newHarness(t, p)
	require.NoError(t, err)

	flat := openfeature.FlattenedContext{"targetingKey": "u1", "plan": "pro"}
	cases := []struct {
		key     string
		value   any
		variant string
		reason  openfeature.Reason
		code    openfeature.ErrorCode
	}{
		{"b", true, "on", openfeature.StaticReason, ""},
		{"s", "why", "y", openfeature.StaticReason, ""},
		{"i", int64(2), "two", openfeature.StaticReason, ""},
		{"f", 0.5, "half", openfeature.StaticReason, ""},
		{"o", map[string]any{"size": int64(3)}, "cfg", openfeature.StaticReason, ""},
		{"off", nil, "", openfeature.DisabledReason, ""},
		{"nodefault", nil, "", openfeature.DefaultReason, ""},
		{"rule", true, "on", openfeature.TargetingMatchReason, ""},
		{"broken", nil, "", openfeature.ErrorReason, openfeature.ParseErrorCode},
		{"missing", nil, "", openfeature.ErrorReason, openfeature.FlagNotFoundCode},
	}
	for _, tc := range cases {
		d := p.Evaluate(ctx, tc.key, flat)
		assert.Equal(t, tc.value, d.Value, tc.key)
		assert.Equal(t, tc.variant, d.Variant, tc.key)
		assert.Equal(t, tc.reason, d.Reason, tc.key)
		assert.Equal(t, tc.code, d.ResolutionDetail().ErrorCode, tc.key)
	}

	rev, all, err := p.EvaluateAll(ctx, flat)
	require.NoError(t, err)
	assert.Equal(t, int64(4), rev)
	var keys []string
	for _, e := range all {
		keys = append(keys, e.Key)
		assert.Equal(t, p.Evaluate(ctx, e.Key, flat), e.InterfaceResolutionDetail, e.Key)
	}
	assert.Equal(t, []string{"b", "broken", "f", "i", "nodefault", "o", "off", "rule", "s"}, keys, "sorted, the invalid flag among them")
}
