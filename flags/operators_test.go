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
		{"V1.0.0", "=", "1.0.0", true},
		{"1.0", "=", "1.0.0", true},
		{"1", "^", "1.5.0", true},
		{"1.0.0+build.7", "=", "1.0.0", true},
	}
	for _, tc := range tests {
		t.Run(tc.a+tc.op+tc.b, func(t *testing.T) {
			assert.Equal(t, tc.want, opSemVer([]any{tc.a, tc.op, tc.b}, nil))
		})
	}
	assert.Equal(t, true, opSemVer([]any{1.0, "=", "1.0.0"}, nil), "a whole number is a major version")
	// A number reads as flagd prints it: 1.2 is 1.2.0.
	assert.Equal(t, true, opSemVer([]any{1.2, ">", "1.1"}, nil))
	assert.Equal(t, false, opSemVer([]any{1.1, ">", "1.1"}, nil))
	assert.Equal(t, true, opSemVer([]any{1.5, "=", "1.5.0"}, nil))
	// What does not fit answers null, as in flagd, not false.
	for _, bad := range []any{nil, "1.0.0", []any{"1.0.0", "="}, []any{"not-a-version", "=", "1.0.0"},
		[]any{"1.0.0", "=~", "1.0.0"}, []any{"2.0.0.0", "=", "2.0.0"}, []any{true, "=", "1.0.0"}, []any{-1.0, "=", "1.0.0"}} {
		assert.Nil(t, opSemVer(bad, nil), "%v", bad)
	}
}

func TestOpStartsAndEndsWith(t *testing.T) {
	tests := []struct {
		name        string
		args        any
		starts, end any
	}{
		{"both", []any{"abc@example.com", "abc"}, true, false},
		{"suffix", []any{"abc@example.com", "@example.com"}, false, true},
		{"empty affix", []any{"x", ""}, true, true},
		// What does not fit answers null, as in flagd, not false.
		{"number", []any{1.0, "1"}, nil, nil},
		{"missing attribute", []any{nil, "a"}, nil, nil},
		{"wrong arity", []any{"a"}, nil, nil},
		{"not an array", "a", nil, nil},
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
