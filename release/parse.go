package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParsePlan reads a plan written in JSON or YAML: data whose first
// non-space byte is '{' is JSON, anything else YAML. Both are held to the
// same rules, since YAML is read into a tree, written as JSON and read as
// JSON: unknown fields, duplicate keys, values of the wrong type and
// everything [Plan.Validate] refuses are problems. Each problem names its
// field by path (steps[2].weights["orders-v2"]: 0-based indexes, as in a
// JSON path); a syntax error gives its line.
//
// A plan with problems is refused whole: the error is a [*PlanError]
// listing every problem found, and it wraps [ErrInvalidPlan].
func ParsePlan(data []byte) (*Plan, error) {
	if isJSON(data) {
		return parseJSON(data)
	}
	return parseYAML(data)
}

// ParsePlanFile reads the plan in the file at path, as JSON when its name
// ends in .json, as YAML for .yaml and .yml, and otherwise as [ParsePlan]
// decides. A file that cannot be read is an error that is not a
// [*PlanError].
func ParsePlanFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("release: plan: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return parseJSON(data)
	case ".yaml", ".yml":
		return parseYAML(data)
	}
	return ParsePlan(data)
}

func isJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

func parseJSON(data []byte) (*Plan, error) {
	tree, err := decodeJSONTree(data)
	if err != nil {
		return nil, err
	}
	return planFromTree(tree)
}

func parseYAML(data []byte) (*Plan, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, planError(PlanProblem{Message: "malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, planError(PlanProblem{Message: "malformed YAML: a plan is one document; a second one follows"})
	}
	// Through JSON, the tree has exactly the types the JSON reader makes,
	// and YAML that JSON cannot express (keys that are not strings, .inf)
	// is refused.
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, planError(PlanProblem{Message: "YAML that JSON cannot express: " + strings.TrimPrefix(err.Error(), "json: ")})
	}
	return parseJSON(js)
}

// decodeJSONTree reads one JSON value into maps, slices, strings, bools,
// json.Numbers and nils, refusing duplicate keys and data after the value.
func decodeJSONTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSONValue(dec, data, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := position(data, dec.InputOffset())
		return nil, planError(PlanProblem{Message: fmt.Sprintf("malformed JSON at line %d, column %d: data after the plan", line, col)})
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder, data []byte, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntax(data, err)
	}
	switch tok {
	case json.Delim('{'):
		obj := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, jsonSyntax(data, err)
			}
			key := kt.(string) // the decoder gives object keys as strings
			kp := joinKey(path, key)
			if _, dup := obj[key]; dup {
				line, _ := position(data, dec.InputOffset())
				return nil, planError(PlanProblem{Field: kp, Message: fmt.Sprintf("given twice (again at line %d)", line)})
			}
			v, err := decodeJSONValue(dec, data, kp)
			if err != nil {
				return nil, err
			}
			obj[key] = v
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(data, err)
		}
		return obj, nil
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := decodeJSONValue(dec, data, fmt.Sprintf("%s[%d]", path, len(arr)))
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonSyntax(data, err)
		}
		return arr, nil
	}
	return tok, nil
}

func jsonSyntax(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Token's offsets are sometimes of the bytes before the bad one,
		// sometimes after it; Unmarshal's are always after.
		var v any
		var whole *json.SyntaxError
		if errors.As(json.Unmarshal(data, &v), &whole) {
			se = whole
		}
		line, col := position(data, se.Offset)
		return planError(PlanProblem{Message: fmt.Sprintf("malformed JSON at line %d, column %d: %v", line, col, se)})
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := position(data, int64(len(data))+1)
		return planError(PlanProblem{Message: fmt.Sprintf("malformed JSON at line %d, column %d: unexpected end of input", line, col)})
	}
	return planError(PlanProblem{Message: "malformed JSON: " + err.Error()})
}

// position is the line and column of the byte before offset.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset-1 && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// planFromTree builds a plan from a decoded tree, then validates it. A
// problem of validation on a field that could not be read (or below it)
// is left out: it would only repeat the first.
func planFromTree(tree any) (*Plan, error) {
	if _, ok := tree.(map[string]any); !ok {
		if tree == nil {
			return nil, planError(PlanProblem{Message: "the plan is empty"})
		}
		return nil, planError(PlanProblem{Message: "the plan is " + describe(tree) + ", not an object"})
	}
	var p Plan
	var ps problems
	decodeInto(&ps, "", tree, reflect.ValueOf(&p).Elem())
	structural := ps.list
	ps.list = nil
	p.validate(&ps)
	for _, vp := range ps.list {
		if !covered(structural, vp.Field) {
			structural = append(structural, vp)
		}
	}
	if len(structural) > 0 {
		return nil, planError(structural...)
	}
	return &p, nil
}

// covered reports whether field is, or is inside, the field of one of ps.
func covered(ps []PlanProblem, field string) bool {
	for _, p := range ps {
		if p.Field == "" || field == p.Field ||
			strings.HasPrefix(field, p.Field+".") || strings.HasPrefix(field, p.Field+"[") {
			return true
		}
	}
	return false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeInto sets dst from v, the decoded JSON at path, adding a problem
// for each unknown field and each value of the wrong type. A null leaves
// dst at its zero value, as encoding/json does.
func decodeInto(ps *problems, path string, v any, dst reflect.Value) {
	if v == nil {
		return
	}
	if dst.Kind() != reflect.Pointer && reflect.PointerTo(dst.Type()).Implements(unmarshalerType) {
		raw, err := json.Marshal(v)
		if err == nil {
			err = dst.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		if err != nil {
			ps.add(path, "%v", err)
		}
		return
	}
	switch dst.Kind() {
	case reflect.Pointer:
		nv := reflect.New(dst.Type().Elem())
		decodeInto(ps, path, v, nv.Elem())
		dst.Set(nv)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "is %s, not an object", describe(v))
			return
		}
		known := map[string]bool{}
		t := dst.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			known[name] = true
			if fv, ok := obj[name]; ok {
				decodeInto(ps, joinKey(path, name), fv, dst.Field(i))
			}
		}
		var unknown []string
		for k := range obj {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			ps.add(joinKey(path, k), "unknown field")
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			ps.add(path, "is %s, not a list", describe(v))
			return
		}
		if len(arr) == 0 {
			return // nil, as an omitted list, so that a plan reads back as it was written
		}
		s := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
		for i, e := range arr {
			decodeInto(ps, fmt.Sprintf("%s[%d]", path, i), e, s.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "is %s, not an object", describe(v))
			return
		}
		m := reflect.MakeMapWithSize(dst.Type(), len(obj))
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ev := reflect.New(dst.Type().Elem()).Elem()
			decodeInto(ps, path+"["+strconv.Quote(k)+"]", obj[k], ev)
			m.SetMapIndex(reflect.ValueOf(k), ev)
		}
		dst.Set(m)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			ps.add(path, "is %s, not a string", describe(v))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			ps.add(path, "is %s, not true or false", describe(v))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "is %s, not a whole number", describe(v))
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || dst.OverflowInt(i) {
			ps.add(path, "%s is not a whole number in range", n)
			return
		}
		dst.SetInt(i)
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "is %s, not a number", describe(v))
			return
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			ps.add(path, "%s is not a number in range", n)
			return
		}
		dst.SetFloat(f)
	default:
		// Every field of Plan is one of the kinds above.
		panic(fmt.Sprintf("release: plan: field %s has kind %s", path, dst.Kind()))
	}
}

// describe names the JSON type of v, with its value when short.
func describe(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "the string " + strconv.Quote(abbreviate(x))
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return "the number " + x.String()
	}
	return fmt.Sprintf("%T", v)
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// joinKey is the path of the member key of the object at path: .key for a
// name, ["key"] for anything else.
func joinKey(path, key string) string {
	if isName(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
