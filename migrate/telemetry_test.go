package migrate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/migrate"
)

func TestTelemetry(t *testing.T) {
	db := testdb.NewSQLite(t)
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	r := newRunner(t, db.DB, db.Dialect, failingSet(false),
		migrate.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		migrate.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))
	ctx := context.Background()
	_, err := r.Up(ctx)
	require.Error(t, err)
	_, err = r.Down(ctx)
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	counts := map[string]int64{}
	var lockWaits uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					dir, _ := p.Attributes.Value(attribute.Key("direction"))
					out, _ := p.Attributes.Value(attribute.Key("outcome"))
					counts[m.Name+"/"+dir.AsString()+"/"+out.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				if m.Name == "rollsafe.migrate.lock.wait" {
					for _, p := range data.DataPoints {
						lockWaits += p.Count
					}
				}
			}
		}
	}
	assert.Equal(t, map[string]int64{
		"rollsafe.migrate.migrations/up/ok":     1,
		"rollsafe.migrate.migrations/up/failed": 1,
		"rollsafe.migrate.migrations/down/ok":   1,
	}, counts)
	assert.Equal(t, uint64(2), lockWaits, "one lock per call")

	ended := spans.Ended()
	require.Len(t, ended, 2)
	assert.Equal(t, "migrate.up", ended[0].Name())
	assert.Equal(t, codes.Error, ended[0].Status().Code)
	assert.Contains(t, ended[0].Attributes(), attribute.Int64("rollsafe.migrate.failed_version", 2))
	assert.Equal(t, "migrate.down", ended[1].Name())
	assert.Equal(t, codes.Unset, ended[1].Status().Code)
}
