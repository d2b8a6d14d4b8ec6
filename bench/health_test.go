package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	alex "github.com/alexliesenfeld/health"

	"github.com/rollsafe/rollsafe/health"
)

// The same work for both libraries: ten checks that pass, cached for an
// hour, so that every request measures serving cached results; the handler
// is called in-process from parallel goroutines.
const (
	healthChecks = 10
	healthTTL    = time.Hour
)

func rollsafeReadyz(b *testing.B, details bool) http.Handler {
	var opts []health.Option
	if details {
		opts = append(opts, health.WithAuthorizer(func(*http.Request) bool { return true }))
	}
	c, err := health.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() }) // Close always returns nil
	for i := range healthChecks {
		err := c.Register(fmt.Sprintf("check-%d", i), func(context.Context) error { return nil },
			health.WithCacheTTL(healthTTL))
		if err != nil {
			b.Fatal(err)
		}
	}
	return c.Handler(health.Readiness)
}

func alexReadyz(b *testing.B, details bool) http.Handler {
	opts := []alex.CheckerOption{alex.WithCacheDuration(healthTTL)}
	if !details {
		opts = append(opts, alex.WithDisabledDetails())
	}
	for i := range healthChecks {
		opts = append(opts, alex.WithCheck(alex.Check{
			Name:  fmt.Sprintf("check-%d", i),
			Check: func(context.Context) error { return nil },
		}))
	}
	c := alex.NewChecker(opts...)
	b.Cleanup(c.Stop)
	return alex.NewHandler(c)
}

func serveParallel(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	// Warm the caches so that every measured request is served from them.
	warm := httptest.NewRecorder()
	h.ServeHTTP(warm, req)
	if warm.Code != http.StatusOK {
		b.Fatalf("warm-up: status %d: %s", warm.Code, warm.Body)
	}
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkReadyz serves each check's status and time: the default of
// alexliesenfeld/health, and rollsafe with an authorizer admitting the caller.
func BenchmarkReadyz(b *testing.B) {
	b.Run("rollsafe", func(b *testing.B) { serveParallel(b, rollsafeReadyz(b, true)) })
	b.Run("alexliesenfeld", func(b *testing.B) { serveParallel(b, alexReadyz(b, true)) })
}

// BenchmarkReadyzWithheld serves the overall status without details:
// rollsafe's default, and alexliesenfeld/health with details disabled.
func BenchmarkReadyzWithheld(b *testing.B) {
	b.Run("rollsafe", func(b *testing.B) { serveParallel(b, rollsafeReadyz(b, false)) })
	b.Run("alexliesenfeld", func(b *testing.B) { serveParallel(b, alexReadyz(b, false)) })
}
