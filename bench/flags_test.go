package bench

import (
	"context"
	"strconv"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/rollsafe/rollsafe/flags"
)

// The same static flag and a 10/90 split, as flagd definitions for rollsafe.
const flagsDefs = `{"flags": {
  "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "ramp": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
    "targeting": {"fractional": [["new", 10], ["old", 90]]}},
  "ramp-in-rule": {"state": "ENABLED", "variants": {"new": true, "old": false}, "defaultVariant": "old",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]},
      {"fractional": [{"var": "email"}, ["new", 10], ["old", 90]]}, "old"]}}
}}`

func flagsClient(b *testing.B, p openfeature.FeatureProvider) *openfeature.Client {
	b.Helper()
	api := isolated.NewAPI()
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	return api.NewClient()
}

func rollsafeFlags(b *testing.B) openfeature.FeatureProvider {
	set, err := flags.Parse([]byte(flagsDefs))
	if err != nil {
		b.Fatal(err)
	}
	p, err := flags.NewProvider(flags.NewMemorySource(set))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkFlagsStatic: one static boolean flag through the OpenFeature
// client, rollsafe's provider beside the SDK's in-memory provider.
func BenchmarkFlagsStatic(b *testing.B) {
	peers := []struct {
		name     string
		provider func(*testing.B) openfeature.FeatureProvider
	}{
		{"rollsafe", rollsafeFlags},
		{"memprovider", func(*testing.B) openfeature.FeatureProvider {
			return memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
				"static": {Key: "static", State: memprovider.Enabled, DefaultVariant: "on",
					Variants: map[string]any{"on": true, "off": false}},
			})
		}},
	}
	for _, peer := range peers {
		b.Run(peer.name, func(b *testing.B) {
			client := flagsClient(b, peer.provider(b))
			ctx := context.Background()
			evalCtx := openfeature.NewEvaluationContext("user-1", nil)
			b.ReportAllocs()
			for b.Loop() {
				if v, err := client.BooleanValue(ctx, "static", false, evalCtx); err != nil || !v {
					b.Fatal(v, err)
				}
			}
		})
	}
}

// BenchmarkFlagsStaticProvider: the same static flag asked of each provider
// directly, without the client: the providers' own cost, free of the SDK's.
func BenchmarkFlagsStaticProvider(b *testing.B) {
	rs := rollsafeFlags(b).(*flags.Provider)
	if err := rs.InitWithContext(context.Background(), openfeature.EvaluationContext{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rs.Shutdown)
	mem := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"static": {Key: "static", State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true, "off": false}},
	})
	flat := openfeature.FlattenedContext{openfeature.TargetingKey: "user-1"}
	for _, peer := range []struct {
		name string
		p    openfeature.FeatureProvider
	}{{"rollsafe", rs}, {"memprovider", mem}} {
		b.Run(peer.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if d := peer.p.BooleanEvaluation(ctx, "static", false, flat); !d.Value || d.Error() != nil {
					b.Fatal(d)
				}
			}
		})
	}
}

// BenchmarkFlagsFractional: a 10/90 split through the OpenFeature client, a
// different user on each call; "ramp" splits by targeting key, "ramp-in-rule"
// inside a JsonLogic rule.
func BenchmarkFlagsFractional(b *testing.B) {
	users := make([]openfeature.EvaluationContext, 1024)
	for i := range users {
		id := "user-" + strconv.Itoa(i)
		users[i] = openfeature.NewEvaluationContext(id, map[string]any{"email": id + "@example.com"})
	}
	for _, key := range []string{"ramp", "ramp-in-rule"} {
		b.Run(key, func(b *testing.B) {
			client := flagsClient(b, rollsafeFlags(b))
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
