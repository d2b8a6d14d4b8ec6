package ofrep

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseContext: whatever a client sends, the parser answers a context
// or a request error naming what is wrong, never a panic; an accepted
// context came from a JSON object whose "context" is an object no deeper
// than the limit.
func FuzzParseContext(f *testing.F) {
	for _, seed := range []string{
		`{"context":{"targetingKey":"u1","plan":"pro"}}`,
		`{"context":{}}`,
		`{"context":{"targetingKey":7}}`,
		`{"context":[1]}`,
		`{"context":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1}}}}}}}}}}}}`,
		`{}`, `[]`, `null`, `{"context":null}`, `{"context":{"x":1e400}}`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		flat, rerr := parseContext(body, DefaultMaxContextDepth)
		if rerr != nil {
			if rerr.code == "" || rerr.details == "" {
				t.Fatalf("a refusal without a code or details: %+v", rerr)
			}
			return
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		if jsonKind(bytes.TrimSpace(doc["context"])) != "an object" {
			t.Fatalf("accepted %q, whose context is not an object", body)
		}
		if d := jsonDepth(doc["context"]); d > DefaultMaxContextDepth {
			t.Fatalf("accepted a context %d deep", d)
		}
		if _, err := json.Marshal(flat); err != nil {
			t.Fatalf("accepted a context that does not encode: %v", err)
		}
		if tk, ok := flat["targetingKey"]; ok {
			if _, isString := tk.(string); !isString {
				t.Fatalf("accepted a targetingKey that is not a string: %#v", tk)
			}
		}
	})
}
