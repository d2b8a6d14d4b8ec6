package ofrep_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/ofrep"
)

// BenchmarkCachedProvider evaluates flags through the OpenFeature client
// for the same context, answered by the OFREP provider in cached mode
// (from memory, after one bulk fetch from a server over the definitions)
// and by the in-process flags.Provider over the same definitions.
func BenchmarkCachedProvider(b *testing.B) {
	f := newFake(b, clientFlags).serve(b)
	f.setStreamMode("none")
	ec := userCtx()
	providers := map[string]func(*testing.B) openfeature.FeatureProvider{
		"ofrep-cached": func(b *testing.B) openfeature.FeatureProvider {
			p, err := ofrep.NewProvider(f.URL, ofrep.WithCachedContext(ec))
			require.NoError(b, err)
			return p
		},
		"in-process": func(b *testing.B) openfeature.FeatureProvider {
			set, err := flags.Parse([]byte(clientFlags))
			require.NoError(b, err)
			p, err := flags.NewProvider(flags.NewMemorySource(set))
			require.NoError(b, err)
			return p
		},
	}
	for _, name := range []string{"ofrep-cached", "in-process"} {
		b.Run(name, func(b *testing.B) {
			h, err := newHarness(b, providers[name](b))
			require.NoError(b, err)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				v, err := h.client.BooleanValue(ctx, "on", false, ec)
				if err != nil || !v {
					b.Fatal(v, err)
				}
				s, err := h.client.StringValue(ctx, "color", "", ec)
				if err != nil || s != "#0f0" {
					b.Fatal(s, err)
				}
			}
		})
	}
}
