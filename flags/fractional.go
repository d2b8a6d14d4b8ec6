package flags

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/diegoholiveira/jsonlogic/v3"
	"github.com/twmb/murmur3"
)

// Fractional bucketing, as flagd does it, so that a user lands in the same
// variant under rollsafe and under flagd:
//
//	hash   = MurmurHash3 x86 32-bit, seed 0, of flagKey+targetingKey
//	         (or of the bucketing expression's value when one is given)
//	bucket = (uint64(hash) * uint64(totalWeight)) >> 32
//
// and the variant is the first whose cumulative weight exceeds bucket.

// fractionalRule is a targeting rule that is nothing but a fractional split
// with literal weights, over the targeting key or over one top-level context
// attribute ({"var": "name"}): evaluated without the JsonLogic interpreter.
type fractionalRule struct {
	weights   []Weight
	total     uint64
	bucketVar string // "" buckets by flag key + targeting key
}

// bucketHash is the hash that decides a user's bucket.
func bucketHash(value string) uint32 {
	return murmur3.StringSum32(value)
}

// pickVariant maps a hash onto weights whose sum is total (> 0).
func pickVariant(hash uint32, weights []Weight, total uint64) string {
	return pick(hash, weights, total, func(w Weight) uint64 { return uint64(w.Weight) }).Variant
}

// pick returns the entry a hash falls into, as flagd buckets: bucket
// (hash × total) >> 32 of entries whose weights add up to total (> 0), in
// order.
func pick[E any](hash uint32, entries []E, total uint64, weight func(E) uint64) E {
	bucket := (uint64(hash) * total) >> 32
	var upto uint64
	for _, e := range entries {
		upto += weight(e)
		if bucket < upto {
			return e
		}
	}
	// Unreachable while total is the sum of the weights: bucket < total.
	return entries[len(entries)-1]
}

// splitKey is what a fractional without a bucketing expression hashes.
func splitKey(flagKey, targetingKey string) string {
	return flagKey + targetingKey
}

// share is one entry of a fractional's variant list once evaluated.
type share struct {
	variant any // a string, a boolean, a number or null, as flagd allows
	weight  uint64
}

// maxTotalWeight is the largest sum of weights flagd splits by.
const maxTotalWeight = math.MaxInt32

// readShares reads fractional's evaluated variant list as flagd does:
// [variant] or [variant, weight, ...] entries, the variant a string, a
// boolean, a number or null, the weight a whole number (1 when left out or
// null, 0 when negative). ok is false where flagd answers null: an entry of
// another shape, a weight that is not a whole number or is past 2^31-1, a
// sum of weights past 2^31-1 or of zero.
func readShares(entries []any) (shares []share, total uint64, ok bool) {
	shares = make([]share, 0, len(entries))
	for _, e := range entries {
		entry, isList := e.([]any)
		if !isList || len(entry) == 0 {
			return nil, 0, false
		}
		switch entry[0].(type) {
		case string, bool, float64, nil:
		default:
			return nil, 0, false
		}
		w := uint64(1)
		if len(entry) > 1 {
			switch f := entry[1].(type) {
			case nil:
			case float64:
				if f != math.Trunc(f) || f > maxTotalWeight {
					return nil, 0, false
				}
				w = uint64(max(f, 0))
			default:
				return nil, 0, false
			}
		}
		shares = append(shares, share{variant: entry[0], weight: w})
		total += w
	}
	if total == 0 || total > maxTotalWeight {
		return nil, 0, false
	}
	return shares, total, true
}

// pickShare maps a hash onto shares whose weights add up to total (> 0).
func pickShare(hash uint32, shares []share, total uint64) any {
	return pick(hash, shares, total, func(s share) uint64 { return s.weight }).variant
}

// splitArgs separates fractional's optional bucketing expression from its
// variant list: the first argument is one unless it is an array.
func splitArgs(args []any) (bucketBy any, hasBucketBy bool, entries []any) {
	if len(args) > 0 {
		if _, isEntry := args[0].([]any); !isEntry {
			return args[0], true, args[1:]
		}
	}
	return nil, false, args
}

// opFractional: {"fractional": [bucketing?, [variant, weight], ...]}, on
// evaluated arguments. Whatever does not fit answers null, as in flagd.
func opFractional(values, data any) any {
	args, ok := values.([]any)
	if !ok || len(args) == 0 {
		return nil
	}
	value, entries, ok := bucketValue(data, args[0], args)
	if !ok {
		return nil
	}
	shares, total, ok := readShares(entries)
	if !ok {
		return nil
	}
	return chosen(traceOf(data), pickShare(bucketHash(value), shares, total))
}

// opFractionalInterpreted is opFractional for the interpreter, which
// evaluates fractional's arguments but not the rules inside its entries (a
// variant or weight computed by a rule): it evaluates those first, as flagd
// does.
func opFractionalInterpreted(values, data any) any {
	args, ok := values.([]any)
	if !ok {
		return opFractional(values, data)
	}
	var out []any
	for i, a := range args {
		entry, isList := a.([]any)
		if !isList || !slices.ContainsFunc(entry, isRule) {
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		evaluated := slices.Clone(entry)
		for j, e := range evaluated {
			if isRule(e) {
				v, err := jsonlogic.ApplyInterface(e, data)
				if err != nil {
					// The library's way out of an operator: its recover
					// turns the panic back into the evaluation's error.
					panic(err)
				}
				evaluated[j] = v
			}
		}
		out[i] = evaluated
	}
	if out == nil {
		out = args
	}
	return opFractional(out, data)
}

func isRule(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// bucketValue is what fractional hashes, from its first evaluated argument
// first, and the variant list, as flagd reads them: a string is the value
// to hash; null, or an array (then the first entry), leaves the flag key
// and the targeting key to hash. ok is false where flagd answers null: no
// targeting key (or an empty one) to fall back on, or a first argument of
// another type (flagd reads it as an entry, which it is not).
func bucketValue(data, first any, args []any) (value string, entries []any, ok bool) {
	switch x := first.(type) {
	case string:
		return x, args[1:], true
	case nil:
		entries = args[1:]
	case []any:
		entries = args
	default:
		return "", nil, false
	}
	value, ok = targetingBucket(data)
	return value, entries, ok
}

// targetingBucket is what fractional hashes without a bucketing value: the
// flag key and the targeting key; ok is false without a targeting key.
func targetingBucket(data any) (string, bool) {
	key, _ := lookupString(data, "targetingKey")
	if key == "" {
		return "", false
	}
	return splitKey(traceOf(data).flagKey(), key), true
}

// chosen reports the variant fractional chose, for the reason SPLIT.
func chosen(tr *evalTrace, v any) any {
	if name, ok := variantName(v); ok {
		tr.split(name)
	}
	return v
}

// variantName is the variant a rule's value names, as flagd reads it: a
// string is a name, true and false are "true" and "false", a number is
// named as JSON writes it. ok is false for null, arrays and objects.
func variantName(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		b, err := json.Marshal(x)
		return string(b), err == nil
	case int:
		return strconv.Itoa(x), true
	}
	return "", false
}

func lookupString(data any, key string) (string, bool) {
	m, ok := data.(map[string]any)
	if !ok {
		return "", false
	}
	s, ok := m[key].(string)
	return s, ok
}

// compileSplit returns the fast form of a rule that is one fractional over
// the targeting key or one attribute, with literal variant names and
// weights that split, or nil.
func compileSplit(rule any) *fractionalRule {
	m, ok := rule.(map[string]any)
	if !ok || len(m) != 1 {
		return nil
	}
	args, ok := m["fractional"].([]any)
	if !ok {
		return nil
	}
	bucketBy, hasBucketBy, entries := splitArgs(args)
	var bucketVar string
	if hasBucketBy {
		bucketVar = simpleVar(bucketBy)
		if bucketVar == "" {
			return nil
		}
	}
	shares, total, ok := readShares(entries)
	if !ok {
		return nil
	}
	weights := make([]Weight, len(shares))
	for i, sh := range shares {
		name, isString := sh.variant.(string)
		if !isString {
			return nil
		}
		weights[i] = Weight{Variant: name, Weight: int(sh.weight)}
	}
	return &fractionalRule{weights: weights, total: total, bucketVar: bucketVar}
}

// simpleVar returns name for {"var": "name"} when name reads a top-level
// attribute with no default, and "" for anything else.
func simpleVar(rule any) string {
	m, ok := rule.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	name, ok := m["var"].(string)
	if !ok || name == "" || strings.Contains(name, ".") {
		return ""
	}
	return name
}

func describe(v any) string {
	switch v.(type) {
	case float64, int:
		return fmt.Sprintf("the number %v", v)
	case string:
		return fmt.Sprintf("the string %q", v)
	}
	return jsonType(v)
}
