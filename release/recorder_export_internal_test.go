package release

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
)

// EnsureSchema creates the tables, for the external tests.
func EnsureSchema(ctx context.Context, db *sql.DB, d dialect.Dialect) error {
	return ensureSchema(ctx, db, d)
}

// QuerySamples is querySamples, for the external tests.
func QuerySamples(ctx context.Context, db *sql.DB, d dialect.Dialect, releaseID, flag string, from, to time.Time) (Window, error) {
	return querySamples(ctx, db, d, releaseID, flag, from, to)
}

// InsertSyntheticSamples writes, for the benchmarks, a canary and a
// baseline row of flag in releaseID for each of instances instances and
// each of intervals one-second intervals from start; every row counts 100
// calls, 1 error and 100 timed calls of 1ms.
func InsertSyntheticSamples(ctx context.Context, db *sql.DB, d dialect.Dialect, releaseID, flag string, instances, intervals int, start time.Time) error {
	counts := Arm{Calls: 100, Errors: 1, Timed: 100, Latency: 100 * time.Millisecond}
	counts.Histogram.Counts[10] = 100
	for i := range instances {
		rows := make([]sample, 0, 2*intervals)
		for j := range intervals {
			s := sample{release: releaseID, flag: flag, startMs: start.UnixMilli() + int64(j)*1000, counts: counts}
			s.endMs = s.startMs + 1000
			s.arm = armCanary
			rows = append(rows, s)
			s.arm = armBaseline
			rows = append(rows, s)
		}
		if err := insertSamples(ctx, db, d, "instance-"+strconv.Itoa(i), rows); err != nil {
			return err
		}
	}
	return nil
}
