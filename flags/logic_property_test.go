package flags

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The logic operators against their definitions: specLogic is an
// interpreter written from JsonLogic's specification (jsonlogic.com) and
// flagd's definition of starts_with, independent of the package's code;
// random rules must answer the same through the compiled tree and through
// the interpreter.

// specTruthy: JsonLogic's truth. null, false, 0, "" and [] are false.
func specTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) != 0
	}
	return true
}

func specLogic(rule any, data map[string]any) any {
	m, ok := rule.(map[string]any)
	if !ok {
		return rule
	}
	for op, raw := range m {
		args, isList := raw.([]any)
		if !isList {
			args = []any{raw}
		}
		switch op {
		case "var":
			if v := data[args[0].(string)]; v != nil {
				return v
			}
			return nil
		case "and": // the first false argument, else the last
			var v any
			for _, a := range args {
				if v = specLogic(a, data); !specTruthy(v) {
					return v
				}
			}
			return v
		case "or": // the first true argument, else the last
			var v any
			for _, a := range args {
				if v = specLogic(a, data); specTruthy(v) {
					return v
				}
			}
			return v
		case "!":
			return len(args) == 0 || !specTruthy(specLogic(args[0], data))
		case "!!":
			return len(args) > 0 && specTruthy(specLogic(args[0], data))
		case "if":
			i := 0
			for ; i+1 < len(args); i += 2 {
				if specTruthy(specLogic(args[i], data)) {
					return specLogic(args[i+1], data)
				}
			}
			if i < len(args) {
				return specLogic(args[i], data)
			}
			return nil
		case "starts_with": // flagd: two strings, else null
			if len(args) != 2 {
				return nil
			}
			s, ok1 := specLogic(args[0], data).(string)
			p, ok2 := specLogic(args[1], data).(string)
			if !ok1 || !ok2 {
				return nil
			}
			return strings.HasPrefix(s, p)
		}
	}
	panic("no such operator in the generator")
}

var specValues = []any{nil, true, false, 0.0, 1.0, 2.0, "", "a", "ab", []any{}, []any{1.0}}

func randomLogicRule(r *rand.Rand, depth int) any {
	if depth == 0 || r.IntN(4) == 0 {
		if r.IntN(2) == 0 {
			return map[string]any{"var": []string{"a", "b", "c", "missing"}[r.IntN(4)]}
		}
		v := specValues[r.IntN(len(specValues))]
		if _, isList := v.([]any); isList {
			// A literal list is an argument list to the interpreter;
			// keep lists to the context.
			return "ab"
		}
		return v
	}
	n := r.IntN(4)
	args := make([]any, n)
	for i := range args {
		args[i] = randomLogicRule(r, depth-1)
	}
	switch r.IntN(6) {
	case 0:
		return map[string]any{"and": args}
	case 1:
		return map[string]any{"or": args}
	case 2:
		if n > 0 && r.IntN(2) == 0 {
			return map[string]any{"!": args[0]} // one argument, not in a list
		}
		return map[string]any{"!": args}
	case 3:
		return map[string]any{"!!": args}
	case 4:
		return map[string]any{"if": args}
	}
	return map[string]any{"starts_with": []any{randomLogicRule(r, depth-1), randomLogicRule(r, depth-1)}}
}

func TestLogicOperatorsFollowTheirDefinitions(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for range 5000 {
		rule := randomLogicRule(r, 4)
		// Through JSON, as definitions are read: numbers are float64.
		b, err := json.Marshal(rule)
		require.NoError(t, err)
		var decoded any
		require.NoError(t, json.Unmarshal(b, &decoded))
		data := map[string]any{}
		for _, k := range []string{"a", "b", "c"} {
			if v := specValues[r.IntN(len(specValues))]; v != nil {
				data[k] = v
			}
		}
		want := specLogic(decoded, data)
		m, isRule := decoded.(map[string]any)
		if !isRule {
			continue
		}
		if n := compileTargeting(m); n != nil {
			got, err := applyCompiled(n, withTrace(data))
			if err == nil { // errInterpret hands over to the interpreter, checked below
				assert.Equal(t, want, got, "compiled %s on %v", b, data)
			}
		}
		got, err := applyRule(decoded, withTrace(data))
		require.NoError(t, err, "%s", b)
		assert.Equal(t, want, got, "interpreted %s on %v", b, data)
	}
}

func withTrace(data map[string]any) map[string]any {
	out := map[string]any{traceKey: &evalTrace{key: "f"}}
	for k, v := range data {
		out[k] = v
	}
	return out
}

// The findings the property stands for, one by one.
func TestLogicOperatorsOnNull(t *testing.T) {
	tests := []struct {
		rule string
		want any
	}{
		{`{"and": [null, null]}`, nil},
		{`{"and": [0, 1]}`, 0.0},
		{`{"and": [1, "x"]}`, "x"},
		{`{"and": []}`, nil},
		{`{"or": [null, 0]}`, 0.0},
		{`{"or": [0, "x", 1]}`, "x"},
		{`{"or": []}`, nil},
		{`{"!": {"var": "missing"}}`, true},
		{`{"!": [[]]}`, true},
		{`{"!!": [""]}`, false},
		{`{"!!": ["0"]}`, true},
		{`{"if": [{"and": [{"starts_with": [{"var": "email"}, "a"]}, {"starts_with": [{"var": "email"}, "a"]}]}, "in", "out"]}`, "out"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			rule := decodeRule(t, tc.rule)
			n := compileTargeting(rule)
			require.NotNil(t, n)
			got, err := applyCompiled(n, withTrace(nil))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "compiled")
			got, err = applyRule(rule, withTrace(nil))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "interpreted")
		})
	}
}
