package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/rollsafe/rollsafe/health"
)

// BenchmarkReadyz serves /readyz with ten cached checks, in-process, from
// parallel goroutines: the load of many probes on one instance.
func BenchmarkReadyz(b *testing.B) {
	for _, details := range []bool{false, true} {
		b.Run(fmt.Sprintf("details=%t", details), func(b *testing.B) {
			opts := []health.Option{health.WithMeterProvider(noop.NewMeterProvider())}
			if details {
				opts = append(opts, health.WithAuthorizer(func(*http.Request) bool { return true }))
			}
			c, err := health.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for i := range 10 {
				if err := c.Register(fmt.Sprintf("check-%d", i), func(context.Context) error { return nil },
					health.WithCacheTTL(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			h := c.Handler(health.Readiness)
			req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d", rec.Code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCheckOneUncached runs a check for every call, from parallel
// goroutines: the cost of starting, resolving and tracking one run.
func BenchmarkCheckOneUncached(b *testing.B) {
	c, err := health.New(health.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Register("db", func(context.Context) error { return nil }); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := c.CheckOne(ctx, "db"); err != nil || res.Err != nil {
				b.Errorf("CheckOne: %v, %v", err, res.Err)
				return
			}
		}
	})
}
