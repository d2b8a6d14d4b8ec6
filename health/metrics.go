package health

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instrument names. The status gauge reads 0 for pass, 1 for warn and 2 for
// fail; the draining entry is the check "draining".
const (
	MetricCheckDuration = "rollsafe.health.check.duration"
	MetricCheckStatus   = "rollsafe.health.check.status"
)

const scope = "github.com/rollsafe/rollsafe/health"

func checkAttrs(name string) attribute.Set {
	return attribute.NewSet(attribute.String("check", name))
}

type metrics struct {
	duration   metric.Float64Histogram
	state      metric.Int64Gauge
	drainAttrs attribute.Set
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(scope)
	d, err := m.Float64Histogram(MetricCheckDuration, metric.WithUnit("s"),
		metric.WithDescription("How long each run of a health check took."))
	if err != nil {
		return nil, err
	}
	s, err := m.Int64Gauge(MetricCheckStatus,
		metric.WithDescription("Latest status of a health check: 0 pass, 1 warn, 2 fail."))
	if err != nil {
		return nil, err
	}
	return &metrics{duration: d, state: s, drainAttrs: checkAttrs(DrainingCheck)}, nil
}

func (m *metrics) observe(ctx context.Context, k *check, o *outcome) {
	m.duration.Record(ctx, o.result.Duration.Seconds(), metric.WithAttributeSet(k.attrs),
		metric.WithAttributes(attribute.String("status", o.result.Status.String())))
	m.status(ctx, k.attrs, o.result.Status)
}

func (m *metrics) status(ctx context.Context, attrs attribute.Set, s Status) {
	m.state.Record(ctx, int64(s)-1, metric.WithAttributeSet(attrs))
}
