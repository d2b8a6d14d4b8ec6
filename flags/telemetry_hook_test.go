package flags_test

import (
	"context"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rollsafe/rollsafe/flags"
)

func TestNewTelemetryHookRefusesBadOptions(t *testing.T) {
	_, err := flags.NewTelemetryHook(nil)
	require.ErrorContains(t, err, "nil option")
	_, err = flags.NewTelemetryHook(flags.WithHookMeterProvider(nil))
	require.ErrorContains(t, err, "nil meter provider")
}

func TestTelemetryHookRecordsEvaluations(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	hook, err := flags.NewTelemetryHook(flags.WithHookMeterProvider(
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	require.NoError(t, err)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })

	provider := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"checkout": {Key: "checkout", State: memprovider.Enabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true, "off": false}},
		"limits": {Key: "limits", State: memprovider.Enabled, DefaultVariant: "tight",
			Variants: map[string]any{"tight": map[string]any{"rps": 5}}},
		"legacy": {Key: "legacy", State: memprovider.Disabled, DefaultVariant: "on",
			Variants: map[string]any{"on": true}},
	})
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), provider))
	client := api.NewClient()
	client.AddHooks(hook)

	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	evalCtx := openfeature.NewEvaluationContext("user-7", nil)
	for range 3 {
		on, err := client.BooleanValue(ctx, "checkout", false, evalCtx)
		require.NoError(t, err)
		require.True(t, on)
	}
	_, err = client.ObjectValue(ctx, "limits", nil, evalCtx)
	require.NoError(t, err)
	_, err = client.BooleanValue(ctx, "legacy", false, evalCtx)
	require.NoError(t, err)
	_, err = client.BooleanValue(ctx, "missing", false, evalCtx)
	require.Error(t, err)
	span.End()
	// Outside a recording span, only the counter records.
	_, err = client.BooleanValue(context.Background(), "checkout", false, evalCtx)
	require.NoError(t, err)

	m := collect(t, reader)[flags.MetricEvaluations]
	key := func(k string) attribute.KeyValue { return attribute.String("feature_flag.key", k) }
	reason := func(r string) attribute.KeyValue { return attribute.String("feature_flag.result.reason", r) }
	variant := func(v string) attribute.KeyValue { return attribute.String("feature_flag.result.variant", v) }
	provName := attribute.String("feature_flag.provider.name", "InMemoryProvider")
	assert.Equal(t, int64(4), sumWhere(t, m, key("checkout"), reason("static"), variant("on"), provName))
	assert.Equal(t, int64(1), sumWhere(t, m, key("limits"), reason("static"), variant("tight")))
	assert.Equal(t, int64(1), sumWhere(t, m, key("legacy"), reason("disabled")))
	assert.Equal(t, int64(1), sumWhere(t, m, key("missing"), reason("error"),
		attribute.String("error.type", "flag_not_found")))

	ended := rec.Ended()
	require.Len(t, ended, 1)
	events := ended[0].Events()
	require.Len(t, events, 6)
	for _, ev := range events {
		assert.Equal(t, "feature_flag.evaluation", ev.Name)
	}
	attrs := func(i int) map[attribute.Key]attribute.Value {
		out := map[attribute.Key]attribute.Value{}
		for _, kv := range events[i].Attributes {
			out[kv.Key] = kv.Value
		}
		return out
	}
	first := attrs(0)
	assert.Equal(t, "checkout", first["feature_flag.key"].AsString())
	assert.Equal(t, "on", first["feature_flag.result.variant"].AsString())
	assert.Equal(t, "static", first["feature_flag.result.reason"].AsString())
	assert.Equal(t, "user-7", first["feature_flag.context.id"].AsString())
	assert.Equal(t, "InMemoryProvider", first["feature_flag.provider.name"].AsString())

	legacy := attrs(4)
	assert.Equal(t, "disabled", legacy["feature_flag.result.reason"].AsString())
	assert.False(t, legacy["feature_flag.result.value"].AsBool(), "no variant: the value is recorded")
	assert.Equal(t, attribute.BOOL, legacy["feature_flag.result.value"].Type())

	missing := attrs(5)
	assert.Equal(t, "error", missing["feature_flag.result.reason"].AsString())
	assert.Equal(t, "flag_not_found", missing["error.type"].AsString())
	assert.NotEmpty(t, missing["error.message"].AsString())
}

func TestTelemetryHookWritesObjectValuesAsJSON(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	hook, err := flags.NewTelemetryHook()
	require.NoError(t, err)

	// A provider that names no variant makes the event carry the value.
	evaluator := func(memprovider.InMemoryFlag, openfeature.FlattenedContext) (any, openfeature.ProviderResolutionDetail) {
		return map[string]any{"rps": 5}, openfeature.ProviderResolutionDetail{Reason: openfeature.TargetingMatchReason}
	}
	provider := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		"limits": {Key: "limits", State: memprovider.Enabled, ContextEvaluator: &evaluator},
	})
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), provider))
	api.AddHooks(hook)

	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	_, err = api.NewClient().ObjectValue(ctx, "limits", nil, openfeature.EvaluationContext{})
	require.NoError(t, err)
	span.End()

	events := rec.Ended()[0].Events()
	require.Len(t, events, 1)
	var value attribute.Value
	for _, kv := range events[0].Attributes {
		if kv.Key == "feature_flag.result.value" {
			value = kv.Value
		}
	}
	assert.Equal(t, `{"rps":5}`, value.AsString())
}
