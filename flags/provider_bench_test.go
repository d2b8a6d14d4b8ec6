package flags_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

const benchFlags = `{"flags": {
  "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "ramp": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
    "targeting": {"fractional": [["new", 10], ["old", 90]]}},
  "ramp-by-org": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
    "targeting": {"fractional": [{"var": "org"}, ["new", 10], ["old", 90]]}},
  "ramp-by-email": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]},
      {"fractional": [{"var": "email"}, ["new", 10], ["old", 90]]}, "old"]}}
}}`

func benchClient(b *testing.B, p openfeature.FeatureProvider) *openfeature.Client {
	b.Helper()
	return pvClient(b, p)
}

func rollsafeProvider(b *testing.B) openfeature.FeatureProvider {
	set, err := flags.Parse([]byte(benchFlags))
	require.NoError(b, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(b, err)
	return p
}

// BenchmarkStaticFlag evaluates one static boolean flag through the
// OpenFeature client, with rollsafe's provider and with the SDK's in-memory
// provider serving the same flag.
func BenchmarkStaticFlag(b *testing.B) {
	providers := map[string]func(*testing.B) openfeature.FeatureProvider{
		"rollsafe": rollsafeProvider,
		"memprovider": func(*testing.B) openfeature.FeatureProvider {
			return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
				"static": {
					Key:            "static",
					State:          memprovider.Enabled,
					DefaultVariant: "on",
					Variants:       map[string]any{"on": true, "off": false},
				},
			})
		},
	}
	for _, name := range []string{"rollsafe", "memprovider"} {
		b.Run(name, func(b *testing.B) {
			client := benchClient(b, providers[name](b))
			ctx := context.Background()
			evalCtx := openfeature.NewEvaluationContext("user-1", nil)
			b.ReportAllocs()
			for b.Loop() {
				v, err := client.BooleanValue(ctx, "static", false, evalCtx)
				if err != nil || !v {
					b.Fatal(v, err)
				}
			}
		})
	}
}

// BenchmarkFractionalFlag evaluates a 10/90 split through the OpenFeature
// client, for a different user on each call: "ramp" is a split over the
// targeting key, "ramp-by-org" a split over an attribute (both evaluated
// without the JsonLogic interpreter), "ramp-by-email" a split inside a
// JsonLogic rule.
func BenchmarkFractionalFlag(b *testing.B) {
	users := make([]openfeature.EvaluationContext, 1024)
	for i := range users {
		id := "user-" + strconv.Itoa(i)
		users[i] = openfeature.NewEvaluationContext(id, map[string]any{"email": id + "@example.com", "org": "org-" + strconv.Itoa(i%50)})
	}
	for _, key := range []string{"ramp", "ramp-by-org", "ramp-by-email"} {
		b.Run(key, func(b *testing.B) {
			client := benchClient(b, rollsafeProvider(b))
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := client.BooleanValue(ctx, key, false, users[i%len(users)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkProviderEvaluation calls the provider directly, without the
// OpenFeature client: the provider's own share of an evaluation.
func BenchmarkProviderEvaluation(b *testing.B) {
	set, err := flags.Parse([]byte(benchFlags))
	require.NoError(b, err)
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(b, err)
	require.NoError(b, p.InitWithContext(context.Background(), openfeature.EvaluationContext{}))
	b.Cleanup(p.Shutdown)
	users := make([]openfeature.FlattenedContext, 1024)
	for i := range users {
		id := "user-" + strconv.Itoa(i)
		users[i] = openfeature.FlattenedContext{"targetingKey": id, "email": id + "@example.com", "org": "org-" + strconv.Itoa(i%50)}
	}
	for _, key := range []string{"static", "ramp", "ramp-by-org", "ramp-by-email"} {
		b.Run(key, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if d := p.BooleanEvaluation(context.Background(), key, false, users[i%len(users)]); d.Error() != nil {
					b.Fatal(d.Error())
				}
				i++
			}
		})
	}
}
