package flags

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The compiled form of a rule must answer what the interpreter answers:
// the same value, the same error, the same splits reported by fractional.

// compileContexts are the evaluation data the comparisons run on.
var compileContexts = []map[string]any{
	{},
	{"targetingKey": "user-1", "email": "ann@example.com", "tier": "gold", "age": float64(41), "version": "1.4.2",
		"beta": true, "tags": []any{"a", "b"}, "count": 3, "profile": map[string]any{"country": "NL", "score": float64(7)}},
	{"targetingKey": "user-2", "email": "bob@other.org", "tier": "", "age": float64(0), "version": "v2.0.0-rc.1",
		"beta": false, "tags": []any{}, "list": []any{"x", map[string]any{"var": "email"}}},
	{"targetingKey": "", "email": float64(12), "tier": nil, "version": "not a version", "profile": map[string]any{}},
}

// evalBoth runs rule through the interpreter and, when it compiles, through
// the compiled form, on a fresh copy of ctx each. It reports whether the
// compiled form answered (rather than handing back to the interpreter).
func evalBoth(t *testing.T, rule any, ctx map[string]any) (compiled, answered bool) {
	t.Helper()
	n := compileTargeting(rule)
	if n == nil {
		return false, false
	}
	// As in evaluations, the compiled form gets $flagd only when it says it
	// may read it.
	data := func(flagd bool) (map[string]any, *evalTrace) {
		tr := &evalTrace{key: "the-flag"}
		d := map[string]any{traceKey: tr}
		if flagd {
			d["$flagd"] = map[string]any{"flagKey": "the-flag", "timestamp": float64(1700000000)}
		}
		for k, v := range ctx {
			d[k] = v
		}
		return d, tr
	}
	d1, tr1 := data(true)
	want, wantErr := applyRule(rule, d1)
	d2, tr2 := data(readsFlagd(n))
	got, gotErr := applyCompiled(n, d2)
	if errors.Is(gotErr, errInterpret) {
		return true, false
	}
	rj, _ := json.Marshal(rule)
	// The compiled "if" skips the branches it does not take, which the
	// interpreter evaluates: it may report fewer splits, and succeed where
	// a branch not taken fails the interpreter; never the reverse.
	wantFailed := wantErr != nil
	gotFailed := gotErr != nil
	if gotFailed {
		assert.True(t, wantFailed, "rule %s on %v: the compiled form failed (%v), the interpreter did not", rj, ctx, gotErr)
	}
	if !wantFailed {
		assert.False(t, gotFailed, "rule %s on %v", rj, ctx)
		assert.Equal(t, want, got, "rule %s on %v", rj, ctx)
		assert.True(t, isSubsequence(tr2.splits, tr1.splits), "rule %s on %v: splits %v, interpreter's %v", rj, ctx, tr2.splits, tr1.splits)
	}
	return true, true
}

func isSubsequence(sub, of []string) bool {
	i := 0
	for _, s := range of {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

// TestCompiledIfReportsOnlyTheBranchTaken: a user outside the condition
// gets the literal variant with the reason TARGETING_MATCH, even when the
// split in the other branch would have picked the same variant; and a split
// that cannot bucket in a branch not taken fails nothing.
func TestCompiledIfReportsOnlyTheBranchTaken(t *testing.T) {
	set, err := Parse([]byte(`{"flags": {"ramp": {"state": "ENABLED", "variants": {"new": true, "old": false},
	  "defaultVariant": "old", "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]},
	    {"fractional": [{"var": "email"}, ["new", 1], ["old", 1]]}, "old"]}}}}`))
	require.NoError(t, err)
	require.NotNil(t, set.flags["ramp"].compiled)
	reasons := map[openfeature.Reason]int{}
	for i := range 200 {
		r := set.evaluate("ramp", KindBool, map[string]any{"targetingKey": fmt.Sprint(i), "email": fmt.Sprintf("u%d@other.org", i)}, time.Now)
		assert.Equal(t, "old", r.variant)
		reasons[r.reason]++
	}
	assert.Equal(t, map[openfeature.Reason]int{openfeature.TargetingMatchReason: 200}, reasons)

	r := set.evaluate("ramp", KindBool, map[string]any{"targetingKey": "u", "email": []any{"not", "scalar"}}, time.Now)
	assert.False(t, r.failed, "%v", r.err)
	assert.Equal(t, "old", r.variant)
}

func decodeRule(t testing.TB, s string) any {
	t.Helper()
	var rule any
	require.NoError(t, json.Unmarshal([]byte(s), &rule), s)
	return rule
}

func TestCompiledRulesMatchTheInterpreter(t *testing.T) {
	tests := []struct {
		rule     string
		compiles bool
	}{
		{`{"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, {"fractional": [{"var": "email"}, ["new", 10], ["old", 90]]}, "old"]}`, true},
		{`{"if": [{"starts_with": [{"var": "email"}, "bob"]}, "new", {"==": [{"var": "tier"}, "gold"]}, "gold", null]}`, true},
		{`{"fractional": [{"cat": [{"var": "tier"}, {"var": "email"}]}, ["a", 1], ["b", 1], ["c"]]}`, true},
		{`{"fractional": [{"var": "tags"}, ["a", 1], ["b", 1]]}`, true},
		{`{"fractional": [["a", 0], ["b", 3]]}`, true},
		{`{"fractional": [{"var": "nothing"}, ["a"], ["b"]]}`, true},
		{`{"fractional": [["a", -1]]}`, true},
		{`{"fractional": "a"}`, true},
		{`{"fractional": [{"var": "targetingKey"}, [{"if": [{"==": [{"var": "tier"}, "gold"]}, "gold", "std"]}, 50], ["std", 50]]}`, true},
		{`{"fractional": [{"var": "targetingKey"}, [{"var": "tier"}, 50], ["blue", 50]]}`, true},
		{`{"fractional": [["red", {"if": [{"var": "beta"}, 100, 0]}], ["blue", 10]]}`, true},
		{`{"fractional": [["red", {"var": "age"}], ["blue", {"var": "count"}]]}`, true},
		{`{"if": [{"fractional": [[false, 0], [true, 100]]}, "big", "small"]}`, true},
		{`{"fractional": [{"var": "age"}, ["a", 1], ["b", 1]]}`, true},
		{`{"fractional": [{"var": "beta"}, ["a", 1], ["b", 1]]}`, true},
		{`{"fractional": [3, ["a", 1], ["b", 1]]}`, true},
		{`{"fractional": [["a", 2147483647], ["b", 1]]}`, true},
		{`{"fractional": [["a", null], [null, 1], [2, 1]]}`, true},
		{`{"fractional": [{"var": "targetingKey"}, [{"some": [{"var": "tags"}, {"==": [{"var": ""}, "a"]}]}, 1]]}`, false},
		{`{"and": [{"starts_with": [{"var": "email"}, "a"]}, {"ends_with": [{"var": "email"}, "b"]}]}`, true},
		{`{"or": [{"var": "tier"}, {"var": "tags"}, 0]}`, true},
		{`{"!!": [{"var": "tags"}]}`, true},
		{`{"!": []}`, true},
		{`{"sem_ver": [{"var": "version"}, ">=", "1.2.0"]}`, true},
		{`{"sem_ver": [{"var": "version"}, "^", "2.0.0"]}`, true},
		{`{"if": [{"in": [{"var": "tier"}, ["gold", "silver"]]}, "yes", "no"]}`, true},
		{`{"if": [{"in": ["b", {"var": "tags"}]}, "tagged", "untagged"]}`, true},
		{`{"if": [{"and": [{"var": "beta"}, {">": [{"var": "age"}, 18]}]}, "adult-beta", "other"]}`, true},
		{`{"if": [{"or": [{"var": "beta"}, {"!": {"var": "tier"}}]}, "a", "b"]}`, true},
		{`{"if": [{"var": "tags"}, "has-tags", "no-tags"]}`, true},
		{`{"if": [{"var": "profile"}, "object", "none"]}`, true},
		{`{"if": [{"var": "count"}, {"var": "tags"}, {"var": "list"}]}`, true},
		{`{"if": [true, {"var": "list"}]}`, true},
		{`{"if": [false, "x"]}`, true},
		{`{"if": []}`, true},
		{`{"if": [{"var": ["missing", "fallback"]}, {"var": ["missing", "fallback"]}, "z"]}`, true},
		{`{"var": "profile.country"}`, true},
		{`{"var": ["profile.score", 0]}`, true},
		{`{"var": "$flagd.flagKey"}`, true},
		{`{"var": "$flagd"}`, true},
		{`{"if": [{"var": "$flagd"}, {"fractional": [["a", 1], ["b", 1]]}, "none"]}`, true},
		{`{"if": [{">": [{"var": "$flagd.timestamp"}, 0]}, "later", "earlier"]}`, true},
		{`{"if": [{"==": [{"var": "$flagd.flagKey"}, "the-flag"]}, "keyed", null]}`, true},
		{`{"var": ""}`, true},
		{`{"var": "targetingKey"}`, true},
		{`{"if": [{"missing": ["email", "tier"]}, "incomplete", "complete"]}`, true},
		{`{"?:": [{"var": "beta"}, "b", "nb"]}`, true},
		{`{"ends_with": {"var": "email"}}`, true},
		{`{"starts_with": "abc"}`, true},
		{`{"some": [{"var": "tags"}, {"==": [{"var": ""}, "a"]}]}`, false},
		{`{"if": [{"all": [{"var": "tags"}, {"var": ""}]}, "a", "b"]}`, false},
		{`{"if": [{"a": 1, "b": 2}, "x", "y"]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			rule := decodeRule(t, tt.rule)
			for _, ctx := range compileContexts {
				compiled, _ := evalBoth(t, rule, ctx)
				assert.Equal(t, tt.compiles, compiled)
			}
		})
	}
}

// TestCompiledRulesAnswerCommonShapes: the rules the compiled form
// exists for are answered by it, not handed back.
func TestCompiledRulesAnswerCommonShapes(t *testing.T) {
	for _, s := range []string{
		`{"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, {"fractional": [{"var": "email"}, ["new", 10], ["old", 90]]}, "old"]}`,
		`{"if": [{"in": [{"var": "tier"}, ["gold", "silver"]]}, {"fractional": [["new", 50], ["old", 50]]}, null]}`,
		`{"if": [{"sem_ver": [{"var": "version"}, ">=", "1.0.0"]}, "new", "old"]}`,
	} {
		rule := decodeRule(t, s)
		_, answered := evalBoth(t, rule, compileContexts[1])
		assert.True(t, answered, s)
	}
}

// randomRule builds a rule of the operators and shapes targeting uses, with
// the quirks (objects as values, lists as values, nulls) mixed in.
func randomRule(r *rand.Rand, depth int) any {
	leaf := func() any {
		switch r.IntN(9) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return float64(r.IntN(5) - 1)
		case 3:
			return []any{"a", "gold", float64(1)}
		case 4:
			return []string{"gold", "a", "b", "", "@example.com", "ann", "1.4.2", "new"}[r.IntN(8)]
		default:
			name := []string{"email", "tier", "age", "version", "beta", "tags", "count", "profile", "list",
				"missing", "profile.country", "targetingKey", "$flagd.flagKey", "", "$flagd"}[r.IntN(15)]
			if r.IntN(4) == 0 {
				return map[string]any{"var": []any{name, "dflt"}}
			}
			return map[string]any{"var": name}
		}
	}
	if depth <= 0 || r.IntN(4) == 0 {
		return leaf()
	}
	args := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = randomRule(r, depth-1)
		}
		return out
	}
	ops := []string{"if", "==", "!=", "===", "in", "and", "or", "!", "!!", "<", ">=", "cat",
		"starts_with", "ends_with", "sem_ver", "fractional", "missing", "?:", "max"}
	op := ops[r.IntN(len(ops))]
	switch op {
	case "if":
		return map[string]any{op: args(r.IntN(6))}
	case "!", "!!":
		return map[string]any{op: randomRule(r, depth-1)}
	case "sem_ver":
		return map[string]any{op: []any{randomRule(r, depth-1), []string{">=", "^", "~", "="}[r.IntN(4)], "1.2.0"}}
	case "fractional":
		list := []any{}
		if r.IntN(3) > 0 {
			list = append(list, randomRule(r, depth-1))
		}
		for i := range 1 + r.IntN(3) {
			list = append(list, []any{fmt.Sprintf("v%d", i), float64(r.IntN(4))})
		}
		return map[string]any{op: list}
	}
	return map[string]any{op: args(1 + r.IntN(3))}
}

func TestCompiledRulesMatchTheInterpreterOnRandomRules(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var compiled, answered int
	for range 3000 {
		rule := randomRule(r, 4)
		if _, isRule := rule.(map[string]any); !isRule {
			continue
		}
		for _, ctx := range compileContexts {
			c, a := evalBoth(t, rule, ctx)
			if c {
				compiled++
			}
			if a {
				answered++
			}
		}
		if t.Failed() {
			return
		}
	}
	// The comparison means something only if most rules were answered by
	// the compiled form.
	assert.Greater(t, answered, compiled/2, "compiled %d, answered %d", compiled, answered)
}

func FuzzCompiledRulesMatchTheInterpreter(f *testing.F) {
	f.Add(`{"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, {"fractional": [{"var": "email"}, ["new", 10], ["old", 90]]}, "old"]}`)
	f.Add(`{"if": [{"in": [{"var": "tier"}, ["gold"]]}, {"var": "list"}, {"var": "profile"}]}`)
	f.Add(`{"fractional": [{"var": "tags"}, ["a", 1]]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var rule any
		if json.Unmarshal([]byte(s), &rule) != nil {
			return
		}
		for _, ctx := range compileContexts {
			evalBoth(t, rule, ctx)
		}
	})
}

// TestCompiledRuleFollowsWrittenWeights: a weight change rebuilds the
// compiled form, so that a ramp inside a rule moves.
func TestCompiledRuleFollowsWrittenWeights(t *testing.T) {
	set, err := Parse([]byte(`{"flags": {"ramp": {"state": "ENABLED", "variants": {"new": true, "old": false},
	  "defaultVariant": "old", "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]},
	    {"fractional": [{"var": "email"}, ["new", 0], ["old", 1]]}, "old"]}}}}`))
	require.NoError(t, err)
	require.NotNil(t, set.flags["ramp"].compiled)
	flat := map[string]any{"targetingKey": "u", "email": "ann@example.com"}
	r := set.evaluate("ramp", KindBool, flat, time.Now)
	assert.Equal(t, "old", r.variant)

	ramped, err := set.WithWeights("ramp", []Weight{{Variant: "new", Weight: 1}, {Variant: "old", Weight: 0}})
	require.NoError(t, err)
	require.NotNil(t, ramped.flags["ramp"].compiled)
	r = ramped.evaluate("ramp", KindBool, flat, time.Now)
	assert.Equal(t, "new", r.variant)
	assert.Equal(t, openfeature.SplitReason, r.reason)
}
