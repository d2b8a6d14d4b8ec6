package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/rollsafe/rollsafe/flags"
)

// metrics is the service's OpenTelemetry meter provider, read by a
// Prometheus exporter and served at GET /metrics in the Prometheus text
// format. The Switch and the flags telemetry hook record on it; a
// Prometheus server scraping /metrics is what a release's Prometheus
// analysis queries (see release.MeasurePrometheus for the queries).
//
// The registry is the service's own, not Prometheus's global default one,
// so that two instances in one process (as in the tests) do not collide.
type metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// newMetrics builds the meter provider and its /metrics handler; service
// names the service in target_info.
func newMetrics(service string) (*metrics, error) {
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	return &metrics{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter),
			sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", service)))),
		handler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// hookOption and switchOption put the flags telemetry hook's and the
// Switch's metrics on the service's provider.
func (m *metrics) hookOption() flags.TelemetryHookOption {
	return flags.WithHookMeterProvider(m.provider)
}

func (m *metrics) switchOption() flags.SwitchOption {
	return flags.WithSwitchMeterProvider(m.provider)
}

// mount serves GET /metrics on mux.
func (m *metrics) mount(mux *http.ServeMux) {
	mux.Handle("GET /metrics", m.handler)
}

// close stops the meter provider; /metrics serves nothing new after it.
func (m *metrics) close() error {
	return m.provider.Shutdown(context.Background())
}
