package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rollsafe/rollsafe/version"
)

var benchOrders = version.Manifest{
	Service: "orders", Version: "2.4.0",
	Requires: map[string]string{"payments": ">=1.2.0 <2.0.0"},
}

// BenchmarkVersionNegotiate100OneHanging: 100 real peers on 127.0.0.1, one
// of which never answers, with a 200ms timeout. An operation costs about one
// timeout, not a hundred.
func BenchmarkVersionNegotiate100OneHanging(b *testing.B) {
	const timeout = 200 * time.Millisecond
	h, err := version.NewHandler(version.Manifest{Service: "payments", Version: "1.5.0"})
	if err != nil {
		b.Fatal(err)
	}
	var urls []string
	for range 99 {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		urls = append(urls, srv.URL+version.DefaultPath)
	}
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	b.Cleanup(func() { close(stop); hang.Close() })
	urls = append(urls, hang.URL+"/")

	// The default concurrency (32 fetches at once): the hanging peer holds
	// one slot while the others serve the rest.
	c, err := version.NewChecker(benchOrders, version.WithTimeout(timeout))
	if err != nil {
		b.Fatal(err)
	}
	peers := version.URLs(urls...)
	ctx := context.Background()
	for b.Loop() {
		r := c.Negotiate(ctx, peers)
		if r.Count(version.Compatible) != 99 || r.Count(version.Unreachable) != 1 {
			b.Fatalf("compatible %d, unreachable %d", r.Count(version.Compatible), r.Count(version.Unreachable))
		}
	}
}

// BenchmarkVersionCheckCached: a compatibility check answered from the
// checker's cache.
func BenchmarkVersionCheckCached(b *testing.B) {
	c, err := version.NewChecker(benchOrders)
	if err != nil {
		b.Fatal(err)
	}
	peer := version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2"}}
	b.ReportAllocs()
	for b.Loop() {
		if c.Check(peer).Verdict != version.Compatible {
			b.Fatal("not compatible")
		}
	}
}
