package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// MetricEvaluations is the name of the counter of flag evaluations that
// [TelemetryHook] records, with the attributes feature_flag.key,
// feature_flag.provider.name, feature_flag.result.reason (lower case),
// feature_flag.result.variant (when the provider named one) and error.type
// (the lower-case error code, on errors only).
const MetricEvaluations = "rollsafe.flags.evaluations"

// maxHookAttrSets bounds the hook's cache of attribute sets. Flag keys come
// from code and variants from definitions, so real use stays far below it;
// past it, sets are built per evaluation instead of cached.
const maxHookAttrSets = 4096

// TelemetryHook is an OpenFeature hook that records every flag evaluation
// with OpenTelemetry, following the feature_flag.* semantic conventions:
//
//   - an event named "feature_flag.evaluation" on the span in the
//     evaluation's context, when that span is recording, with the
//     attributes of the go-sdk's telemetry.CreateEvaluationEvent
//     (feature_flag.key, feature_flag.provider.name,
//     feature_flag.result.reason, feature_flag.result.variant or
//     feature_flag.result.value, feature_flag.context.id, and error.type and
//     error.message on errors);
//   - the counter [MetricEvaluations], by flag, variant and reason.
//
// Register it on the OpenFeature API or on a client (AddHooks). It records in
// the hook's Finally stage, so it sees evaluations that failed as well. It
// never blocks: after the first evaluation of each flag, variant and reason,
// recording the counter allocates nothing.
type TelemetryHook struct {
	openfeature.UnimplementedHook

	evaluations metric.Int64Counter
	sets        sync.Map // hookAttrKey → []metric.AddOption
	setCount    atomic.Int64
}

var _ openfeature.Hook = (*TelemetryHook)(nil)

type hookAttrKey struct {
	flag, provider, variant string
	reason                  openfeature.Reason
	code                    openfeature.ErrorCode
}

// TelemetryHookOption configures a [TelemetryHook].
type TelemetryHookOption func(*telemetryHookConfig) error

type telemetryHookConfig struct {
	meterProvider metric.MeterProvider
}

// WithHookMeterProvider sets the meter provider of the evaluation counter.
// Default: the global provider (otel.GetMeterProvider) at the time
// NewTelemetryHook is called. Span events always go to the span in the
// evaluation's context, whichever tracer provider made it.
func WithHookMeterProvider(mp metric.MeterProvider) TelemetryHookOption {
	return func(c *telemetryHookConfig) error {
		if mp == nil {
			return errors.New("flags: telemetry hook: nil meter provider")
		}
		c.meterProvider = mp
		return nil
	}
}

// NewTelemetryHook returns a hook that records evaluations; it returns an
// error when an option refuses its argument or the counter cannot be
// created.
func NewTelemetryHook(opts ...TelemetryHookOption) (*TelemetryHook, error) {
	var cfg telemetryHookConfig
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("flags: telemetry hook: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	counter, err := cfg.meterProvider.Meter(switchInstrumentation).Int64Counter(MetricEvaluations,
		metric.WithDescription("Feature flag evaluations, by flag, variant and reason."),
		metric.WithUnit("{evaluation}"))
	if err != nil {
		return nil, fmt.Errorf("flags: telemetry hook: metric %s: %w", MetricEvaluations, err)
	}
	return &TelemetryHook{evaluations: counter}, nil
}

// Finally records the evaluation.
func (h *TelemetryHook) Finally(ctx context.Context, hc openfeature.HookContext,
	details openfeature.InterfaceEvaluationDetails, _ openfeature.HookHints) {
	h.evaluations.Add(ctx, 1, h.attrOptions(hc, details)...)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		ev := telemetry.CreateEvaluationEvent(hc, details)
		span.AddEvent(ev.Name, trace.WithAttributes(eventAttributes(ev.Attributes)...))
	}
}

func (h *TelemetryHook) attrOptions(hc openfeature.HookContext, d openfeature.InterfaceEvaluationDetails) []metric.AddOption {
	key := hookAttrKey{flag: hc.FlagKey(), provider: hc.ProviderMetadata().Name, variant: d.Variant, reason: d.Reason}
	if d.Reason == openfeature.ErrorReason {
		key.code = knownErrorCode(d.ErrorCode)
	}
	if opts, ok := h.sets.Load(key); ok {
		return opts.([]metric.AddOption)
	}
	opts := []metric.AddOption{metric.WithAttributeSet(key.set())}
	if h.setCount.Load() < maxHookAttrSets {
		if _, loaded := h.sets.LoadOrStore(key, opts); !loaded {
			h.setCount.Add(1)
		}
	}
	return opts
}

func (k hookAttrKey) set() attribute.Set {
	reason := k.reason
	if reason == "" {
		reason = openfeature.UnknownReason
	}
	kvs := []attribute.KeyValue{
		attribute.String(telemetry.FlagKey, k.flag),
		attribute.String(telemetry.ProviderNameKey, k.provider),
		attribute.String(telemetry.ResultReasonKey, strings.ToLower(string(reason))),
	}
	if k.variant != "" {
		kvs = append(kvs, attribute.String(telemetry.ResultVariantKey, k.variant))
	}
	if k.code != "" {
		kvs = append(kvs, attribute.String(telemetry.ErrorTypeKey, strings.ToLower(string(k.code))))
	}
	return attribute.NewSet(kvs...)
}

// eventAttributes turns the go-sdk's attribute map into OpenTelemetry
// attributes, in key order. Values of other types than string, bool and
// numbers (a flag's object value) are written as JSON.
func eventAttributes(m map[string]any) []attribute.KeyValue {
	kvs := make([]attribute.KeyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kvs = append(kvs, anyAttribute(k, m[k]))
	}
	return kvs
}

func anyAttribute(k string, v any) attribute.KeyValue {
	switch v := v.(type) {
	case string:
		return attribute.String(k, v)
	case bool:
		return attribute.Bool(k, v)
	case int:
		return attribute.Int(k, v)
	case int64:
		return attribute.Int64(k, v)
	case float64:
		return attribute.Float64(k, v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return attribute.String(k, fmt.Sprint(v))
	}
	return attribute.String(k, string(b))
}
