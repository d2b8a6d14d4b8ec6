package bench

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/rollsafe/rollsafe/flags"
)

// switchClient serves one boolean flag, switched on, through OpenFeature's
// in-memory provider.
func switchClient(b *testing.B) *openfeature.Client {
	b.Helper()
	p := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"new-checkout": {Key: "new-checkout", State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true, "off": false}},
	})
	api := isolated.NewAPI()
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	return api.NewClient()
}

// BenchmarkSwitchRunVsBareIf: flags.Switch.Run against the code it
// replaces, an evaluation through the same OpenFeature client and an if.
// The difference between the two is what the breaker, the panic guard, the
// per-path counts and the metrics cost (goal: at most 150 ns/op).
func BenchmarkSwitchRunVsBareIf(b *testing.B) {
	client := switchClient(b)
	ctx := context.Background()
	evalCtx := openfeature.EvaluationContext{}
	newPath := func(context.Context) (int, error) { return 1, nil }
	oldPath := func(context.Context) (int, error) { return 2, nil }

	b.Run("openfeature-bare-if", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			on, _ := client.BooleanValue(ctx, "new-checkout", false, evalCtx)
			var v int
			var err error
			if on {
				v, err = newPath(ctx)
			} else {
				v, err = oldPath(ctx)
			}
			if err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		// Both loops take turns in blocks, so that a change of load on a
		// shared machine weighs on both alike; the figure to read is
		// switch-overhead-ns/op (this sub-benchmark's own ns/op counts
		// 2×256 calls).
		s, err := flags.NewSwitch[int](client, "new-checkout")
		if err != nil {
			b.Fatal(err)
		}
		const block = 256
		var bare, guarded time.Duration
		// Both paths warm (caches, the breaker's first window) before the
		// first timed block, which -benchtime 1x would otherwise be.
		for range block {
			_, _ = client.BooleanValue(ctx, "new-checkout", false, evalCtx)
			_, _ = s.Run(ctx, evalCtx, newPath, oldPath)
		}
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			for range block {
				on, _ := client.BooleanValue(ctx, "new-checkout", false, evalCtx)
				var v int
				if on {
					v, err = newPath(ctx)
				} else {
					v, err = oldPath(ctx)
				}
				if err != nil || v != 1 {
					b.Fatal(v, err)
				}
			}
			mid := time.Now()
			for range block {
				if v, err := s.Run(ctx, evalCtx, newPath, oldPath); err != nil || v != 1 {
					b.Fatal(v, err)
				}
			}
			bare += mid.Sub(start)
			guarded += time.Since(mid)
		}
		calls := float64(b.N * block)
		b.ReportMetric(float64(bare)/calls, "bare-ns/call")
		b.ReportMetric(float64(guarded)/calls, "switch-ns/call")
		b.ReportMetric(float64(guarded-bare)/calls, "switch-overhead-ns/op")
	})
	b.Run("rollsafe-switch", func(b *testing.B) {
		s, err := flags.NewSwitch[int](client, "new-checkout")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if v, err := s.Run(ctx, evalCtx, newPath, oldPath); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})
}
