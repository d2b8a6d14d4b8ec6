package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate/check"
)

// BenchmarkCompat100 is the cost of the backward-compatibility analysis:
// the check of 100 migrations of a growing schema with the analysis off and
// on, run in turn (alternating which goes first) within each iteration so
// that both see the same machine load (goal: on ≤ 1.2 × off). It reports off-ms and on-ms per check and
// their ratio.
//
//	go test -run '^$' -bench BenchmarkCompat100 -benchtime 5x ./...
//
// The PostgreSQL variant runs when ROLLSAFE_TEST_POSTGRES holds a DSN.
func BenchmarkCompat100(b *testing.B) {
	ctx := context.Background()
	pair := func(b *testing.B, d dialect.Dialect, opts ...check.Option) {
		fsys := growingSchema(100, d)
		b.Run(d.String(), func(b *testing.B) {
			var took [2]time.Duration
			order := []bool{false, true}
			for b.Loop() {
				// Alternate which runs first: the second of two runs pays for
				// the garbage of the first.
				order[0], order[1] = order[1], order[0]
				for _, on := range order {
					i := 0
					if on {
						i = 1
					}
					start := time.Now()
					rep, err := check.Run(ctx, fsys, append([]check.Option{check.WithCompat(on)}, opts...)...)
					took[i] += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					if !rep.OK {
						b.Fatalf("findings: %v", rep.All())
					}
				}
			}
			b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "off-ms")
			b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "on-ms")
			b.ReportMetric(float64(took[1])/float64(took[0]), "on/off")
		})
	}
	pair(b, dialect.SQLite)
	if base := os.Getenv("ROLLSAFE_TEST_POSTGRES"); base != "" {
		pair(b, dialect.Postgres, check.WithDatabase(dialect.Postgres, base))
	}
}
