package ofrep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
)

// result is one flag's answer as the provider keeps it: decoded once,
// converted to the caller's type at each evaluation.
type result struct {
	value    any // bool, string, int64, float64, map[string]any, []any; nil: the caller's default
	reason   openfeature.Reason
	variant  string
	metadata openfeature.FlagMetadata
	code     openfeature.ErrorCode // "" when the evaluation succeeded
	rerr     openfeature.ResolutionError
}

// fail builds a failed result; code is any code the SDK knows.
func fail(code openfeature.ErrorCode, msg string, err error) result {
	var errs []error
	if err != nil {
		errs = []error{err}
	}
	var re openfeature.ResolutionError
	switch code {
	case openfeature.ProviderNotReadyCode:
		re = openfeature.NewProviderNotReadyResolutionError(msg)
	case openfeature.ProviderFatalCode:
		re = openfeature.NewProviderFatalResolutionError(msg)
	case openfeature.FlagNotFoundCode:
		re = openfeature.NewFlagNotFoundResolutionError(msg)
	case openfeature.ParseErrorCode:
		re = openfeature.NewParseErrorResolutionError(msg, errs...)
	case openfeature.TypeMismatchCode:
		re = openfeature.NewTypeMismatchResolutionError(msg)
	case openfeature.TargetingKeyMissingCode:
		re = openfeature.NewTargetingKeyMissingResolutionError(msg)
	case openfeature.InvalidContextCode:
		re = openfeature.NewInvalidContextResolutionError(msg)
	default:
		code = openfeature.GeneralCode
		re = openfeature.NewGeneralResolutionError(msg, errs...)
	}
	return result{reason: openfeature.ErrorReason, code: code, rerr: re}
}

// typed turns a successful result whose value is not of the type the call
// asks for (ok false) into a TYPE_MISMATCH; a result without a value
// (codeDefault) and a failure stay as they are.
func (r result) typed(key string, ok bool, want string) result {
	if ok || r.code != "" || r.value == nil {
		return r
	}
	out := fail(openfeature.TypeMismatchCode, fmt.Sprintf("flag %q: value %s is not %s", key, describe(r.value), want), nil)
	out.variant, out.metadata = r.variant, r.metadata
	return out
}

func describe(v any) string {
	switch v.(type) {
	case bool:
		return "of type boolean"
	case string:
		return "of type string"
	case int64, float64:
		return fmt.Sprintf("%v (a number)", v)
	case map[string]any:
		return "of type object"
	case []any:
		return "of type array"
	}
	return fmt.Sprintf("of type %T", v)
}

func (r result) detail() openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{
		ResolutionError: r.rerr,
		Reason:          r.reason,
		Variant:         r.variant,
		FlagMetadata:    r.metadata,
	}
}

// wireItem is an OFREP evaluationSuccess or evaluationFailure, as the
// single-flag endpoint answers and as each item of a bulk answer is.
type wireItem struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Metadata     json.RawMessage `json:"metadata"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
}

// decodeSingle reads a 200 of the single-flag endpoint. A malformed body
// is a PARSE_ERROR.
func decodeSingle(key string, body []byte) result {
	var it wireItem
	if err := strictDecode(body, &it); err != nil {
		return fail(openfeature.ParseErrorCode, fmt.Sprintf("flag %q: malformed OFREP response: %v", key, err), err)
	}
	return it.result(key)
}

// decodeFailure reads a 400 of the single-flag endpoint.
func decodeFailure(key string, body []byte) (result, error) {
	var it wireItem
	if err := strictDecode(body, &it); err != nil {
		return result{}, err
	}
	if it.ErrorCode == "" {
		return result{}, errors.New("no errorCode")
	}
	return it.result(key), nil
}

// result converts the item; key names the flag in messages.
func (it *wireItem) result(key string) result {
	if it.ErrorCode != "" {
		msg := fmt.Sprintf("flag %q: %s", key, it.ErrorCode)
		if it.ErrorDetails != "" {
			msg = fmt.Sprintf("flag %q: %s", key, it.ErrorDetails)
		}
		code := openfeature.ErrorCode(it.ErrorCode)
		switch code {
		case openfeature.ProviderNotReadyCode, openfeature.FlagNotFoundCode, openfeature.ParseErrorCode,
			openfeature.TypeMismatchCode, openfeature.TargetingKeyMissingCode, openfeature.InvalidContextCode,
			openfeature.GeneralCode:
		default:
			// PROVIDER_FATAL from a server would make the client fatal
			// for one flag's trouble; it and unknown codes are GENERAL.
			msg = fmt.Sprintf("flag %q: server error %s: %s", key, it.ErrorCode, it.ErrorDetails)
			code = openfeature.GeneralCode
		}
		r := fail(code, msg, nil)
		r.metadata, _ = decodeMetadata(it.Metadata)
		return r
	}
	r := result{reason: openfeature.Reason(it.Reason), variant: it.Variant}
	if r.reason == "" {
		r.reason = openfeature.UnknownReason
	}
	var err error
	if r.metadata, err = decodeMetadata(it.Metadata); err != nil {
		return fail(openfeature.ParseErrorCode, fmt.Sprintf("flag %q: malformed metadata: %v", key, err), err)
	}
	// No value, or null: codeDefault, the caller's default applies.
	if len(it.Value) == 0 || string(it.Value) == "null" {
		return r
	}
	if r.value, err = decodeValue(it.Value); err != nil {
		return fail(openfeature.ParseErrorCode, fmt.Sprintf("flag %q: malformed value: %v", key, err), err)
	}
	return r
}

// strictDecode decodes one JSON value and refuses anything after it.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return native(v), nil
}

func decodeMetadata(raw json.RawMessage) (openfeature.FlagMetadata, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	v, err := decodeValue(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("metadata is not an object")
	}
	return openfeature.FlagMetadata(m), nil
}

// native turns json.Number into int64 when written as a whole number
// that fits, float64 otherwise, throughout a value: what the in-process
// flags.Provider answers for the same definitions.
func native(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, _ := x.Float64() // the decoder accepted it as a number
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = native(e)
		}
	case []any:
		for i, e := range x {
			x[i] = native(e)
		}
	}
	return v
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// sameContext reports whether an evaluation's flattened context is the
// cached one. Scalars, the usual case, compare without reflection.
func sameContext(a, b openfeature.FlattenedContext) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		switch x := av.(type) {
		case string:
			if y, ok := bv.(string); !ok || x != y {
				return false
			}
		case bool:
			if y, ok := bv.(bool); !ok || x != y {
				return false
			}
		case int:
			if y, ok := bv.(int); !ok || x != y {
				return false
			}
		case int64:
			if y, ok := bv.(int64); !ok || x != y {
				return false
			}
		case float64:
			if y, ok := bv.(float64); !ok || x != y {
				return false
			}
		default:
			if !reflect.DeepEqual(av, bv) {
				return false
			}
		}
	}
	return true
}

// sameResult reports whether two answers for a flag are the same to a
// caller: what decides that a key is in CONFIGURATION_CHANGED.
func sameResult(a, b result) bool {
	return a.reason == b.reason && a.variant == b.variant && a.code == b.code &&
		a.rerr.Error() == b.rerr.Error() &&
		reflect.DeepEqual(a.value, b.value) && reflect.DeepEqual(a.metadata, b.metadata)
}
