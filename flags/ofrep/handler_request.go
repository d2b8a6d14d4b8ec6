package ofrep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/open-feature/go-sdk/openfeature"
)

// requestError is a request body the handler refuses: 400 with code, or
// 413 when tooLarge.
type requestError struct {
	code     string
	details  string
	tooLarge bool
}

func (e *requestError) Error() string { return e.code + ": " + e.details }

// readBody reads r's body, at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *requestError) {
	if r.ContentLength > max {
		return nil, &requestError{tooLarge: true, details: fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, max)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &requestError{tooLarge: true, details: fmt.Sprintf("request body is over the limit of %d bytes", max)}
		}
		return nil, &requestError{code: CodeParseError, details: "read request body: " + err.Error()}
	}
	return body, nil
}

// parseContext reads an evaluation request body: a JSON object whose
// "context" is an object, nested at most maxDepth deep, with a string
// targetingKey if it has one. Other members of the body are ignored. The
// context is returned as the flattened context it already is: OFREP's
// context is the flattened form of an OpenFeature evaluation context,
// targetingKey included under that name.
func parseContext(body []byte, maxDepth int) (openfeature.FlattenedContext, *requestError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &requestError{code: CodeParseError, details: `request body is empty: it must be a JSON object with a "context" object`}
	}
	// A map, not a struct: encoding/json would take "Context" or
	// "CONTEXT" for "context" (and the last of several), where the
	// protocol names one field.
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, &requestError{code: CodeParseError, details: fmt.Sprintf("request body is not JSON: %v at offset %d", syn, syn.Offset)}
		}
		return nil, &requestError{code: CodeInvalidContext, details: "request body must be a JSON object, not " + jsonKind(bytes.TrimSpace(body))}
	}
	raw := bytes.TrimSpace(req["context"])
	if len(raw) == 0 {
		return nil, &requestError{code: CodeInvalidContext, details: `request body has no "context"`}
	}
	if raw[0] != '{' {
		return nil, &requestError{code: CodeInvalidContext, details: "context must be an object, not " + jsonKind(raw)}
	}
	if d := jsonDepth(raw); d > maxDepth {
		return nil, &requestError{code: CodeInvalidContext, details: fmt.Sprintf("context nests %d deep, over the limit of %d", d, maxDepth)}
	}
	var flat map[string]any
	if err := json.Unmarshal(raw, &flat); err != nil {
		// The body parsed, so this cannot happen; answer it all the same.
		return nil, &requestError{code: CodeParseError, details: "context: " + err.Error()}
	}
	if tk, ok := flat[openfeature.TargetingKey]; ok {
		if _, isString := tk.(string); !isString {
			return nil, &requestError{code: CodeInvalidContext, details: "context.targetingKey must be a string, not " + goKind(tk)}
		}
	}
	return flat, nil
}

// jsonDepth is how deeply objects and arrays nest in valid JSON raw,
// counted without decoding it (so that a deep context is refused before
// anything is built from it).
func jsonDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// jsonKind names the JSON type of valid JSON raw.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// goKind names the JSON type of a value decoded by encoding/json.
func goKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return strconv.Quote(fmt.Sprintf("%T", v))
	}
}
