package flags

import (
	"fmt"
	"math"
	"strconv"
	"strings"

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
	bucket := (uint64(hash) * total) >> 32
	var upto uint64
	for _, w := range weights {
		upto += uint64(w.Weight)
		if bucket < upto {
			return w.Variant
		}
	}
	// Unreachable while total is the sum of the weights: bucket < total.
	return weights[len(weights)-1].Variant
}

// splitKey is what a fractional without a bucketing expression hashes.
func splitKey(flagKey, targetingKey string) string {
	return flagKey + targetingKey
}

// parseWeights reads fractional's variant list: ["name"] or ["name", weight]
// entries, the weight a non-negative whole number (1 when left out).
func parseWeights(entries []any) ([]Weight, uint64, error) {
	if len(entries) == 0 {
		return nil, 0, fmt.Errorf("fractional needs at least one [variant, weight] entry")
	}
	weights := make([]Weight, 0, len(entries))
	var total uint64
	for i, e := range entries {
		entry, ok := e.([]any)
		if !ok || len(entry) == 0 || len(entry) > 2 {
			return nil, 0, fmt.Errorf("fractional entry %d must be [variant] or [variant, weight], not %s", i+1, describe(e))
		}
		name, ok := entry[0].(string)
		if !ok {
			return nil, 0, fmt.Errorf("fractional entry %d: the variant must be a string, not %s", i+1, describe(entry[0]))
		}
		w := 1
		if len(entry) == 2 {
			f, ok := entry[1].(float64)
			if !ok || f < 0 || f != math.Trunc(f) || f > math.MaxUint32 {
				return nil, 0, fmt.Errorf("fractional entry %d (%q): the weight must be a non-negative whole number, not %s", i+1, name, describe(entry[1]))
			}
			w = int(f)
		}
		weights = append(weights, Weight{Variant: name, Weight: w})
		total += uint64(w)
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("fractional weights add up to zero")
	}
	if total > math.MaxUint32 {
		return nil, 0, fmt.Errorf("fractional weights add up to %d, more than %d", total, uint64(math.MaxUint32))
	}
	return weights, total, nil
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

// opFractional: {"fractional": [bucketing?, [variant, weight], ...]}.
func opFractional(values, data any) any {
	tr := traceOf(data)
	args, ok := values.([]any)
	if !ok {
		tr.fail(fmt.Errorf("fractional takes an array, not %s", describe(values)))
		return nil
	}
	bucketBy, hasBucketBy, entries := splitArgs(args)
	weights, total, err := parseWeights(entries)
	if err != nil {
		tr.fail(err)
		return nil
	}
	return chooseFractional(tr, data, bucketBy, hasBucketBy, weights, total)
}

// chooseFractional is fractional once its arguments are read.
func chooseFractional(tr *evalTrace, data, bucketBy any, hasBucketBy bool, weights []Weight, total uint64) any {
	var value string
	switch {
	case hasBucketBy && bucketBy != nil:
		s, ok := bucketString(bucketBy)
		if !ok {
			tr.fail(fmt.Errorf("fractional: the bucketing value must be a string, number or boolean, not %s", describe(bucketBy)))
			return nil
		}
		value = s
	default:
		// No bucketing expression (or one that found nothing): the flag key
		// and the targeting key, and without a targeting key no bucket at
		// all, so that the default variant answers.
		key, _ := lookupString(data, "targetingKey")
		if key == "" {
			return nil
		}
		value = splitKey(tr.flagKey(), key)
	}
	v := pickVariant(bucketHash(value), weights, total)
	tr.split(v)
	return v
}

func bucketString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case bool:
		return strconv.FormatBool(x), true
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

// checkFractional reports what is wrong with a fractional's arguments when
// the definitions load, so that evaluation rarely meets a bad one.
func checkFractional(ps *problems, f *flag, field string, args any) {
	list, ok := args.([]any)
	if !ok {
		ps.add(f.key, field, "fractional takes an array, not %s", describe(args))
		return
	}
	bucketBy, hasBucketBy, entries := splitArgs(list)
	if hasBucketBy {
		switch bucketBy.(type) {
		case string, map[string]any:
			checkRule(ps, f, field, bucketBy, false)
		default:
			ps.add(f.key, field, "fractional: the bucketing expression must be a rule or a string, not %s", describe(bucketBy))
		}
	}
	weights, _, err := parseWeights(entries)
	if err != nil {
		ps.add(f.key, field, "%v", err)
		return
	}
	for _, w := range weights {
		if _, ok := f.variants[w.Variant]; !ok {
			ps.add(f.key, field, "fractional names variant %q, which is not one of the variants (%s)", w.Variant, variantNames(f.variants))
		}
	}
}

// compileSplit returns the fast form of a rule that is one fractional over
// the targeting key with literal weights, or nil.
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
	weights, total, err := parseWeights(entries)
	if err != nil {
		return nil
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
