package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads flag definitions in the flagd JSON format and validates them:
//
//	{
//	  "$schema": "...",                      // optional, ignored
//	  "metadata": {"team": "checkout"},      // optional, merged into every flag's
//	  "$evaluators": {"beta": {"in": ...}},  // optional rules shared through {"$ref": "beta"}
//	  "flags": {
//	    "new-checkout": {
//	      "state": "ENABLED",                // or "DISABLED"
//	      "variants": {"on": true, "off": false},
//	      "defaultVariant": "off",           // optional, may be null
//	      "targeting": {...},                // optional JsonLogic rule
//	      "metadata": {...}                  // optional
//	    }
//	  }
//	}
//
// All variants of a flag share one JSON type: boolean, string, number or
// object. Each flag is validated on its own, as flagd loads a file:
//
//   - every flag valid: the Set and a nil error;
//   - some flags invalid: the Set of the valid ones and a [*ValidationError]
//     naming each problem of the others by flag and field. The Set knows
//     them too ([Set.Problems]): a [Provider] serving it answers
//     PARSE_ERROR for them;
//   - the document itself refused (malformed JSON, or a set-level problem:
//     see [DocumentError]): a nil Set and a [*DocumentError] listing every
//     problem found.
//
// Every error wraps [ErrInvalid].
func Parse(data []byte) (*Set, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, documentError(Problem{Message: syntaxMessage(data, err)})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, documentError(Problem{Message: "malformed JSON: data after the top-level object"})
	}
	return build(doc)
}

func documentError(ps ...Problem) *DocumentError {
	return &DocumentError{ValidationError{Problems: ps}}
}

// ParseYAML reads flag definitions written in YAML with the same structure as
// the JSON that [Parse] reads, and answers as Parse does.
func ParseYAML(data []byte) (*Set, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, documentError(Problem{Message: "malformed YAML: " + err.Error()})
	}
	// Round-tripping through JSON gives the decoded tree exactly the types
	// Parse works on, and refuses YAML that JSON cannot express.
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, documentError(Problem{Message: "YAML that JSON cannot express: " + err.Error()})
	}
	return Parse(js)
}

func syntaxMessage(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset)
		return fmt.Sprintf("malformed JSON at line %d, column %d: %v", line, col, se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON: " + err.Error()
}

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

// problems collects what is wrong while a document is built.
type problems []Problem

func (ps *problems) add(flagKey, field, format string, args ...any) {
	*ps = append(*ps, Problem{Flag: flagKey, Field: field, Message: fmt.Sprintf(format, args...)})
}

// sorted returns the problems ordered by flag key and field.
func (ps problems) sorted() []Problem {
	sorted := slices.Clone(ps)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Flag != sorted[j].Flag {
			return sorted[i].Flag < sorted[j].Flag
		}
		return sorted[i].Field < sorted[j].Field
	})
	return sorted
}

// build validates a decoded document. Problems of the document itself
// refuse it whole; a flag's own problems keep that flag out.
func build(doc any) (*Set, error) {
	var ps problems // of the document: each one refuses it
	top, ok := doc.(map[string]any)
	if !ok {
		ps.add("", "", "the document must be a JSON object, not %s", jsonType(doc))
		return nil, documentError(ps...)
	}
	for k := range top {
		switch k {
		case "flags", "$evaluators", "metadata", "$schema":
		default:
			ps.add("", k, "unknown field (want flags, $evaluators, metadata or $schema)")
		}
	}
	set := &Set{flags: map[string]*flag{}}
	if md, ok := top["metadata"]; ok {
		set.metadata = parseMetadata(&ps, "", "metadata", md)
	}
	if ev, ok := top["$evaluators"]; ok {
		m, isMap := ev.(map[string]any)
		if !isMap {
			ps.add("", "$evaluators", "must be an object of named rules, not %s", jsonType(ev))
		} else {
			set.evaluators = map[string]any{}
			for name, rule := range m {
				set.evaluators[name] = toFloats(rule)
			}
		}
	}
	rawFlags, ok := top["flags"]
	if !ok {
		ps.add("", "flags", "missing")
		return nil, documentError(ps.sorted()...)
	}
	fm, ok := rawFlags.(map[string]any)
	if !ok {
		ps.add("", "flags", "must be an object keyed by flag key, not %s", jsonType(rawFlags))
		return nil, documentError(ps.sorted()...)
	}
	var flagPs problems // of the flags: each keeps its flag out
	for key, raw := range fm {
		var own problems
		if f := buildFlag(&own, set, key, raw); f != nil {
			set.flags[key] = f
			continue
		}
		if set.invalid == nil {
			set.invalid = map[string]invalidFlag{}
		}
		set.invalid[key] = invalidFlag{problems: own.sorted(), raw: raw}
		flagPs = append(flagPs, own...)
	}
	if len(ps) > 0 {
		return nil, documentError(append(ps, flagPs...).sorted()...)
	}
	if len(flagPs) > 0 {
		return set, &ValidationError{Problems: flagPs.sorted()}
	}
	return set, nil
}

func buildFlag(ps *problems, set *Set, key string, raw any) *flag {
	before := len(*ps)
	if key == "" {
		ps.add(key, "", "a flag key must not be empty")
	}
	def, ok := raw.(map[string]any)
	if !ok {
		ps.add(key, "", "the definition must be an object, not %s", jsonType(raw))
		return nil
	}
	f := &flag{key: key}
	for field := range def {
		switch field {
		case "state", "variants", "defaultVariant", "targeting", "metadata":
		default:
			ps.add(key, field, "unknown field (want state, variants, defaultVariant, targeting or metadata)")
		}
	}
	switch s := def["state"].(type) {
	case string:
		f.state = State(s)
		if f.state != Enabled && f.state != Disabled {
			ps.add(key, "state", "%q is not ENABLED or DISABLED", s)
		}
	case nil:
		ps.add(key, "state", "missing (want ENABLED or DISABLED)")
	default:
		ps.add(key, "state", "must be the string ENABLED or DISABLED, not %s", jsonType(s))
	}
	parseVariants(ps, f, def["variants"])
	switch dv := def["defaultVariant"].(type) {
	case nil:
	case string:
		if _, ok := f.variants[dv]; !ok && f.variants != nil {
			ps.add(key, "defaultVariant", "%q is not one of the variants (%s)", dv, variantNames(f.variants))
		}
		f.defaultVariant = dv
	default:
		ps.add(key, "defaultVariant", "must be a variant name or null, not %s", jsonType(dv))
	}
	if md, ok := def["metadata"]; ok {
		f.flagMetadata = parseMetadata(ps, key, "metadata", md)
	}
	f.metadata = mergeMetadata(set.metadata, f.flagMetadata)
	if t, ok := def["targeting"]; ok && t != nil {
		tm, isMap := t.(map[string]any)
		switch {
		case !isMap:
			ps.add(key, "targeting", "must be a JsonLogic object, not %s", jsonType(t))
		case len(tm) > 0: // {} means no targeting, as in flagd
			f.rawTargeting = toFloats(tm)
			budget := maxRuleNodes
			resolved, err := resolveRefs(f.rawTargeting, set.evaluators, nil, &budget)
			if err != nil {
				ps.add(key, "targeting", "%v", err)
				break
			}
			f.targeting = resolved
			checkRule(ps, f, "targeting", resolved)
			if f.split = compileSplit(resolved); f.split == nil {
				f.compiled = compileTargeting(resolved)
				f.compiledReadsFlagd = readsFlagd(f.compiled)
			}
		}
	}
	if len(*ps) > before {
		return nil
	}
	f.fingerprint = fingerprint(f)
	return f
}

func parseVariants(ps *problems, f *flag, raw any) {
	if raw == nil {
		ps.add(f.key, "variants", "missing")
		return
	}
	m, ok := raw.(map[string]any)
	if !ok {
		ps.add(f.key, "variants", "must be an object of named values, not %s", jsonType(raw))
		return
	}
	if len(m) == 0 {
		ps.add(f.key, "variants", "must name at least one variant")
		return
	}
	f.variants = make(map[string]any, len(m))
	var first string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		field := "variants." + name
		v, k := variantValue(m[name])
		if k == 0 {
			ps.add(f.key, field, "must be a boolean, string, number or object, not %s", jsonType(m[name]))
			continue
		}
		if f.kind == 0 {
			f.kind, first = k, name
		} else if k != f.kind {
			ps.add(f.key, field, "is a %s but variant %q is a %s: all variants of a flag share one type", k, first, f.kind)
			continue
		}
		f.variants[name] = v
	}
}

// variantValue converts a decoded JSON value into what evaluation hands out:
// whole numbers become int64 so that Int evaluations are exact.
func variantValue(v any) (any, Kind) {
	switch x := v.(type) {
	case bool:
		return x, KindBool
	case string:
		return x, KindString
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, KindNumber
		}
		f, err := x.Float64()
		if err != nil {
			return nil, 0
		}
		return f, KindNumber
	case map[string]any:
		return toNative(x), KindObject
	}
	return nil, 0
}

func parseMetadata(ps *problems, flagKey, field string, raw any) map[string]any {
	m, ok := raw.(map[string]any)
	if !ok {
		ps.add(flagKey, field, "must be an object, not %s", jsonType(raw))
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case bool, string:
			out[k] = x
		case json.Number:
			nv, _ := variantValue(x)
			out[k] = nv
		default:
			ps.add(flagKey, field+"."+k, "must be a boolean, string or number, not %s", jsonType(v))
		}
	}
	return out
}

func mergeMetadata(set, own map[string]any) map[string]any {
	if len(set) == 0 && len(own) == 0 {
		return nil
	}
	out := make(map[string]any, len(set)+len(own))
	maps.Copy(out, set)
	maps.Copy(out, own)
	return out
}

// maxRuleNodes bounds a rule with its $ref references expanded: shared rules
// that refer to one another several times over would otherwise grow
// exponentially.
const maxRuleNodes = 100_000

// resolveRefs replaces every {"$ref": "name"} in rule with the shared rule of
// that name. seen holds the names being resolved, to refuse cycles; budget
// counts down the nodes still allowed.
func resolveRefs(rule any, evaluators map[string]any, seen []string, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("the rule exceeds %d nodes once its $ref references are expanded", maxRuleNodes)
	}
	switch x := rule.(type) {
	case map[string]any:
		if ref, ok := x["$ref"]; ok && len(x) == 1 {
			name, ok := ref.(string)
			if !ok {
				return nil, fmt.Errorf("$ref must name an evaluator, not %s", jsonType(ref))
			}
			if slices.Contains(seen, name) {
				return nil, fmt.Errorf("$ref %q refers to itself through %s", name, strings.Join(seen, " -> "))
			}
			target, ok := evaluators[name]
			if !ok {
				return nil, fmt.Errorf("$ref %q names no entry of $evaluators", name)
			}
			return resolveRefs(target, evaluators, append(seen, name), budget)
		}
		out := make(map[string]any, len(x))
		for k, v := range x {
			r, err := resolveRefs(v, evaluators, seen, budget)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			r, err := resolveRefs(v, evaluators, seen, budget)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return rule, nil
}

// toFloats turns json.Number into float64 throughout a rule: the JsonLogic
// interpreter only knows float64 and int numbers.
func toFloats(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toFloats(e)
		}
		return out
	}
	return v
}

// toNative turns json.Number into int64 or float64 throughout an object
// variant, the types OpenFeature users expect.
func toNative(v any) any {
	switch x := v.(type) {
	case json.Number:
		n, _ := variantValue(x)
		return n
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toNative(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toNative(e)
		}
		return out
	}
	return v
}

func fingerprint(f *flag) string {
	b, err := json.Marshal(struct {
		State     State          `json:"state"`
		Variants  map[string]any `json:"variants"`
		Default   string         `json:"defaultVariant"`
		Targeting any            `json:"targeting"`
		Metadata  map[string]any `json:"metadata"`
	}{f.state, f.variants, f.defaultVariant, f.targeting, f.metadata})
	if err != nil {
		// Every value here came from JSON and marshals again; a failure would
		// only make the flag count as changed on every reload.
		return fmt.Sprintf("%p", f)
	}
	return string(b)
}

func variantNames(m map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
