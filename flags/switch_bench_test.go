package flags_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rollsafe/rollsafe/flags"
)

// BenchmarkSwitchRun compares Switch.Run with what it replaces: evaluating
// the flag through the same OpenFeature client and an if. The difference is
// the Switch's cost (goal: at most 150 ns/op more).
func BenchmarkSwitchRun(b *testing.B) {
	client, _ := swClient(b, true)
	ctx := context.Background()
	evalCtx := openfeature.EvaluationContext{}
	newPath := func(context.Context) (int, error) { return 1, nil }
	oldPath := func(context.Context) (int, error) { return 2, nil }

	b.Run("bare-if", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			on, _ := client.BooleanValue(ctx, swFlag, false, evalCtx)
			var err error
			if on {
				_, err = newPath(ctx)
			} else {
				_, err = oldPath(ctx)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("switch", func(b *testing.B) {
		s, err := flags.NewSwitch[int](client, swFlag)
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
	b.Run("switch-otel-sdk", func(b *testing.B) {
		// With an OpenTelemetry SDK recording the Switch's metrics.
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		s, err := flags.NewSwitch[int](client, swFlag, flags.WithSwitchMeterProvider(mp))
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
	b.Run("switch-parallel", func(b *testing.B) {
		s, err := flags.NewSwitch[int](client, swFlag)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if v, err := s.Run(ctx, evalCtx, newPath, oldPath); err != nil || v != 1 {
					b.Error(v, err)
					return
				}
			}
		})
	})
}

// BenchmarkTelemetryHook is the cost the hook adds to an evaluation.
func BenchmarkTelemetryHook(b *testing.B) {
	ctx := context.Background()
	evalCtx := openfeature.EvaluationContext{}
	bench := func(b *testing.B, hooks ...openfeature.Hook) {
		client, _ := swClient(b, true)
		client.AddHooks(hooks...)
		b.ReportAllocs()
		for b.Loop() {
			if on, err := client.BooleanValue(ctx, swFlag, false, evalCtx); err != nil || !on {
				b.Fatal(on, err)
			}
		}
	}
	b.Run("no-hook", func(b *testing.B) { bench(b) })
	b.Run("hook", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		hook, err := flags.NewTelemetryHook(flags.WithHookMeterProvider(mp))
		if err != nil {
			b.Fatal(err)
		}
		bench(b, hook)
	})
}
