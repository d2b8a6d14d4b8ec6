package flags_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

// The definitions below load (flagd loads them) and answer as flagd does
// when evaluated; the flags named after the testbed's carry its rules.
const flagdSemantics = `{"flags": {
  "fractional-nested-if-flag": {"state": "ENABLED", "defaultVariant": "fallback",
    "variants": {"premium": "premium", "standard": "standard", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "targetingKey"}, [{"if": [{"==": [{"var": "tier"}, "premium"]}, "premium", "standard"]}, 50], ["standard", 50]]}},
  "fractional-nested-var-flag": {"state": "ENABLED", "defaultVariant": "fallback",
    "variants": {"red": "red", "green": "green", "blue": "blue", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "targetingKey"}, [{"var": "color"}, 50], ["blue", 50]]}},
  "fractional-nested-weight-flag": {"state": "ENABLED", "defaultVariant": "fallback",
    "variants": {"red": "red", "blue": "blue", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "targetingKey"}, ["red", {"if": [{"==": [{"var": "tier"}, "premium"]}, 100, 0]}], ["blue", 10]]}},
  "fractional-as-condition-flag": {"state": "ENABLED", "defaultVariant": "fallback",
    "variants": {"big": "hundreds", "small": "ones", "fallback": "zero"},
    "targeting": {"if": [{"fractional": [[false, 0], [true, 100]]}, "big", "small"]}},
  "fractional-as-condition-false-flag": {"state": "ENABLED", "defaultVariant": "fallback",
    "variants": {"big": "hundreds", "small": "ones", "fallback": "zero"},
    "targeting": {"if": [{"fractional": [[false, 100], [true, 0]]}, "big", "small"]}},
  "bool-names": {"state": "ENABLED", "defaultVariant": "false", "variants": {"true": "yes", "false": "no"},
    "targeting": {"fractional": [[true, 1], [false, 0]]}},
  "zero-weights": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "targetingKey"}, ["one", 0], ["two", 0]]}},
  "negative-weight": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "targetingKey"}, ["one", -50], ["two", 100]]}},
  "too-heavy": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [["one", 2147483647], ["two", 1]]}},
  "heaviest": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [["one", 2147483646], ["two", 1]]}},
  "fraction-weight": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [["one", 0.5], ["two", 50]]}},
  "fractional-not-array": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "fallback": "fallback"},
    "targeting": {"fractional": "one"}},
  "by-attribute": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [{"var": "org"}, ["one", 50], ["two", 50]]}},
  "by-attribute-nested": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"if": [true, {"fractional": [{"var": "org"}, ["one", 50], ["two", 50]]}]}},
  "by-number": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [3, ["one", 50], ["two", 50]]}},
  "by-key": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"one": "one", "two": "two", "fallback": "fallback"},
    "targeting": {"fractional": [["one", 50], ["two", 50]]}},
  "unknown-split-variant": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"fractional": [["on", 50], ["of", 50]]}},
  "numeric-version": {"state": "ENABLED", "defaultVariant": "no-match", "variants": {"match": "match", "no-match": "no-match"},
    "targeting": {"if": [{"sem_ver": [{"var": "version"}, ">", "1.1"]}, "match", "no-match"]}},
  "sem-ver-arity": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"true": "true", "false": "false", "fallback": "fallback"},
    "targeting": {"sem_ver": [{"var": "version"}, "="]}},
  "sem-ver-operator": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"true": "true", "false": "false", "fallback": "fallback"},
    "targeting": {"sem_ver": [{"var": "version"}, "===", "1.0.0"]}},
  "sem-ver-bad-literal": {"state": "ENABLED", "defaultVariant": "on", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"sem_ver": [{"var": "v"}, ">", "one"]}, "on", "off"]}},
  "starts-with-arity": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"true": "true", "false": "false", "fallback": "fallback"},
    "targeting": {"starts_with": ["abc"]}},
  "ends-with-number": {"state": "ENABLED", "defaultVariant": "fallback", "variants": {"true": "true", "false": "false", "fallback": "fallback"},
    "targeting": {"ends_with": [{"var": "num"}, "xyz"]}},
  "staff-and-eu": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"and": [{"ends_with": [{"var": "email"}, "@example.com"]}, {"starts_with": [{"var": "region"}, "eu-"]}]}, "on", "off"]}},
  "staff-and-eu-interpreted": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"and": [{"some": [[1], {"==": [{"var": ""}, 1]}]}, {"starts_with": [{"var": "region"}, "eu-"]}]}, "on", "off"]}},
  "staff-or-eu": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"or": [{"ends_with": [{"var": "email"}, "@example.com"]}, {"starts_with": [{"var": "region"}, "eu-"]}]}, "on", "off"]}},
  "not-staff": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"!": {"ends_with": [{"var": "email"}, "@example.com"]}}, "on", "off"]}},
  "plan-or-free": {"state": "ENABLED", "defaultVariant": "free", "variants": {"free": 0, "pro": 10},
    "targeting": {"or": [{"var": "plan"}, "free"]}},
  "literal-ghost": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "onn", "off"]}},
  "computed-name": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"var": "choice"}},
  "empty-name": {"state": "ENABLED", "defaultVariant": "off", "variants": {"on": true, "off": false},
    "targeting": {"if": [true, "", "off"]}}
}}`

func TestEvaluationFollowsFlagd(t *testing.T) {
	set, err := flags.Parse([]byte(flagdSemantics))
	require.NoError(t, err, "every definition here loads in flagd")
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	client := pvClient(t, p)

	user := func(key string, attrs map[string]any) openfeature.EvaluationContext {
		return openfeature.NewEvaluationContext(key, attrs)
	}
	none := openfeature.EvaluationContext{}
	w := func(v string, n int) flags.Weight { return flags.Weight{Variant: v, Weight: n} }
	const (
		split   = openfeature.SplitReason
		match   = openfeature.TargetingMatchReason
		def     = openfeature.DefaultReason
		errored = openfeature.ErrorReason
		general = openfeature.GeneralCode
	)
	half := []flags.Weight{w("one", 50), w("two", 50)}
	// A user of each half of "unknown-split-variant".
	var onUser, ofUser string
	for i := 0; onUser == "" || ofUser == ""; i++ {
		k := fmt.Sprint("u", i)
		if bucketOf("unknown-split-variant"+k, w("on", 50), w("of", 50)) == "on" {
			onUser = k
		} else {
			ofUser = k
		}
	}

	tests := []evalCase{
		// The testbed's nested fractional examples.
		{name: "nested if variant, premium", kind: "string", key: "fractional-nested-if-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"tier": "premium"}), want: "premium", variant: "premium", reason: split},
		{name: "nested if variant, basic", kind: "string", key: "fractional-nested-if-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"tier": "basic"}), want: "standard", variant: "standard", reason: split},
		{name: "nested if variant, other bucket", kind: "string", key: "fractional-nested-if-flag", def: "fallback", ctx: user("user1", map[string]any{"tier": "premium"}), want: "standard", variant: "standard", reason: split},
		{name: "nested var variant", kind: "string", key: "fractional-nested-var-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"color": "green"}), want: "green", variant: "green", reason: split},
		{name: "nested var variant, other bucket", kind: "string", key: "fractional-nested-var-flag", def: "fallback", ctx: user("user1", map[string]any{"color": "red"}), want: "blue", variant: "blue", reason: split},
		{name: "nested var names no variant", kind: "string", key: "fractional-nested-var-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"color": "yellow"}), want: "fallback", reason: errored, code: general},
		{name: "nested var gives an empty name", kind: "string", key: "fractional-nested-var-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"color": ""}), want: "fallback", reason: errored, code: general},
		{name: "nested weight, premium", kind: "string", key: "fractional-nested-weight-flag", def: "fallback", ctx: user("user1", map[string]any{"tier": "premium"}), want: "red", variant: "red", reason: split},
		{name: "nested weight, basic", kind: "string", key: "fractional-nested-weight-flag", def: "fallback", ctx: user("jon@company.com", map[string]any{"tier": "basic"}), want: "blue", variant: "blue", reason: split},
		{name: "boolean variants as a condition", kind: "string", key: "fractional-as-condition-flag", def: "zero", ctx: user("some-targeting-key", nil), want: "hundreds", variant: "big", reason: match},
		{name: "boolean variants as a condition, false", kind: "string", key: "fractional-as-condition-false-flag", def: "zero", ctx: user("some-targeting-key", nil), want: "ones", variant: "small", reason: match},
		{name: "boolean variant names", kind: "string", key: "bool-names", def: "", ctx: user("any", nil), want: "yes", variant: "true", reason: split},
		// Weights.
		{name: "all-zero weights", kind: "string", key: "zero-weights", def: "wrong", ctx: user("any-user", nil), want: "fallback", variant: "fallback", reason: def},
		{name: "negative weight is 0", kind: "string", key: "negative-weight", def: "wrong", ctx: user("any-user", nil), want: "two", variant: "two", reason: split},
		{name: "weights past 2^31-1", kind: "string", key: "too-heavy", def: "wrong", ctx: user("any-user", nil), want: "fallback", variant: "fallback", reason: def},
		{name: "weights at 2^31-1", kind: "string", key: "heaviest", def: "wrong", ctx: user("any-user", nil), want: bucketOf("heaviestany-user", w("one", 2147483646), w("two", 1)), variant: bucketOf("heaviestany-user", w("one", 2147483646), w("two", 1)), reason: split},
		{name: "weight not whole", kind: "string", key: "fraction-weight", def: "wrong", ctx: user("any-user", nil), want: "fallback", variant: "fallback", reason: def},
		{name: "fractional not an array", kind: "string", key: "fractional-not-array", def: "wrong", ctx: user("any-user", nil), want: "fallback", variant: "fallback", reason: def},
		// Bucketing values.
		{name: "by a string attribute", kind: "string", key: "by-attribute", def: "wrong", ctx: user("u", map[string]any{"org": "acme"}), want: bucketOf("acme", half...), variant: bucketOf("acme", half...), reason: split},
		{name: "by a number attribute", kind: "string", key: "by-attribute", def: "wrong", ctx: user("u", map[string]any{"org": 42}), want: "fallback", variant: "fallback", reason: def},
		{name: "by a boolean attribute", kind: "string", key: "by-attribute", def: "wrong", ctx: user("u", map[string]any{"org": true}), want: "fallback", variant: "fallback", reason: def},
		{name: "by a number attribute, nested", kind: "string", key: "by-attribute-nested", def: "wrong", ctx: user("u", map[string]any{"org": 42}), want: "fallback", variant: "fallback", reason: def},
		{name: "by a missing attribute: flag key and targeting key", kind: "string", key: "by-attribute", def: "wrong", ctx: user("u", nil), want: bucketOf("by-attributeu", half...), variant: bucketOf("by-attributeu", half...), reason: split},
		{name: "by a missing attribute, nested", kind: "string", key: "by-attribute-nested", def: "wrong", ctx: user("u", nil), want: bucketOf("by-attribute-nestedu", half...), variant: bucketOf("by-attribute-nestedu", half...), reason: split},
		{name: "by a missing attribute without targeting key", kind: "string", key: "by-attribute", def: "wrong", ctx: none, want: "fallback", variant: "fallback", reason: def},
		{name: "by an empty attribute", kind: "string", key: "by-attribute", def: "wrong", ctx: user("u", map[string]any{"org": ""}), want: bucketOf("", half...), variant: bucketOf("", half...), reason: split},
		{name: "by a literal number", kind: "string", key: "by-number", def: "wrong", ctx: user("u", nil), want: "fallback", variant: "fallback", reason: def},
		{name: "an empty targeting key, given as an attribute", kind: "string", key: "by-key", def: "wrong", ctx: openfeature.NewTargetlessEvaluationContext(map[string]any{"targetingKey": ""}), want: "fallback", variant: "fallback", reason: def},
		{name: "split onto a variant the flag has", kind: "bool", key: "unknown-split-variant", def: false, ctx: user(onUser, nil), want: true, variant: "on", reason: split},
		{name: "split onto a variant the flag lacks", kind: "bool", key: "unknown-split-variant", def: true, ctx: user(ofUser, nil), want: true, reason: errored, code: general},
		// sem_ver, starts_with, ends_with.
		{name: "sem_ver on a float", kind: "string", key: "numeric-version", def: "fallback", ctx: user("u", map[string]any{"version": 1.2}), want: "match", variant: "match", reason: match},
		{name: "sem_ver on a float, lower", kind: "string", key: "numeric-version", def: "fallback", ctx: user("u", map[string]any{"version": 1.1}), want: "no-match", variant: "no-match", reason: match},
		{name: "sem_ver on an integer", kind: "string", key: "numeric-version", def: "fallback", ctx: user("u", map[string]any{"version": int64(2)}), want: "match", variant: "match", reason: match},
		{name: "sem_ver wrong count", kind: "string", key: "sem-ver-arity", def: "wrong", ctx: user("u", map[string]any{"version": "1.0.0"}), want: "fallback", variant: "fallback", reason: def},
		{name: "sem_ver unknown comparison", kind: "string", key: "sem-ver-operator", def: "wrong", ctx: user("u", map[string]any{"version": "1.0.0"}), want: "fallback", variant: "fallback", reason: def},
		{name: "sem_ver literal not a version", kind: "bool", key: "sem-ver-bad-literal", def: true, ctx: user("u", map[string]any{"v": "1.0.0"}), want: false, variant: "off", reason: match},
		{name: "starts_with wrong count", kind: "string", key: "starts-with-arity", def: "wrong", ctx: none, want: "fallback", variant: "fallback", reason: def},
		{name: "ends_with on a number", kind: "string", key: "ends-with-number", def: "wrong", ctx: user("u", map[string]any{"num": 123}), want: "fallback", variant: "fallback", reason: def},
		// JsonLogic's and, or, !.
		{name: "and without the attributes", kind: "bool", key: "staff-and-eu", def: true, ctx: user("u", nil), want: false, variant: "off", reason: match},
		{name: "and with one attribute", kind: "bool", key: "staff-and-eu", def: true, ctx: user("u", map[string]any{"email": "a@example.com"}), want: false, variant: "off", reason: match},
		{name: "and with both", kind: "bool", key: "staff-and-eu", def: false, ctx: user("u", map[string]any{"email": "a@example.com", "region": "eu-west"}), want: true, variant: "on", reason: match},
		{name: "and, interpreted, without the attribute", kind: "bool", key: "staff-and-eu-interpreted", def: true, ctx: user("u", nil), want: false, variant: "off", reason: match},
		{name: "and, interpreted, with it", kind: "bool", key: "staff-and-eu-interpreted", def: false, ctx: user("u", map[string]any{"region": "eu-west"}), want: true, variant: "on", reason: match},
		{name: "or without the attributes", kind: "bool", key: "staff-or-eu", def: true, ctx: user("u", nil), want: false, variant: "off", reason: match},
		{name: "or with one", kind: "bool", key: "staff-or-eu", def: false, ctx: user("u", map[string]any{"region": "eu-west"}), want: true, variant: "on", reason: match},
		{name: "! of null", kind: "bool", key: "not-staff", def: false, ctx: user("u", nil), want: true, variant: "on", reason: match},
		{name: "! of true", kind: "bool", key: "not-staff", def: true, ctx: user("u", map[string]any{"email": "a@example.com"}), want: false, variant: "off", reason: match},
		{name: "or gives its first true value", kind: "int", key: "plan-or-free", def: int64(-1), ctx: user("u", map[string]any{"plan": "pro"}), want: int64(10), variant: "pro", reason: match},
		{name: "or gives its last value", kind: "int", key: "plan-or-free", def: int64(-1), ctx: user("u", map[string]any{"plan": ""}), want: int64(0), variant: "free", reason: match},
		// Names that are no variant: an error only when chosen.
		{name: "literal ghost branch taken", kind: "bool", key: "literal-ghost", def: true, ctx: user("u", map[string]any{"tier": "gold"}), want: true, reason: errored, code: general},
		{name: "literal ghost branch not taken", kind: "bool", key: "literal-ghost", def: true, ctx: user("u", map[string]any{"tier": "tin"}), want: false, variant: "off", reason: match},
		{name: "computed name of a variant", kind: "bool", key: "computed-name", def: false, ctx: user("u", map[string]any{"choice": "on"}), want: true, variant: "on", reason: match},
		{name: "computed name of no variant", kind: "bool", key: "computed-name", def: true, ctx: user("u", map[string]any{"choice": "maybe"}), want: true, reason: errored, code: general},
		{name: "computed empty name", kind: "bool", key: "computed-name", def: true, ctx: user("u", map[string]any{"choice": ""}), want: true, reason: errored, code: general},
		{name: "computed null", kind: "bool", key: "computed-name", def: true, ctx: user("u", nil), want: false, variant: "off", reason: def},
		{name: "literal empty name", kind: "bool", key: "empty-name", def: true, ctx: none, want: true, reason: errored, code: general},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, d, err := evalDetails(t, client, tc)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.reason, d.Reason)
			assert.Equal(t, tc.variant, d.Variant)
			assert.Equal(t, tc.code, d.ErrorCode, "%v", d.ErrorMessage)
			if tc.code == "" {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// An empty targeting key is dropped by the OpenFeature SDK before the
// provider sees it; given to the provider directly, a rule that buckets by
// {"var": "targetingKey"} hashes "", as flagd does.
func TestEmptyTargetingKeyGivenToTheProvider(t *testing.T) {
	set, err := flags.Parse([]byte(`{"flags": {"f": {"state": "ENABLED", "defaultVariant": "fallback",
	  "variants": {"one": "one", "two": "two", "fallback": "fallback"},
	  "targeting": {"fractional": [{"var": "targetingKey"}, ["one", 50], ["two", 50]]}}}}`))
	require.NoError(t, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	require.NoError(t, p.Init(openfeature.EvaluationContext{}))
	t.Cleanup(p.Shutdown)
	half := []flags.Weight{{Variant: "one", Weight: 50}, {Variant: "two", Weight: 50}}
	d := p.StringEvaluation(context.Background(), "f", "wrong", openfeature.FlattenedContext{"targetingKey": ""})
	assert.Equal(t, bucketOf("", half...), d.Value)
	assert.Equal(t, openfeature.SplitReason, d.Reason)
	// Through the SDK the empty key is gone: no bucket, the default variant.
	client := pvClient(t, p)
	s, err := client.StringValueDetails(context.Background(), "f", "wrong", openfeature.NewEvaluationContext("", nil))
	require.NoError(t, err)
	assert.Equal(t, "fallback", s.Value)
	assert.Equal(t, openfeature.DefaultReason, s.Reason)
}
