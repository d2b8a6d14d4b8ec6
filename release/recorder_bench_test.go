package release_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// BenchmarkRecorderOverhead is what a call of a Switch costs bare, and
// while a Recorder samples it every millisecond on SQLite with its flag in
// a running release: the Recorder reads the Switch's atomic counters only,
// so the two should not differ.
func BenchmarkRecorderOverhead(b *testing.B) {
	newPath := func(context.Context) (string, error) { return "new", nil }
	oldPath := func(context.Context) (string, error) { return "old", nil }
	run := func(b *testing.B, call func(ctx context.Context) error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := call(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}

	b.Run("bare", func(b *testing.B) {
		sw := recSwitch(b, recClient(b), recFlagOn)
		run(b, func(ctx context.Context) error {
			_, err := sw.Run(ctx, openfeature.EvaluationContext{}, newPath, oldPath)
			return err
		})
	})

	b.Run("recorded", func(b *testing.B) {
		db := testdb.NewSQLite(b)
		sw := recSwitch(b, recClient(b), recFlagOn)
		r := newRecorder(b, db, "i1", &clock{now: time.Now()}, release.WithRecorderClock(time.Now))
		require.NoError(b, r.Track(sw))
		startRelease(b, db, recFlagOn, "r1")
		require.NoError(b, r.Flush(context.Background()))
		// Run's interval is 10ms at least: a millisecond ticker drives
		// Flush, which is what each of Run's ticks is.
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
						b.Error(err)
					}
				}
			}
		}()
		b.ResetTimer()
		run(b, func(ctx context.Context) error {
			_, err := sw.Run(ctx, openfeature.EvaluationContext{}, newPath, oldPath)
			return err
		})
		b.StopTimer()
		stop()
		<-done
		b.ReportMetric(float64(r.Stats().Flushes), "flushes")
		w := sumAll(b, db, "r1", recFlagOn)
		if w.Canary.Calls == 0 && b.N > 1000 {
			b.Errorf("no calls recorded in %d", b.N)
		}
	})
}

// BenchmarkQuerySamples sums one window of 50 instances × 60 one-second
// intervals (6,000 rows of the flag, among as many of another flag).
func BenchmarkQuerySamples(b *testing.B) {
	for _, d := range dialect.All() {
		b.Run(d.String(), func(b *testing.B) {
			db := testdb.New(b, d)
			ctx := context.Background()
			require.NoError(b, release.EnsureSchema(ctx, db.DB, db.Dialect))
			start := time.UnixMilli(1_800_000_000_000)
			require.NoError(b, release.InsertSyntheticSamples(ctx, db.DB, db.Dialect, "r1", recFlag, 50, 60, start))
			require.NoError(b, release.InsertSyntheticSamples(ctx, db.DB, db.Dialect, "r1", recFlagOther, 50, 60, start))
			b.ReportAllocs()
			for b.Loop() {
				w, err := release.QuerySamples(ctx, db.DB, db.Dialect, "r1", recFlag, start, start.Add(time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				if w.Instances != 50 || w.Canary.Calls != 50*60*100 {
					b.Fatalf("window: %d instances, %d canary calls", w.Instances, w.Canary.Calls)
				}
			}
		})
	}
}
