package flags

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/murmur3"
)

// These tests work on the bucketing function itself, not through the
// provider, so that 100,000 keys stay fast under -race.

func totalOf(ws []Weight) uint64 {
	var t uint64
	for _, w := range ws {
		t += uint64(w.Weight)
	}
	return t
}

func TestBucketHashKnownVectors(t *testing.T) {
	// Published MurmurHash3 x86 32-bit vectors (seed 0), and the buckets they
	// give by bucket = hash*total >> 32, worked out by hand once from those
	// hashes: 0x248bfa47*100 >> 32 = 14, 0x2e4ff723*100 >> 32 = 18,
	// 0x178ce5c5*100 >> 32 = 9.
	tests := []struct {
		value  string
		hash   uint32
		bucket uint64 // of 100
	}{
		{"", 0, 0},
		{"hello", 0x248bfa47, 14},
		{"Hello, world!", 0xc0363e43, 75},
		{"The quick brown fox jumps over the lazy dog", 0x2e4ff723, 18},
		{"checkout-ramp" + "user-42", 0x178ce5c5, 9},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			h := bucketHash(tc.value)
			assert.Equal(t, tc.hash, h)
			assert.Equal(t, tc.bucket, (uint64(h)*100)>>32)
		})
	}
	// Bucket 9 of [10, 90] is the first variant; bucket 14 of [10, 90] the second.
	ramp := []Weight{{"new", 10}, {"old", 90}}
	assert.Equal(t, "new", pickVariant(0x178ce5c5, ramp, 100))
	assert.Equal(t, "old", pickVariant(0x248bfa47, ramp, 100))
}

func TestPickVariantFollowsTheDefinition(t *testing.T) {
	weights := []Weight{{"a", 3}, {"b", 0}, {"c", 5}, {"d", 2}}
	total := totalOf(weights)
	for i := range 2000 {
		key := "flag" + "user-" + strconv.Itoa(i)
		h := murmur3.StringSum32(key)
		bucket := (uint64(h) * total) >> 32
		var want string
		switch {
		case bucket < 3:
			want = "a"
		case bucket < 8:
			want = "c"
		default:
			want = "d"
		}
		require.Equal(t, want, pickVariant(bucketHash(key), weights, total), key)
	}
	assert.Equal(t, "a", pickVariant(0, weights, total))
	assert.Equal(t, "d", pickVariant(math.MaxUint32, weights, total))
}

func TestFractionalDistribution(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name    string
		weights []Weight
	}{
		{"even", []Weight{{"a", 1}, {"b", 1}}},
		{"ramp", []Weight{{"new", 10}, {"old", 90}}},
		{"three", []Weight{{"x", 20}, {"y", 30}, {"z", 50}}},
		{"sub-percent", []Weight{{"on", 5}, {"off", 995}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := totalOf(tc.weights)
			counts := map[string]int{}
			for i := range n {
				counts[pickVariant(bucketHash(splitKey("rollout", "user-"+strconv.Itoa(i))), tc.weights, total)]++
			}
			for _, w := range tc.weights {
				want := float64(w.Weight) / float64(total)
				got := float64(counts[w.Variant]) / n
				assert.InDelta(t, want, got, 0.01, "variant %s: %.4f of users, want %.4f", w.Variant, got, want)
			}
		})
	}
}

func TestFractionalIsStableAndRampsOneWay(t *testing.T) {
	at10 := []Weight{{"new", 10}, {"old", 90}}
	at50 := []Weight{{"new", 50}, {"old", 50}}
	moved := 0
	for i := range 100_000 {
		key := splitKey("checkout", "user-"+strconv.Itoa(i))
		before := pickVariant(bucketHash(key), at10, 100)
		require.Equal(t, before, pickVariant(bucketHash(key), at10, 100), "same key, same variant")
		after := pickVariant(bucketHash(key), at50, 100)
		if before == "new" {
			require.Equal(t, "new", after, "%s went back from new to old when the ramp widened", key)
		}
		if before != after {
			moved++
		}
	}
	assert.InDelta(t, 40_000, moved, 1_000, "widening 10%% to 50%% moves about 40%% of users")
}

// readShares follows flagd: what does not split answers null (ok false).
func TestReadShares(t *testing.T) {
	big := float64(math.MaxInt32)
	tests := []struct {
		name    string
		entries []any
		want    []share
	}{
		{"default weight 1", []any{[]any{"a"}, []any{"b"}}, []share{{"a", 1}, {"b", 1}}},
		{"null weight is 1", []any{[]any{"a", nil}}, []share{{"a", 1}}},
		{"zero allowed", []any{[]any{"a", 0.0}, []any{"b", 3.0}}, []share{{"a", 0}, {"b", 3}}},
		{"negative is zero", []any{[]any{"a", -50.0}, []any{"b", 100.0}}, []share{{"a", 0}, {"b", 100}}},
		{"boolean, number and null variants", []any{[]any{true, 1.0}, []any{false}, []any{2.0}, []any{nil}}, []share{{true, 1}, {false, 1}, {2.0, 1}, {nil, 1}}},
		{"extra elements ignored", []any{[]any{"a", 1.0, "x"}}, []share{{"a", 1}}},
		{"sum at the limit", []any{[]any{"a", big - 1}, []any{"b", 1.0}}, []share{{"a", uint64(big - 1)}, {"b", 1}}},
		{"empty", []any{}, nil},
		{"all zero", []any{[]any{"a", 0.0}, []any{"b", -1.0}}, nil},
		{"fraction", []any{[]any{"a", 1.5}}, nil},
		{"weight not a number", []any{[]any{"a", "1"}}, nil},
		{"variant an object", []any{[]any{map[string]any{}, 1.0}}, nil},
		{"empty entry", []any{[]any{}}, nil},
		{"entry not a list", []any{"a"}, nil},
		{"one weight past 2^31-1", []any{[]any{"a", big + 1}}, nil},
		{"sum past 2^31-1", []any{[]any{"a", big}, []any{"b", 1.0}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, ok := readShares(tc.entries)
			if tc.want == nil {
				assert.False(t, ok, "%v", got)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, got)
			var sum uint64
			for _, s := range tc.want {
				sum += s.weight
			}
			assert.Equal(t, sum, total)
		})
	}
}

func TestOpFractionalNeverPanics(t *testing.T) {
	inputs := []any{nil, "x", 1.0, []any{}, []any{nil}, []any{map[string]any{}}, []any{[]any{}}, []any{"k", []any{"a", "w"}}}
	for _, in := range inputs {
		tr := &evalTrace{key: "f"}
		assert.NotPanics(t, func() { opFractional(in, map[string]any{traceKey: tr, "targetingKey": "u"}) })
		assert.NotPanics(t, func() { opFractional(in, nil) })
	}
	tr := &evalTrace{key: "f"}
	assert.Nil(t, opFractional([]any{"k", []any{"a", "w"}}, map[string]any{traceKey: tr}))
	assert.Empty(t, tr.splits)
}

// A rule that is one fractional is evaluated without the interpreter; it must
// answer exactly as the interpreter does for the same split inside an "if".
func TestSplitFastPathMatchesInterpreter(t *testing.T) {
	set, err := Parse([]byte(`{"flags": {
		"fast": {"state": "ENABLED", "variants": {"a": 1, "b": 2, "c": 3}, "defaultVariant": "c",
			"targeting": {"fractional": [["a", 30], ["b", 70]]}},
		"slow": {"state": "ENABLED", "variants": {"a": 1, "b": 2, "c": 3}, "defaultVariant": "c",
			"targeting": {"if": [true, {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}, ["a", 30], ["b", 70]]}, null]}},
		"fast-var": {"state": "ENABLED", "variants": {"a": 1, "b": 2, "c": 3}, "defaultVariant": "c",
			"targeting": {"fractional": [{"var": "org"}, ["a", 30], ["b", 70]]}},
		"slow-var": {"state": "ENABLED", "variants": {"a": 1, "b": 2, "c": 3}, "defaultVariant": "c",
			"targeting": {"if": [true, {"fractional": [{"var": "org"}, ["a", 30], ["b", 70]]}, null]}}
	}}`))
	require.NoError(t, err)
	require.NotNil(t, set.flags["fast"].split)
	require.NotNil(t, set.flags["fast-var"].split)
	require.Nil(t, set.flags["slow"].split)
	now := func() time.Time { return time.Unix(0, 0) }
	for i := range 300 {
		flat := openfeature.FlattenedContext{"targetingKey": "u" + strconv.Itoa(i)}
		switch i % 3 {
		case 1:
			flat["org"] = "org-" + strconv.Itoa(i)
		case 2:
			flat["org"] = int64(i)
		}
		fast := set.evaluate("fast", KindNumber, flat, now)
		// "slow" hashes "slow"+key where "fast" hashes "fast"+key: compare
		// the variant the definition gives for each.
		slow := set.evaluate("slow", KindNumber, openfeature.FlattenedContext{"targetingKey": flat["targetingKey"]}, now)
		require.Equal(t, pickVariant(bucketHash("fast"+flat["targetingKey"].(string)), []Weight{{"a", 30}, {"b", 70}}, 100), fast.variant)
		require.Equal(t, pickVariant(bucketHash("slow"+flat["targetingKey"].(string)), []Weight{{"a", 30}, {"b", 70}}, 100), slow.variant)
		fv := set.evaluate("fast-var", KindNumber, flat, now)
		sv := set.evaluate("slow-var", KindNumber, flat, now)
		if org, ok := flat["org"]; ok {
			require.Equal(t, sv.variant, fv.variant, "context %v", flat)
			s, isString := org.(string)
			if !isString {
				// flagd buckets only by a string: a number answers null.
				require.Equal(t, openfeature.DefaultReason, fv.reason, "context %v", flat)
				require.Equal(t, "c", fv.variant)
				continue
			}
			require.Equal(t, pickVariant(bucketHash(s), []Weight{{"a", 30}, {"b", 70}}, 100), fv.variant)
		} else {
			tk := flat["targetingKey"].(string)
			require.Equal(t, pickVariant(bucketHash("fast-var"+tk), []Weight{{"a", 30}, {"b", 70}}, 100), fv.variant)
			require.Equal(t, pickVariant(bucketHash("slow-var"+tk), []Weight{{"a", 30}, {"b", 70}}, 100), sv.variant)
		}
		require.Equal(t, openfeature.SplitReason, fv.reason)
		require.Equal(t, openfeature.SplitReason, sv.reason)
	}
	// An array as the bucketing value is read as one more entry, as flagd
	// does, by the fast path as by the tree.
	for _, org := range [][]any{{"a", int64(5)}, {"b"}, {"a", int64(1)}} {
		flat := openfeature.FlattenedContext{"targetingKey": "k1", "org": org}
		fv := set.evaluate("fast-var", KindNumber, flat, now)
		sv := set.evaluate("slow-var", KindNumber, flat, now)
		assert.Equal(t, sv.reason, fv.reason, "org %v", org)
		assert.Equal(t, sv.variant, fv.variant, "org %v", org)
		assert.Equal(t, sv.err, fv.err, "org %v", org)
	}
	// Neither key nor attribute: the default variant, both ways.
	fv := set.evaluate("fast-var", KindNumber, openfeature.FlattenedContext{}, now)
	sv := set.evaluate("slow-var", KindNumber, openfeature.FlattenedContext{}, now)
	assert.Equal(t, openfeature.DefaultReason, fv.reason)
	assert.Equal(t, "c", fv.variant)
	assert.Equal(t, fv.variant, sv.variant)
	assert.Equal(t, openfeature.DefaultReason, sv.reason)
}
