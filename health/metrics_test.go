package health_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rollsafe/rollsafe/health"
)

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c, err := health.New(health.WithMeterProvider(mp))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Register("db", func(context.Context) error { return nil }))
	require.NoError(t, c.Register("cache", func(context.Context) error { return errors.New("down") }, health.NonCritical()))
	require.NoError(t, c.Register("queue", func(context.Context) error { return errors.New("down") }))

	ctx := context.Background()
	c.Check(ctx, health.Readiness)
	c.Check(ctx, health.Readiness)
	c.Drain()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Equal(t, "github.com/rollsafe/rollsafe/health", rm.ScopeMetrics[0].Scope.Name)
	byName := map[string]metricdata.Metrics{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		byName[m.Name] = m
	}

	hist, ok := byName[health.MetricCheckDuration].Data.(metricdata.Histogram[float64])
	require.True(t, ok, "duration histogram missing")
	runs := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		name, _ := dp.Attributes.Value(attribute.Key("check"))
		status, _ := dp.Attributes.Value(attribute.Key("status"))
		runs[name.AsString()+"/"+status.AsString()] += dp.Count
	}
	assert.Equal(t, map[string]uint64{"db/pass": 2, "cache/warn": 2, "queue/fail": 2}, runs)

	gauge, ok := byName[health.MetricCheckStatus].Data.(metricdata.Gauge[int64])
	require.True(t, ok, "status gauge missing")
	states := map[string]int64{}
	for _, dp := range gauge.DataPoints {
		name, _ := dp.Attributes.Value(attribute.Key("check"))
		states[name.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"db": 0, "cache": 1, "queue": 2, "draining": 2}, states)
}
