package version_test

import (
	"context"
	"testing"
	"time"

	"github.com/rollsafe/rollsafe/version"
)

// BenchmarkCheckCached measures a compatibility check answered from the
// checker's cache: the steady state of a monitor re-negotiating with the
// same peers.
func BenchmarkCheckCached(b *testing.B) {
	c, err := version.NewChecker(orders)
	if err != nil {
		b.Fatal(err)
	}
	peer := version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2"}}
	if r := c.Check(peer); r.Verdict != version.Compatible {
		b.Fatalf("verdict %s: %v", r.Verdict, r.Reasons)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.Check(peer).Verdict != version.Compatible {
			b.Fatal("not compatible")
		}
	}
}

// BenchmarkCheckUncached is the same check with a fresh checker each time:
// the cost the cache saves (constraint parsing and validation).
func BenchmarkCheckUncached(b *testing.B) {
	peer := version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2"}}
	b.ReportAllocs()
	for b.Loop() {
		c, err := version.NewChecker(orders)
		if err != nil {
			b.Fatal(err)
		}
		if c.Check(peer).Verdict != version.Compatible {
			b.Fatal("not compatible")
		}
	}
}

// BenchmarkNegotiate100OneHanging negotiates with 100 real peers on
// 127.0.0.1, one of which never answers. One operation takes about one
// timeout (200ms), not a hundred: the fetches run concurrently and the
// hanging one costs only its own slot.
func BenchmarkNegotiate100OneHanging(b *testing.B) {
	const timeout = 200 * time.Millisecond
	var peers []string
	for range 99 {
		peers = append(peers, servePeer(b, version.Manifest{Service: "payments", Version: "1.5.0"}))
	}
	peers = append(peers, hangingPeer(b))
	// The default concurrency (32 fetches at once): the hanging peer holds
	// one slot while the others serve the rest.
	c, err := version.NewChecker(orders, version.WithTimeout(timeout))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r := c.Negotiate(ctx, version.URLs(peers...))
		if r.Count(version.Compatible) != 99 || r.Count(version.Unreachable) != 1 {
			b.Fatalf("compatible %d, unreachable %d", r.Count(version.Compatible), r.Count(version.Unreachable))
		}
	}
}
