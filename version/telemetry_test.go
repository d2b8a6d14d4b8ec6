package version_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rollsafe/rollsafe/version"
)

func TestTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	peers := []version.Peer{
		{Source: "a", Manifest: []byte(`{"service":"payments","version":"1.5.0"}`)},
		{Source: "b", Manifest: []byte(`{"service":"payments","version":"2.5.0"}`)},
		{Source: "c", Manifest: []byte(`{"service":"payments","version":"1.6.0"}`)},
	}
	_, err := version.Negotiate(context.Background(), orders, peers,
		version.WithMeterProvider(mp), version.WithTracerProvider(tp))
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "rollsafe.version.peer.verdicts" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("verdict")
				got[v.AsString()] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{"compatible": 2, "incompatible": 1, "missing": 1}, got)

	ended := spans.Ended()
	require.Len(t, ended, 1)
	assert.Equal(t, "version.Negotiate", ended[0].Name())
	assert.Contains(t, ended[0].Attributes(), attribute.Int("rollsafe.verdict.incompatible", 1))
	assert.Contains(t, ended[0].Attributes(), attribute.Int("rollsafe.peers", 3))
}
