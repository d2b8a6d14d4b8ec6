package flags_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/murmur3"

	"github.com/rollsafe/rollsafe/flags"
)

// The expected answers below are those of flagd's public conformance suite
// (flagd-testbed, gherkin/targeting.feature, the @fractional-v2 examples, which
// bucket by (hash × total) >> 32): a user lands in the same variant under
// rollsafe as under flagd.
const flagdSuiteFlags = `{"flags": {
  "fractional-flag": {"state": "ENABLED",
    "variants": {"clubs": "clubs", "diamonds": "diamonds", "hearts": "hearts", "spades": "spades", "wild": "wild"},
    "defaultVariant": "wild",
    "targeting": {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]},
      ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]}},
  "fractional-flag-A-shared-seed": {"state": "ENABLED",
    "variants": {"clubs": "clubs", "diamonds": "diamonds", "hearts": "hearts", "spades": "spades", "wild": "wild"},
    "defaultVariant": "wild",
    "targeting": {"fractional": [{"cat": ["shared-seed", {"var": "user.name"}]},
      ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]}},
  "fractional-flag-shorthand": {"state": "ENABLED",
    "variants": {"heads": "heads", "tails": "tails", "draw": "draw"},
    "defaultVariant": "draw",
    "targeting": {"fractional": [["heads"], ["tails"]]}},
  "fractional-hash-edge-flag": {"state": "ENABLED",
    "variants": {"lower": "lower", "upper": "upper"},
    "defaultVariant": "lower",
    "targeting": {"fractional": [{"var": "targetingKey"}, ["lower", 50], ["upper", 50]]}}
}}`

func TestFractionalMatchesFlagdSuite(t *testing.T) {
	set, err := flags.Parse([]byte(flagdSuiteFlags))
	require.NoError(t, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	client := pvClient(t, p)
	user := func(name string) openfeature.EvaluationContext {
		return openfeature.NewTargetlessEvaluationContext(map[string]any{"user": map[string]any{"name": name}})
	}
	tests := []struct {
		flag string
		ctx  openfeature.EvaluationContext
		want string
	}{
		{"fractional-flag", user("jack"), "hearts"},
		{"fractional-flag", user("queen"), "spades"},
		{"fractional-flag", user("ten"), "clubs"},
		{"fractional-flag", user("nine"), "diamonds"},
		{"fractional-flag", user("3"), "clubs"},
		{"fractional-flag-A-shared-seed", user("seven"), "hearts"},
		{"fractional-flag-A-shared-seed", user("eight"), "diamonds"},
		{"fractional-flag-A-shared-seed", user("nine"), "clubs"},
		{"fractional-flag-A-shared-seed", user("two"), "spades"},
		{"fractional-flag-shorthand", openfeature.NewEvaluationContext("jon@company.com", nil), "heads"},
		{"fractional-flag-shorthand", openfeature.NewEvaluationContext("jane@company.com", nil), "tails"},
		{"fractional-hash-edge-flag", openfeature.NewEvaluationContext("ejOoVL", nil), "lower"},
		{"fractional-hash-edge-flag", openfeature.NewEvaluationContext("bY9fO-", nil), "lower"},
		{"fractional-hash-edge-flag", openfeature.NewEvaluationContext("SI7p-", nil), "lower"},
		{"fractional-hash-edge-flag", openfeature.NewEvaluationContext("6LvT0", nil), "upper"},
		{"fractional-hash-edge-flag", openfeature.NewEvaluationContext("ceQdGm", nil), "upper"},
	}
	for _, tc := range tests {
		t.Run(tc.flag+"/"+tc.want, func(t *testing.T) {
			d, err := client.StringValueDetails(context.Background(), tc.flag, "fallback", tc.ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want, d.Value)
			assert.Equal(t, openfeature.SplitReason, d.Reason)
		})
	}
	// The edge keys are exact preimages of the hash boundaries.
	for key, hash := range map[string]uint32{"ejOoVL": 0, "bY9fO-": 1, "SI7p-": 1<<31 - 1, "6LvT0": 1 << 31, "ceQdGm": 1<<32 - 1} {
		assert.Equal(t, hash, murmur3.StringSum32(key), key)
	}
}
