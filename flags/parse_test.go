package flags_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

func TestParseValidFile(t *testing.T) {
	set := pvSet(t)
	assert.Contains(t, set.Keys(), "checkout-ramp")
	assert.Len(t, set.Keys(), 15)
	k, ok := set.Kind("limits")
	require.True(t, ok)
	assert.Equal(t, flags.KindNumber, k)
	k, _ = set.Kind("theme")
	assert.Equal(t, flags.KindObject, k)
	st, _ := set.State("disabled")
	assert.Equal(t, flags.Disabled, st)
	_, ok = set.Kind("nope")
	assert.False(t, ok)
	assert.Equal(t, "checkout", set.Metadata()["team"])
}

// TestParseReportsBadDefinitions: a problem of the document refuses it whole
// (no Set, a DocumentError); a problem of one flag keeps that flag out of a
// Set that loads, and is reported by key and field.
func TestParseReportsBadDefinitions(t *testing.T) {
	const okVariants = `"variants": {"on": true, "off": false}`
	tests := []struct {
		name  string
		doc   string
		flag  string
		field string
		msg   string
	}{
		{"malformed JSON", `{"flags": {`, "", "", "malformed JSON"},
		{"malformed JSON position", "{\n  \"flags\": {,}\n}", "", "", "line 2, column 13"},
		{"not an object", `[1]`, "", "", "must be a JSON object"},
		{"trailing data", `{"flags": {}} {}`, "", "", "data after"},
		{"no flags", `{}`, "", "flags", "missing"},
		{"flags not an object", `{"flags": []}`, "", "flags", "must be an object"},
		{"unknown top-level field", `{"flags": {}, "flag": {}}`, "", "flag", "unknown field"},
		{"definition not an object", `{"flags": {"f": true}}`, "f", "", "must be an object"},
		{"missing state", `{"flags": {"f": {` + okVariants + `}}}`, "f", "state", "missing"},
		{"bad state", `{"flags": {"f": {"state": "ON", ` + okVariants + `}}}`, "f", "state", `"ON" is not ENABLED or DISABLED`},
		{"unknown flag field", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "defaultvariant": "on"}}}`, "f", "defaultvariant", "unknown field"},
		{"missing variants", `{"flags": {"f": {"state": "ENABLED"}}}`, "f", "variants", "missing"},
		{"empty variants", `{"flags": {"f": {"state": "ENABLED", "variants": {}}}}`, "f", "variants", "at least one"},
		{"mixed variant types", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": true, "b": "x"}}}}`, "f", "variants.b", "share one type"},
		{"null variant", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": null}}}}`, "f", "variants.a", "not null"},
		{"array variant", `{"flags": {"f": {"state": "ENABLED", "variants": {"a": [1]}}}}`, "f", "variants.a", "not an array"},
		{"unknown default variant", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "defaultVariant": "maybe"}}}`, "f", "defaultVariant", `"maybe" is not one of the variants`},
		{"default variant not a string", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "defaultVariant": true}}}`, "f", "defaultVariant", "must be a variant name"},
		{"targeting not an object", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "targeting": "on"}}}`, "f", "targeting", "must be a JsonLogic object"},
		{"unknown operator", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "targeting": {"if": [{"equals": [1, 1]}, "on", "off"]}}}}`, "f", "targeting", `unknown operator "equals"`},
		{"two operators in one object", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "targeting": {"if": [true, "on"], "var": "x"}}}}`, "f", "targeting", "exactly one operator"},
		{"missing $ref", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "targeting": {"if": [{"$ref": "beta"}, "on", "off"]}}}}`, "f", "targeting", `$ref "beta" names no entry`},
		{"$ref cycle", `{"$evaluators": {"a": {"$ref": "b"}, "b": {"$ref": "a"}}, "flags": {"f": {"state": "ENABLED", ` + okVariants + `, "targeting": {"if": [{"$ref": "a"}, "on", "off"]}}}}`, "f", "targeting", "refers to itself"},
		{"metadata value", `{"flags": {"f": {"state": "ENABLED", ` + okVariants + `, "metadata": {"owners": ["a"]}}}}`, "f", "metadata.owners", "must be a boolean, string or number"},
		{"set metadata", `{"metadata": [], "flags": {}}`, "", "metadata", "must be an object"},
		{"evaluators", `{"$evaluators": [], "flags": {}}`, "", "$evaluators", "must be an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := flags.Parse([]byte(tc.doc))
			require.Error(t, err)
			assert.ErrorIs(t, err, flags.ErrInvalid)
			var de *flags.DocumentError
			if tc.flag == "" {
				assert.Nil(t, set)
				assert.True(t, errors.As(err, &de), "a problem of the document refuses it whole: %v", err)
			} else {
				require.NotNil(t, set, "a flag's problem leaves the set loading")
				assert.False(t, errors.As(err, &de), "a flag's problem is not the document's: %v", err)
				assert.NotContains(t, set.Keys(), tc.flag)
				assert.NotEmpty(t, set.Problems())
			}
			var ve *flags.ValidationError
			require.True(t, errors.As(err, &ve))
			var found bool
			for _, p := range ve.Problems {
				if p.Flag == tc.flag && p.Field == tc.field {
					assert.Contains(t, p.Message, tc.msg)
					found = true
				}
			}
			assert.True(t, found, "no problem for flag %q field %q in %v", tc.flag, tc.field, ve.Problems)
			if tc.flag != "" {
				assert.Contains(t, err.Error(), `flag "`+tc.flag+`"`)
			}
		})
	}
}

func TestParseRefusesExponentialRefs(t *testing.T) {
	ev := map[string]any{"e30": map[string]any{"var": "x"}}
	for i := 29; i >= 0; i-- {
		next := map[string]any{"$ref": fmt.Sprintf("e%d", i+1)}
		ev[fmt.Sprintf("e%d", i)] = map[string]any{"and": []any{next, next}}
	}
	doc := map[string]any{
		"$evaluators": ev,
		"flags": map[string]any{"f": map[string]any{
			"state": "ENABLED", "variants": map[string]any{"on": true, "off": false},
			"targeting": map[string]any{"if": []any{map[string]any{"$ref": "e0"}, "on", "off"}},
		}},
	}
	data, err := json.Marshal(doc)
	require.NoError(t, err)
	_, err = flags.Parse(data)
	assert.ErrorContains(t, err, "once its $ref references are expanded")
}

func TestParseReportsEveryProblemSorted(t *testing.T) {
	_, err := flags.Parse([]byte(`{"flags": {
		"b": {"state": "on", "variants": {"x": 1}},
		"a": {"state": "ENABLED"}
	}}`))
	var ve *flags.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Problems, 2)
	assert.Equal(t, flags.Problem{Flag: "a", Field: "variants", Message: "missing"}, ve.Problems[0])
	assert.Equal(t, "b", ve.Problems[1].Flag)
	assert.Equal(t, "state", ve.Problems[1].Field)
}

func TestParseYAML(t *testing.T) {
	set, err := flags.ParseYAML([]byte(`
metadata: {team: web}
flags:
  banner:
    state: ENABLED
    variants: {on: true, off: false}
    defaultVariant: "off"
    targeting:
      fractional:
        - ["on", 25]
        - ["off", 75]
`))
	require.NoError(t, err)
	assert.Equal(t, []string{"banner"}, set.Keys())

	_, err = flags.ParseYAML([]byte("flags: [\n"))
	assert.ErrorIs(t, err, flags.ErrInvalid)
	assert.ErrorContains(t, err, "malformed YAML")

	_, err = flags.ParseYAML([]byte("flags:\n  f:\n    state: MAYBE\n    variants: {a: 1}\n"))
	assert.ErrorContains(t, err, `flag "f": state:`)
}

func TestMarshalJSONRoundTrips(t *testing.T) {
	set := pvSet(t)
	data, err := json.Marshal(set)
	require.NoError(t, err)
	again, err := flags.Parse(data)
	require.NoError(t, err)
	again2, err := json.Marshal(again)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again2))
	// $ref references survive.
	assert.Contains(t, string(data), `"$ref":"staff"`)
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/flags.json")
	require.NoError(f, err)
	f.Add(seed)
	f.Add([]byte(`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "targeting": {"fractional": [["a"]]}}}}`))
	f.Add([]byte(`{"flags": {}}`))
	f.Add([]byte(`{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "targeting": {"if": [{"$ref": "x"}, "a"]}}}, "$evaluators": {"x": {"$ref": "x"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := flags.Parse(data)
		if set == nil {
			var de *flags.DocumentError
			require.ErrorAs(t, err, &de)
			require.ErrorIs(t, err, flags.ErrInvalid)
			return
		}
		if err != nil {
			var ve *flags.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, ve.Problems, set.Problems())
		} else {
			require.Empty(t, set.Problems())
		}
		// What parses writes back to something that parses to the same
		// flags, the invalid ones included.
		out, err := json.Marshal(set)
		require.NoError(t, err)
		again, err := flags.Parse(out)
		require.NotNil(t, again, "re-parse of %s: %v", out, err)
		require.Equal(t, set.Keys(), again.Keys())
		require.Equal(t, set.Problems(), again.Problems())
		// And every flag evaluates without a panic.
		p, err := flags.NewProvider(flags.NewMemorySource(set))
		require.NoError(t, err)
		require.NoError(t, p.InitWithContext(context.Background(), openfeature.EvaluationContext{}))
		defer p.Shutdown()
		flat := openfeature.FlattenedContext{"targetingKey": "user-1", "email": "a@b.c", "n": 3}
		for _, k := range set.Keys() {
			p.ObjectEvaluation(context.Background(), k, nil, flat)
			p.StringEvaluation(context.Background(), k, "", flat)
		}
		for _, pr := range set.Problems() {
			d := p.StringEvaluation(context.Background(), pr.Flag, "dflt", flat)
			require.Equal(t, openfeature.ParseErrorCode, d.ResolutionDetail().ErrorCode)
		}
	})
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte("flags:\n  f:\n    state: ENABLED\n    variants: {a: 1, b: 2}\n    targeting: {fractional: [[a], [b]]}\n"))
	f.Add([]byte("flags: {}\n"))
	f.Add([]byte("flags:\n  f: &x {state: ENABLED}\n  g: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := flags.ParseYAML(data)
		if err != nil {
			require.ErrorIs(t, err, flags.ErrInvalid)
			var de *flags.DocumentError
			require.Equal(t, set == nil, errors.As(err, &de))
		}
	})
}
