package flags

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOpSemVer(t *testing.T) {
	tests := []struct {
		a, op, b string
		want     bool
	}{
		{"1.2.3", "=", "1.2.3", true},
		{"v1.2.3", "=", "1.2.3", true},
		{"1.2.3", "=", "1.2.4", false},
		{"1.2.3", "!=", "1.2.4", true},
		{"1.2.3", "!=", "1.2.3", false},
		{"1.2.3", "<", "1.10.0", true},
		{"1.10.0", "<", "1.2.3", false},
		{"1.2.3", "<=", "1.2.3", true},
		{"1.2.4", "<=", "1.2.3", false},
		{"2.0.0", ">", "1.99.99", true},
		{"2.0.0-rc.1", ">", "2.0.0", false},
		{"2.0.0", ">=", "2.0.0", true},
		{"1.0.0", ">=", "2.0.0", false},
		{"1.9.0", "^", "1.2.3", true},
		{"2.0.0", "^", "1.2.3", false},
		{"1.2.9", "~", "1.2.0", true},
		{"1.3.0", "~", "1.2.0", false},
		{"not-a-version", "=", "1.0.0", false},
		{"1.0.0", "=~", "1.0.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.a+tc.op+tc.b, func(t *testing.T) {
			assert.Equal(t, tc.want, opSemVer([]any{tc.a, tc.op, tc.b}, nil))
		})
	}
	for _, bad := range []any{nil, "1.0.0", []any{"1.0.0", "="}, []any{1.0, "=", 1.0}} {
		assert.Equal(t, false, opSemVer(bad, nil))
	}
}

func TestOpStartsAndEndsWith(t *testing.T) {
	tests := []struct {
		name        string
		args        any
		starts, end bool
	}{
		{"both", []any{"abc@example.com", "abc"}, true, false},
		{"suffix", []any{"abc@example.com", "@example.com"}, false, true},
		{"empty affix", []any{"x", ""}, true, true},
		{"number", []any{1.0, "1"}, false, false},
		{"missing attribute", []any{nil, "a"}, false, false},
		{"wrong arity", []any{"a"}, false, false},
		{"not an array", "a", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.starts, opStartsWith(tc.args, nil))
			assert.Equal(t, tc.end, opEndsWith(tc.args, nil))
		})
	}
}

// A rule that makes the interpreter itself panic (here: "?:" on a
// non-boolean) is an evaluation error, never a crash.
func TestApplyRuleTurnsPanicsIntoErrors(t *testing.T) {
	_, err := applyRule(map[string]any{"?:": []any{"x", "a", "b"}}, map[string]any{})
	assert.Error(t, err)
}
