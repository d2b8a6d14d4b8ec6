package flags

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/diegoholiveira/jsonlogic/v3"
	"github.com/open-feature/go-sdk/openfeature"
)

// result is the outcome of evaluating one flag. value is nil where the
// caller's default applies (DISABLED, DEFAULT without a default variant,
// errors).
type result struct {
	value    any
	variant  string
	reason   openfeature.Reason
	err      openfeature.ResolutionError
	failed   bool
	metadata map[string]any
}

func failure(err openfeature.ResolutionError) result {
	return result{reason: openfeature.ErrorReason, err: err, failed: true}
}

// traceKey is where an evaluation's trace travels in the data given to the
// JsonLogic interpreter: the only way for operators, which the library calls
// with (arguments, data) alone, to report back.
const traceKey = "$rollsafe"

// evalTrace is what operators report during one evaluation.
type evalTrace struct {
	key    string
	splits []string // variants that fractional chose
	buf    [2]string
}

func traceOf(data any) *evalTrace {
	if m, ok := data.(map[string]any); ok {
		if t, ok := m[traceKey].(*evalTrace); ok {
			return t
		}
	}
	return nil
}

func (t *evalTrace) split(variant string) {
	if t != nil {
		if t.splits == nil {
			t.splits = t.buf[:0]
		}
		t.splits = append(t.splits, variant)
	}
}

func (t *evalTrace) flagKey() string {
	if t == nil {
		return ""
	}
	return t.key
}

// evaluate answers flag key for the flattened evaluation context, checking
// that the flag is of kind want. now is $flagd.timestamp.
func (s *Set) evaluate(key string, want Kind, flat openfeature.FlattenedContext, now func() time.Time) result {
	f := s.lookup(key)
	if f == nil {
		return failure(openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("flag %q not found", key)))
	}
	if want != 0 && f.kind != want {
		r := failure(openfeature.NewTypeMismatchResolutionError(
			fmt.Sprintf("flag %q is a %s flag, not %s", key, f.kind, want)))
		r.metadata = f.metadata
		return r
	}
	r := f.resolve(flat, now, &s.scratch)
	r.metadata = f.metadata
	return r
}

func (f *flag) resolve(flat openfeature.FlattenedContext, now func() time.Time, scratch *sync.Pool) result {
	if f.state == Disabled {
		return result{reason: openfeature.DisabledReason}
	}
	if f.targeting == nil {
		if f.defaultVariant == "" {
			return result{reason: openfeature.DefaultReason}
		}
		return result{value: f.variants[f.defaultVariant], variant: f.defaultVariant, reason: openfeature.StaticReason}
	}
	if f.split != nil {
		if r, ok := f.resolveSplit(flat); ok {
			return r
		}
	}
	// The interpreter's data and the trace are reused: nothing the rule
	// returns outlives this call.
	sc, _ := scratch.Get().(*evalScratch)
	if sc == nil {
		sc = &evalScratch{data: map[string]any{}}
	}
	defer func() {
		clear(sc.data)
		sc.tr = evalTrace{}
		scratch.Put(sc)
	}()
	sc.tr = evalTrace{key: f.key}
	tr := &sc.tr
	data := f.ruleData(sc.data, flat, tr)
	var out any
	var err error
	if f.compiled != nil {
		if f.compiledReadsFlagd {
			data["$flagd"] = f.flagdData(now().Unix())
		}
		out, err = applyCompiled(f.compiled, data)
	}
	if f.compiled == nil || errors.Is(err, errInterpret) {
		// Whatever the tree reported before giving up is forgotten: the
		// interpreter starts again.
		sc.tr = evalTrace{key: f.key}
		data["$flagd"] = f.flagdData(now().Unix())
		out, err = applyRule(f.targeting, data)
	}
	if err != nil {
		return failure(openfeature.NewGeneralResolutionError(fmt.Sprintf("targeting of flag %q: %v", f.key, err)))
	}
	// As in flagd: null is the default variant; a value that names no
	// variant ("" included) is an error.
	if out == nil {
		return f.fallback()
	}
	name, ok := variantName(out)
	if !ok {
		return failure(openfeature.NewGeneralResolutionError(
			fmt.Sprintf("targeting of flag %q returned %s, not a variant name", f.key, describe(out))))
	}
	v, ok := f.variants[name]
	if !ok {
		return failure(openfeature.NewGeneralResolutionError(
			fmt.Sprintf("targeting of flag %q chose variant %q, which the flag does not have", f.key, name)))
	}
	reason := openfeature.TargetingMatchReason
	for _, s := range tr.splits {
		if s == name {
			reason = openfeature.SplitReason
			break
		}
	}
	return result{value: v, variant: name, reason: reason}
}

// resolveSplit answers a rule that is one fractional, exactly as the
// interpreter would. ok is false for a bucketing attribute that is an array:
// flagd then reads it as one more entry of the split, which only the
// interpreter follows.
func (f *flag) resolveSplit(flat openfeature.FlattenedContext) (r result, ok bool) {
	var h uint32
	attr := any(nil)
	if f.split.bucketVar != "" {
		attr = flat[f.split.bucketVar]
	}
	switch x := normalize(attr).(type) {
	case string:
		h = bucketHash(x)
	case nil:
		// Without a bucketing value: flag key and targeting key, and
		// without a targeting key the default variant.
		tk, _ := flat[openfeature.TargetingKey].(string)
		if tk == "" {
			return f.fallback(), true
		}
		h = bucketHash(splitKey(f.key, tk))
	case []any:
		return result{}, false
	default:
		// flagd buckets only by a string.
		return f.fallback(), true
	}
	v := pickVariant(h, f.split.weights, f.split.total)
	value, found := f.variants[v]
	if !found {
		return failure(openfeature.NewGeneralResolutionError(
			fmt.Sprintf("targeting of flag %q chose variant %q, which the flag does not have", f.key, v))), true
	}
	return result{value: value, variant: v, reason: openfeature.SplitReason}, true
}

// fallback is the answer when targeting chooses nothing.
func (f *flag) fallback() result {
	if f.defaultVariant == "" {
		return result{reason: openfeature.DefaultReason}
	}
	return result{value: f.variants[f.defaultVariant], variant: f.defaultVariant, reason: openfeature.DefaultReason}
}

// applyRule runs the interpreter. It recovers by itself too: the library's
// own recover re-panics on a panic that carries no error.
func applyRule(rule, data any) (out any, err error) {
	registerOperators()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rule failed: %v", r)
		}
	}()
	return jsonlogic.ApplyInterface(rule, data)
}

// ruleData is what a rule's "var" reads: the context's attributes and the
// targeting key; the caller adds $flagd.flagKey and $flagd.timestamp (unix
// seconds) where the rule may read them.
func (f *flag) ruleData(data map[string]any, flat openfeature.FlattenedContext, tr *evalTrace) map[string]any {
	for k, v := range flat {
		data[k] = normalize(v)
	}
	data[traceKey] = tr
	return data
}

// evalScratch is what one interpreted evaluation needs besides the rule.
type evalScratch struct {
	data map[string]any
	tr   evalTrace
}

// flagdStamp is a flag's $flagd object for one second.
type flagdStamp struct {
	unix int64
	data map[string]any
}

// flagdData returns the $flagd object, built once a second rather than on
// every evaluation; rules only read it.
func (f *flag) flagdData(unix int64) map[string]any {
	if st := f.flagd.Load(); st != nil && st.unix == unix {
		return st.data
	}
	st := &flagdStamp{unix: unix, data: map[string]any{"flagKey": f.key, "timestamp": float64(unix)}}
	f.flagd.Store(st)
	return st.data
}

// normalize converts what Go callers put into an evaluation context into the
// few types the interpreter handles: float64 or int numbers, strings,
// booleans, []any and map[string]any.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64, int:
		return v
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case int16:
		return float64(x)
	case int8:
		return float64(x)
	case uint:
		return float64(x)
	case uint64:
		return float64(x)
	case uint32:
		return float64(x)
	case uint16:
		return float64(x)
	case uint8:
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return float64(x.Unix())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	}
	return fmt.Sprint(v)
}

// asInt converts a number variant for an Int evaluation.
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

// asFloat converts a number variant for a Float evaluation.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
