package annotation_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/annotation"
)

func TestParse(t *testing.T) {
	src := `-- +goose Up
-- rollsafe:irreversible reason="drops audit rows for good"
CREATE TABLE a (id int);
  --   rollsafe:contract   reason="say \"hi\" \\ bye"
-- an ordinary comment mentioning rollsafe:irreversible later in the line
-- +goose Down
`
	set, err := annotation.Parse([]byte(src))
	require.NoError(t, err)
	require.Len(t, set, 2)
	assert.Equal(t, annotation.Annotation{Kind: annotation.Irreversible, Reason: "drops audit rows for good", Line: 2}, set[0])
	assert.Equal(t, annotation.Annotation{Kind: annotation.Contract, Reason: `say "hi" \ bye`, Line: 4}, set[1])
	assert.True(t, set.Has(annotation.Contract))
	got, ok := set.Get(annotation.Irreversible)
	assert.True(t, ok)
	assert.Equal(t, 2, got.Line)
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`-- rollsafe:irreversable reason="x"`, `line 1: unknown annotation "rollsafe:irreversable"`},
		{`-- rollsafe:irreversible`, `line 1: rollsafe:irreversible needs reason="why"`},
		{`-- rollsafe:contract reason=""`, `needs reason="why"`},
		{`-- rollsafe:contract reason="  "`, `needs reason="why"`},
		{`-- rollsafe:contract reason=x`, `value of reason must be in double quotes`},
		{`-- rollsafe:contract reason="x`, `missing closing quote`},
		{`-- rollsafe:contract reason="x" reason="y"`, `given twice`},
		{`-- rollsafe:contract why="x"`, `unknown argument "why"`},
		{`-- rollsafe:contract reason="x"y`, `expected a space`},
		{`-- rollsafe:contract reason="a\n"`, `unknown escape`},
		{`-- rollsafe:`, `missing name`},
		{"SELECT 1;\n\n-- rollsafe:contract oops", `line 3: rollsafe:contract: expected key="value"`},
		{`-- RollSafe:Contract reason="x"`, `line 1: unknown annotation "rollsafe:Contract"`},
		{`-- ROLLSAFE:contract`, `line 1: rollsafe:contract needs reason="why"`},
		{"-- rollsafe:contract\treason=\"x\"\treason=\"y\"", `given twice`},
	}
	for _, tt := range tests {
		_, err := annotation.Parse([]byte(tt.src))
		require.Error(t, err, tt.src)
		assert.True(t, errors.Is(err, annotation.ErrSyntax), tt.src)
		assert.Contains(t, err.Error(), tt.want, tt.src)
	}
}

func TestParseTabs(t *testing.T) {
	set, err := annotation.Parse([]byte("\t--\trollsafe:contract\treason=\"tab\tinside\"\t\n"))
	require.NoError(t, err)
	assert.Equal(t, annotation.Set{{Kind: annotation.Contract, Reason: "tab\tinside", Line: 1}}, set)
}

func TestParseReportsEveryBadLine(t *testing.T) {
	_, err := annotation.Parse([]byte("-- rollsafe:a reason=\"x\"\n-- rollsafe:b reason=\"y\"\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
	assert.Contains(t, err.Error(), "line 2")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`-- rollsafe:irreversible reason="x"`))
	f.Add([]byte("-- rollsafe:contract reason=\"a \\\" b\"\nSELECT 1;"))
	f.Add([]byte(`-- rollsafe:contract reason="unterminated`))
	f.Add([]byte(`--rollsafe:x`))
	f.Add([]byte("-- ROLLSAFE:irreversible\treason=\"\\\\\"\r\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		// Any reason written with the two escapes reads back as itself.
		if reason := strings.TrimSpace(string(src)); reason != "" && utf8.ValidString(reason) && !strings.ContainsAny(reason, "\r\n") {
			esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(reason)
			set, err := annotation.Parse([]byte("-- rollsafe:contract reason=\"" + esc + "\"\n"))
			if err != nil {
				t.Fatalf("reason %q: %v", reason, err)
			}
			if len(set) != 1 || set[0].Reason != reason || set[0].Kind != annotation.Contract {
				t.Fatalf("reason %q read back as %+v", reason, set)
			}
		}
		set, err := annotation.Parse(src)
		if err != nil {
			if !errors.Is(err, annotation.ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		for _, a := range set {
			if a.Kind != annotation.Irreversible && a.Kind != annotation.Contract {
				t.Fatalf("unknown kind accepted: %q", a.Kind)
			}
			if a.Reason == "" || a.Line < 1 {
				t.Fatalf("bad annotation accepted: %+v", a)
			}
		}
	})
}
