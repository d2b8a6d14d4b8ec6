package ofrep

import (
	"encoding/json"
	"testing"
)

// FuzzParseContext: whatever the body, the parser answers without
// panicking, and a context it accepts is an object within the depth limit
// whose targetingKey, if any, is a string.
func FuzzParseContext(f *testing.F) {
	for _, seed := range []string{
		`{"context": {"targetingKey": "u", "plan": "pro"}}`,
		`{"context": {}}`, `{"context": null}`, `{"context": [1]}`, `[]`, ``, `{`,
		`{"context": {"targetingKey": 7}}`, `{"context": {"a": "\"[{\\"}}`,
		`{"context": {"a": [[[[[[[[[[[1]]]]]]]]]]]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		flat, rerr := parseContext(body, DefaultMaxContextDepth)
		if rerr != nil {
			if rerr.code == "" || rerr.details == "" {
				t.Fatalf("refusal without a code or details: %+v", rerr)
			}
			return
		}
		if flat == nil {
			t.Fatal("accepted without a context")
		}
		if tk, ok := flat["targetingKey"]; ok {
			if _, isString := tk.(string); !isString {
				t.Fatalf("targetingKey %v accepted", tk)
			}
		}
		b, err := json.Marshal(map[string]any(flat))
		if err != nil {
			t.Fatalf("accepted context does not encode: %v", err)
		}
		if d := jsonDepth(b); d > DefaultMaxContextDepth {
			t.Fatalf("accepted a context %d deep", d)
		}
	})
}
