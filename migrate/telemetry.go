package migrate

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollsafe/rollsafe/dialect"
)

const instrumentation = "github.com/rollsafe/rollsafe/migrate"

// telemetry records a span per Up/Down call and metrics per migration.
type telemetry struct {
	tracer     trace.Tracer
	migrations metric.Int64Counter
	duration   metric.Float64Histogram
	lockWait   metric.Float64Histogram
}

func newTelemetry(mp metric.MeterProvider, tp trace.TracerProvider) (telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	meter := mp.Meter(instrumentation)
	t := telemetry{tracer: tp.Tracer(instrumentation)}
	var err error
	if t.migrations, err = meter.Int64Counter("rollsafe.migrate.migrations",
		metric.WithDescription("Migrations run, by direction and outcome (ok, failed)."),
		metric.WithUnit("{migration}")); err != nil {
		return t, err
	}
	if t.duration, err = meter.Float64Histogram("rollsafe.migrate.duration",
		metric.WithDescription("Time one migration took to run."),
		metric.WithUnit("s")); err != nil {
		return t, err
	}
	if t.lockWait, err = meter.Float64Histogram("rollsafe.migrate.lock.wait",
		metric.WithDescription("Time spent waiting for the migration lock."),
		metric.WithUnit("s")); err != nil {
		return t, err
	}
	return t, nil
}

// begin starts the span of one call; the returned function ends it and
// records the call's migrations.
func (t telemetry) begin(ctx context.Context, direction string, d dialect.Dialect) (context.Context, func([]Result, error)) {
	ctx, span := t.tracer.Start(ctx, "migrate."+direction, trace.WithAttributes(
		attribute.String("db.system", d.String()),
		attribute.String("rollsafe.migrate.direction", direction),
	))
	return ctx, func(res []Result, err error) {
		for _, r := range res {
			attrs := metric.WithAttributes(attribute.String("direction", direction), attribute.String("outcome", "ok"))
			t.migrations.Add(ctx, 1, attrs)
			t.duration.Record(ctx, r.Duration.Seconds(), metric.WithAttributes(attribute.String("direction", direction)))
		}
		span.SetAttributes(attribute.Int("rollsafe.migrate.count", len(res)))
		if err != nil {
			if pe, ok := asPartial(err); ok {
				t.migrations.Add(ctx, 1, metric.WithAttributes(attribute.String("direction", direction), attribute.String("outcome", "failed")))
				span.SetAttributes(attribute.Int64("rollsafe.migrate.failed_version", pe.Failed.Version))
			}
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

func (t telemetry) lockWaited(ctx context.Context, d time.Duration, dia dialect.Dialect) {
	t.lockWait.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("db.system", dia.String())))
}
