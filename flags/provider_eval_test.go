package flags_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/murmur3"

	"github.com/rollsafe/rollsafe/flags"
)

// pvSet parses testdata/flags.json.
func pvSet(t testing.TB) *flags.Set {
	t.Helper()
	data, err := os.ReadFile("testdata/flags.json")
	require.NoError(t, err)
	set, err := flags.Parse(data)
	require.NoError(t, err)
	return set
}

// pvClient registers p with a fresh isolated OpenFeature API and returns a
// client of it; the API shuts down (and with it p) when the test ends.
func pvClient(t testing.TB, p openfeature.FeatureProvider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	return api.NewClient()
}

// bucketOf computes, from the definition of fractional bucketing, which of
// weights the hashed value falls in.
func bucketOf(value string, weights ...flags.Weight) string {
	var total uint64
	for _, w := range weights {
		total += uint64(w.Weight)
	}
	bucket := (uint64(murmur3.StringSum32(value)) * total) >> 32
	var upto uint64
	for _, w := range weights {
		upto += uint64(w.Weight)
		if bucket < upto {
			return w.Variant
		}
	}
	return ""
}

type evalCase struct {
	name    string
	kind    string // bool, string, int, float, object
	key     string
	def     any
	ctx     openfeature.EvaluationContext
	want    any
	variant string
	reason  openfeature.Reason
	code    openfeature.ErrorCode // empty: no error
}

func evalDetails(t *testing.T, c *openfeature.Client, tc evalCase) (any, openfeature.EvaluationDetails, error) {
	t.Helper()
	ctx := context.Background()
	switch tc.kind {
	case "bool":
		d, err := c.BooleanValueDetails(ctx, tc.key, tc.def.(bool), tc.ctx)
		return d.Value, d.EvaluationDetails, err
	case "string":
		d, err := c.StringValueDetails(ctx, tc.key, tc.def.(string), tc.ctx)
		return d.Value, d.EvaluationDetails, err
	case "int":
		d, err := c.IntValueDetails(ctx, tc.key, tc.def.(int64), tc.ctx)
		return d.Value, d.EvaluationDetails, err
	case "float":
		d, err := c.FloatValueDetails(ctx, tc.key, tc.def.(float64), tc.ctx)
		return d.Value, d.EvaluationDetails, err
	case "object":
		d, err := c.ObjectValueDetails(ctx, tc.key, tc.def, tc.ctx)
		return d.Value, d.EvaluationDetails, err
	}
	t.Fatalf("unknown kind %q", tc.kind)
	return nil, openfeature.EvaluationDetails{}, nil
}

func TestEvaluationReasonsAndErrors(t *testing.T) {
	ts := time.Unix(1_700_000_000, 0)
	p, err := flags.NewProvider(flags.NewMemorySource(pvSet(t)), flags.WithClock(func() time.Time { return ts }))
	require.NoError(t, err)
	client := pvClient(t, p)

	user := func(key string, attrs map[string]any) openfeature.EvaluationContext {
		return openfeature.NewEvaluationContext(key, attrs)
	}
	none := openfeature.EvaluationContext{}
	ramp := []flags.Weight{{Variant: "new", Weight: 10}, {Variant: "old", Weight: 90}}
	rampNew := map[string]bool{"new": true, "old": false}
	half := []flags.Weight{{Variant: "a", Weight: 50}, {Variant: "b", Weight: 50}}
	halfVal := map[string]string{"a": "A", "b": "B"}
	xy := []flags.Weight{{Variant: "x", Weight: 1}, {Variant: "y", Weight: 1}}
	xyVal := map[string]int64{"x": 1, "y": 2}

	tests := []evalCase{
		{name: "static", kind: "bool", key: "static-on", def: false, ctx: none, want: true, variant: "on", reason: openfeature.StaticReason},
		{name: "disabled gives the code default without error", kind: "bool", key: "disabled", def: false, ctx: none, want: false, reason: openfeature.DisabledReason},
		{name: "no default variant gives the code default", kind: "string", key: "no-default", def: "code", ctx: none, want: "code", reason: openfeature.DefaultReason},
		{name: "shared rule by $ref with ends_with", kind: "string", key: "color", def: "", ctx: user("u1", map[string]any{"email": "ann@example.com"}), want: "#0f0", variant: "green", reason: openfeature.TargetingMatchReason},
		{name: "starts_with", kind: "string", key: "color", def: "", ctx: user("u2", map[string]any{"email": "admin@corp.org"}), want: "#00f", variant: "blue", reason: openfeature.TargetingMatchReason},
		{name: "targeting null gives the default variant", kind: "string", key: "color", def: "", ctx: user("u3", map[string]any{"email": "bob@corp.org"}), want: "#f00", variant: "red", reason: openfeature.DefaultReason},
		{name: "sem_ver matches", kind: "bool", key: "new-api", def: false, ctx: user("u", map[string]any{"appVersion": "2.1.0"}), want: true, variant: "on", reason: openfeature.TargetingMatchReason},
		{name: "sem_ver below", kind: "bool", key: "new-api", def: true, ctx: user("u", map[string]any{"appVersion": "1.9.9"}), want: false, variant: "off", reason: openfeature.TargetingMatchReason},
		{name: "sem_ver on a non-version is false", kind: "bool", key: "new-api", def: true, ctx: user("u", map[string]any{"appVersion": "latest"}), want: false, variant: "off", reason: openfeature.TargetingMatchReason},
		{name: "fractional by targeting key", kind: "bool", key: "checkout-ramp", def: false, ctx: user("user-42", nil),
			want: rampNew[bucketOf("checkout-ramp"+"user-42", ramp...)], variant: bucketOf("checkout-ramp"+"user-42", ramp...), reason: openfeature.SplitReason},
		{name: "fractional without targeting key gives the default variant", kind: "bool", key: "checkout-ramp", def: true, ctx: none, want: false, variant: "old", reason: openfeature.DefaultReason},
		{name: "fractional by bucketing expression", kind: "string", key: "by-company", def: "", ctx: user("user-1", map[string]any{"company": "acme"}),
			want: halfVal[bucketOf("acme", half...)], variant: bucketOf("acme", half...), reason: openfeature.SplitReason},
		{name: "fractional bucketing expression missing falls back to the targeting key", kind: "string", key: "by-company", def: "", ctx: user("user-1", nil),
			want: halfVal[bucketOf("by-company"+"user-1", half...)], variant: bucketOf("by-company"+"user-1", half...), reason: openfeature.SplitReason},
		{name: "fractional inside if", kind: "int", key: "split-for-beta", def: int64(0), ctx: user("k9", map[string]any{"beta": true}),
			want: xyVal[bucketOf("split-for-beta"+"k9", xy...)], variant: bucketOf("split-for-beta"+"k9", xy...), reason: openfeature.SplitReason},
		{name: "literal branch next to a fractional", kind: "int", key: "split-for-beta", def: int64(0), ctx: user("k9", map[string]any{"beta": false}), want: int64(3), variant: "z", reason: openfeature.TargetingMatchReason},
		{name: "int", kind: "int", key: "limits", def: int64(0), ctx: user("u", map[string]any{"plan": "pro"}), want: int64(1000), variant: "large", reason: openfeature.TargetingMatchReason},
		{name: "whole number as float", kind: "float", key: "limits", def: 0.0, ctx: user("u", map[string]any{"plan": "pro"}), want: 1000.0, variant: "large", reason: openfeature.TargetingMatchReason},
		{name: "fraction as float", kind: "float", key: "limits", def: 0.0, ctx: user("u", map[string]any{"plan": "odd"}), want: 2.5, variant: "fraction", reason: openfeature.TargetingMatchReason},
		{name: "fraction as int is a type mismatch", kind: "int", key: "limits", def: int64(7), ctx: user("u", map[string]any{"plan": "odd"}), want: int64(7), reason: openfeature.ErrorReason, code: openfeature.TypeMismatchCode},
		{name: "object", kind: "object", key: "theme", def: nil, ctx: none, want: map[string]any{"bg": "#fff", "contrast": 4.5}, variant: "light", reason: openfeature.StaticReason},
		{name: "$flagd.timestamp", kind: "bool", key: "expiring", def: false, ctx: none, want: true, variant: "on", reason: openfeature.TargetingMatchReason},
		{name: "$flagd.flagKey", kind: "string", key: "self-named", def: "", ctx: none, want: "y", variant: "yes", reason: openfeature.TargetingMatchReason},
		{name: "boolean targeting result names a variant", kind: "string", key: "bool-result", def: "", ctx: user("u", map[string]any{"tier": "gold"}), want: "T", variant: "true", reason: openfeature.TargetingMatchReason},
		{name: "bare sem_ver", kind: "string", key: "semver-bare", def: "", ctx: user("u", map[string]any{"appVersion": "v2.1"}), want: "modern", variant: "true", reason: openfeature.TargetingMatchReason},
		{name: "sem_ver on a non-version answers null: default variant", kind: "string", key: "semver-bare", def: "", ctx: user("u", map[string]any{"appVersion": "latest"}), want: "legacy", variant: "false", reason: openfeature.DefaultReason},
		{name: "targeting result that is no variant", kind: "bool", key: "ghost-variant", def: true, ctx: user("u", map[string]any{"suffix": "x"}), want: true, reason: openfeature.ErrorReason, code: openfeature.GeneralCode},
		{name: "computed variant name", kind: "bool", key: "ghost-variant", def: false, ctx: user("u", map[string]any{"suffix": "n"}), want: true, variant: "on", reason: openfeature.TargetingMatchReason},
		{name: "unknown flag", kind: "bool", key: "nope", def: true, ctx: none, want: true, reason: openfeature.ErrorReason, code: openfeature.FlagNotFoundCode},
		{name: "wrong type", kind: "bool", key: "color", def: true, ctx: none, want: true, reason: openfeature.ErrorReason, code: openfeature.TypeMismatchCode},
		{name: "object call on a boolean flag", kind: "object", key: "static-on", def: "d", ctx: none, want: "d", reason: openfeature.ErrorReason, code: openfeature.TypeMismatchCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, d, err := evalDetails(t, client, tc)
			assert.Equal(t, tc.want, v)
			assert.Equal(t, tc.reason, d.Reason)
			assert.Equal(t, tc.variant, d.Variant)
			if tc.code == "" {
				assert.NoError(t, err)
				assert.Empty(t, d.ErrorCode)
			} else {
				assert.Error(t, err)
				assert.Equal(t, tc.code, d.ErrorCode)
			}
		})
	}
}

func TestEvaluationMetadataMergesSetAndFlag(t *testing.T) {
	p, err := flags.NewProvider(flags.NewMemorySource(pvSet(t)))
	require.NoError(t, err)
	client := pvClient(t, p)
	d, err := client.StringValueDetails(context.Background(), "color", "", openfeature.EvaluationContext{})
	require.NoError(t, err)
	owner, err := d.FlagMetadata.GetString("owner")
	require.NoError(t, err)
	assert.Equal(t, "design", owner)
	team, err := d.FlagMetadata.GetString("team")
	require.NoError(t, err)
	assert.Equal(t, "checkout", team)
	version, err := d.FlagMetadata.GetInt("version")
	require.NoError(t, err)
	assert.Equal(t, int64(4), version, "the flag's metadata wins over the set's")
}

func TestTimestampFollowsTheClock(t *testing.T) {
	now := time.Unix(1_900_000_000, 0) // after the flag's cut-off
	p, err := flags.NewProvider(flags.NewMemorySource(pvSet(t)), flags.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	client := pvClient(t, p)
	d, err := client.BooleanValueDetails(context.Background(), "expiring", true, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.False(t, d.Value)
	assert.Equal(t, "off", d.Variant)
}

func TestProviderNotReadyOutsideInitAndShutdown(t *testing.T) {
	p, err := flags.NewProvider(flags.NewMemorySource(pvSet(t)))
	require.NoError(t, err)
	ctx := context.Background()
	d := p.BooleanEvaluation(ctx, "static-on", false, openfeature.FlattenedContext{})
	assert.False(t, d.Value)
	assert.Equal(t, openfeature.ErrorReason, d.Reason)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)

	require.NoError(t, p.InitWithContext(ctx, openfeature.EvaluationContext{}))
	d = p.BooleanEvaluation(ctx, "static-on", false, openfeature.FlattenedContext{})
	assert.True(t, d.Value)
	assert.Equal(t, openfeature.StaticReason, d.Reason)

	require.NoError(t, p.ShutdownWithContext(ctx))
	d = p.BooleanEvaluation(ctx, "static-on", false, openfeature.FlattenedContext{})
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
}

func TestNewProviderRefusesBadArguments(t *testing.T) {
	src := flags.NewMemorySource(nil)
	_, err := flags.NewProvider(nil)
	assert.ErrorContains(t, err, "nil source")
	_, err = flags.NewProvider(src, flags.WithLogger(nil))
	assert.ErrorContains(t, err, "nil logger")
	_, err = flags.NewProvider(src, flags.WithClock(nil))
	assert.ErrorContains(t, err, "nil clock")
	_, err = flags.NewProvider(src, flags.WithMeterProvider(nil))
	assert.ErrorContains(t, err, "nil meter provider")
	p, err := flags.NewProvider(src, flags.WithLogger(slog.Default()), nil)
	assert.EqualError(t, err, "flags: NewProvider: nil option")
	assert.Nil(t, p)
}
