package release_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

func TestNewRecorderRefusesBadArguments(t *testing.T) {
	db := testdb.NewSQLite(t)
	tests := []struct {
		name     string
		db       bool
		d        dialect.Dialect
		instance string
		opt      release.RecorderOption
		want     string
	}{
		{"nil db", false, dialect.SQLite, "i1", nil, "nil db"},
		{"no dialect", true, 0, "i1", nil, "unknown dialect"},
		{"empty instance", true, dialect.SQLite, "", nil, "empty instance id"},
		{"long instance", true, dialect.SQLite, strings.Repeat("x", release.MaxIDLen+1), nil, "instance id of 129 bytes is longer than 128"},
		{"nil option", true, dialect.SQLite, "i1", nil, "option 0 is nil"},
		{"short interval", true, dialect.SQLite, "i1", release.WithSampleInterval(9 * time.Millisecond), "sample interval 9ms is shorter than 10ms"},
		{"short retention", true, dialect.SQLite, "i1", release.WithRetention(59 * time.Second), "retention 59s is shorter than 1m0s"},
		{"nil clock", true, dialect.SQLite, "i1", release.WithRecorderClock(nil), "nil clock"},
		{"nil logger", true, dialect.SQLite, "i1", release.WithRecorderLogger(nil), "nil logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []release.RecorderOption
			if tt.opt != nil || tt.name == "nil option" {
				opts = append(opts, tt.opt)
			}
			pool := db.DB
			if !tt.db {
				pool = nil
			}
			r, err := release.NewRecorder(pool, tt.d, tt.instance, opts...)
			require.Error(t, err)
			assert.Nil(t, r)
			assert.True(t, strings.HasPrefix(err.Error(), "release: new recorder: "), err.Error())
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	r, err := release.NewRecorder(db.DB, dialect.SQLite, strings.Repeat("x", release.MaxIDLen),
		release.WithSampleInterval(release.MinSampleInterval), release.WithRetention(release.MinRetention),
		release.WithRecorderClock(time.Now), release.WithRecorderLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	assert.Equal(t, release.RecorderStats{}, r.Stats())
}

func TestTrackRefusesNilAndDuplicateSources(t *testing.T) {
	db := testdb.NewSQLite(t)
	r := newRecorder(t, db, "i1", newClock())
	client := recClient(t)
	require.ErrorContains(t, r.Track(nil), "release: recorder: track: nil source")
	require.NoError(t, r.Track(recSwitch(t, client, recFlag)))
	require.NoError(t, r.Track(recSwitch(t, client, recFlagOther)))
	err := r.Track(recSwitch(t, client, recFlag))
	require.ErrorContains(t, err, `release: recorder: track "new-checkout": a source of this flag is tracked already`)
}

// Each tick writes what the counts grew by since the previous one, one row
// per arm that moved, stamped with the previous tick's time and its own.
func TestRecorderWritesDeltasAcrossTicks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		r := newRecorder(t, db, "i1", c)
		sw := recSwitch(t, recClient(t), recFlag)
		require.NoError(t, r.Track(sw))
		startRelease(t, db, recFlag, "r1")

		t0 := c.Now().UnixMilli()
		require.NoError(t, r.Flush(ctx)) // the starting point: nothing to write
		assert.Empty(t, sampleRows(t, db, "r1", recFlag))

		calls(t, sw, canaryCtx, 3, 1)
		calls(t, sw, baselineCtx, 2, 0)
		t1 := c.Advance(time.Second).UnixMilli()
		require.NoError(t, r.Flush(ctx))
		got := sampleRows(t, db, "r1", recFlag)
		require.Len(t, got, 2)
		assert.Equal(t, row{Instance: "i1", Arm: "baseline", StartMs: t0, EndMs: t1, Calls: 2, Timed: got[0].Timed, B0: got[0].B0}, got[0])
		assert.Equal(t, row{Instance: "i1", Arm: "canary", StartMs: t0, EndMs: t1, Calls: 4, Errors: 1, Timed: got[1].Timed, B0: got[1].B0}, got[1])
		assert.Positive(t, got[1].Timed, "the first call of a path is timed")

		// Only the canary moves: no baseline row.
		calls(t, sw, canaryCtx, 5, 0)
		t2 := c.Advance(time.Second).UnixMilli()
		require.NoError(t, r.Flush(ctx))
		got = sampleRows(t, db, "r1", recFlag)
		require.Len(t, got, 3)
		assert.Equal(t, "canary", got[2].Arm)
		assert.Equal(t, [3]int64{t1, t2, 5}, [3]int64{got[2].StartMs, got[2].EndMs, got[2].Calls})

		// Nothing moves: nothing written.
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))
		assert.Len(t, sampleRows(t, db, "r1", recFlag), 3)

		// The sum is every call since the starting point, exactly.
		canary, baseline := grown(flags.SwitchStats{}, sw.Stats())
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, baseline, w.Baseline)
		assert.Equal(t, 1, w.Instances)
		assert.Equal(t, uint64(9), w.Canary.Calls)
		assert.Equal(t, uint64(4), r.Stats().Flushes)
		assert.Equal(t, uint64(3), r.Stats().Written)
	})
}

// A tick whose clock has not moved past the previous one's time still gets
// a key of its own, so that its delta is not taken for a retry.
func TestRecorderNeverReusesATicksTime(t *testing.T) {
	db := testdb.NewSQLite(t)
	ctx := context.Background()
	c := newClock()
	r := newRecorder(t, db, "i1", c)
	sw := recSwitch(t, recClient(t), recFlag)
	require.NoError(t, r.Track(sw))
	startRelease(t, db, recFlag, "r1")
	require.NoError(t, r.Flush(ctx))
	t0 := c.Now().UnixMilli()
	for range 3 {
		calls(t, sw, canaryCtx, 1, 0)
		require.NoError(t, r.Flush(ctx))
	}
	c.Advance(-time.Hour) // the wall clock went back
	calls(t, sw, canaryCtx, 1, 0)
	require.NoError(t, r.Flush(ctx))

	got := sampleRows(t, db, "r1", recFlag)
	require.Len(t, got, 4)
	for i, g := range got {
		assert.Equal(t, t0+int64(i), g.StartMs)
		assert.Equal(t, t0+int64(i)+1, g.EndMs)
		assert.Equal(t, int64(1), g.Calls)
	}
}

// Rows whose write failed go again with the next tick's, with the keys
// they had: the sum counts every call once.
func TestRecorderRetriesAFailedWrite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		r := newRecorder(t, db, "i1", c)
		sw := recSwitch(t, recClient(t), recFlag)
		require.NoError(t, r.Track(sw))
		startRelease(t, db, recFlag, "r1")
		require.NoError(t, r.Flush(ctx))

		renameSamples(t, db, "rollsafe_release_samples", "rollsafe_release_samples_away")
		calls(t, sw, canaryCtx, 2, 1)
		calls(t, sw, baselineCtx, 4, 0)
		failedAt := c.Advance(time.Second).UnixMilli()
		err := r.Flush(ctx)
		require.ErrorContains(t, err, "release: recorder: write 2 samples: ")
		assert.Equal(t, 2, r.Stats().Pending)
		assert.Equal(t, uint64(1), r.Stats().Failures)

		// A canceled write fails too, and keeps them all.
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		calls(t, sw, canaryCtx, 1, 0)
		c.Advance(time.Second)
		require.ErrorIs(t, r.Flush(canceled), context.Canceled)

		renameSamples(t, db, "rollsafe_release_samples_away", "rollsafe_release_samples")
		calls(t, sw, baselineCtx, 3, 0)
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))
		assert.Zero(t, r.Stats().Pending)

		got := sampleRows(t, db, "r1", recFlag)
		require.GreaterOrEqual(t, len(got), 3)
		assert.Equal(t, failedAt, got[0].EndMs, "the failed tick's rows keep its time")
		assert.Equal(t, failedAt, got[1].EndMs)
		canary, baseline := grown(flags.SwitchStats{}, sw.Stats())
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, baseline, w.Baseline)
		assert.Equal(t, uint64(4), w.Canary.Calls)
		assert.Equal(t, uint64(7), w.Baseline.Calls)
	})
}

// Calls made before the flag joined a release, or while it was in another
// release, are not samples of the release.
func TestRecorderCountsFromTheReleasesStart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		r := newRecorder(t, db, "i1", c)
		sw := recSwitch(t, recClient(t), recFlag)
		other := recSwitch(t, recClient(t), recFlagOther)
		require.NoError(t, r.Track(sw))
		require.NoError(t, r.Track(other))

		calls(t, sw, canaryCtx, 7, 0) // before any tick
		require.NoError(t, r.Flush(ctx))
		calls(t, sw, canaryCtx, 5, 2) // tracked, in no release
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))

		startRelease(t, db, recFlag, "r1")
		calls(t, sw, canaryCtx, 3, 0) // in the release, before its first tick
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))
		start := sw.Stats()
		calls(t, sw, canaryCtx, 2, 1)
		calls(t, sw, baselineCtx, 1, 0)
		calls(t, other, canaryCtx, 4, 0) // its flag is in no release
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))

		canary, baseline := grown(start, sw.Stats())
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, baseline, w.Baseline)
		assert.Equal(t, uint64(3), w.Canary.Calls)
		assert.Empty(t, sampleRows(t, db, "r1", recFlagOther))

		// The flag moves to another release between two ticks: its calls
		// count from the new release's first tick.
		endRelease(t, db, recFlag)
		startRelease(t, db, recFlag, "r2")
		calls(t, sw, canaryCtx, 6, 0)
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))
		start = sw.Stats()
		calls(t, sw, canaryCtx, 1, 0)
		c.Advance(time.Second)
		require.NoError(t, r.Flush(ctx))
		assert.Equal(t, uint64(3), sumAll(t, db, "r1", recFlag).Canary.Calls, "r1 ended with its own calls")
		w = sumAll(t, db, "r2", recFlag)
		canary, _ = grown(start, sw.Stats())
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, uint64(1), w.Canary.Calls)
	})
}

// An instance that restarts has a new Switch and a new Recorder: what the
// old one wrote stays, the new one counts from its own first tick, and no
// call is counted twice, whether the instance keeps its id or not.
func TestRecorderRestartDoesNotDoubleCount(t *testing.T) {
	for _, newID := range []string{"i1", "i2"} {
		t.Run("as "+newID, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, db *testdb.DB) {
				ctx := context.Background()
				c := newClock()
				client := recClient(t)
				before := recSwitch(t, client, recFlag)
				r := newRecorder(t, db, "i1", c)
				require.NoError(t, r.Track(before))
				startRelease(t, db, recFlag, "r1")
				require.NoError(t, r.Flush(ctx))
				calls(t, before, canaryCtx, 4, 1)
				calls(t, before, baselineCtx, 3, 0)
				c.Advance(time.Second)
				require.NoError(t, r.Flush(ctx))
				calls(t, before, canaryCtx, 9, 0) // never written: the process ends

				after := recSwitch(t, client, recFlag)
				r2 := newRecorder(t, db, newID, c)
				require.NoError(t, r2.Track(after))
				calls(t, after, canaryCtx, 1, 0)
				c.Advance(time.Second)
				require.NoError(t, r2.Flush(ctx)) // its starting point
				calls(t, after, canaryCtx, 2, 0)
				calls(t, after, baselineCtx, 2, 1)
				c.Advance(time.Second)
				require.NoError(t, r2.Flush(ctx))
				require.NoError(t, r2.Flush(ctx)) // nothing new, nothing twice

				w := sumAll(t, db, "r1", recFlag)
				assert.Equal(t, uint64(5+2), w.Canary.Calls)
				assert.Equal(t, uint64(1), w.Canary.Errors)
				assert.Equal(t, uint64(3+3), w.Baseline.Calls)
				assert.Equal(t, uint64(1), w.Baseline.Errors)
				wantInstances := 2
				if newID == "i1" {
					wantInstances = 1
				}
				assert.Equal(t, wantInstances, w.Instances)
			})
		})
	}
}

// The samples of two instances add up, and each counts as an instance.
func TestSamplesOfTwoInstancesSum(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		a, b := recSwitch(t, recClient(t), recFlag), recSwitch(t, recClient(t), recFlag)
		ra, rb := newRecorder(t, db, "i1", c), newRecorder(t, db, "i2", c)
		require.NoError(t, ra.Track(a))
		require.NoError(t, rb.Track(b))
		startRelease(t, db, recFlag, "r1")
		require.NoError(t, ra.Flush(ctx))
		require.NoError(t, rb.Flush(ctx))
		calls(t, a, canaryCtx, 10, 2)
		calls(t, a, baselineCtx, 20, 0)
		calls(t, b, canaryCtx, 5, 0)
		c.Advance(time.Second)
		require.NoError(t, ra.Flush(ctx))
		require.NoError(t, rb.Flush(ctx))

		ca, ba := grown(flags.SwitchStats{}, a.Stats())
		cb, bb := grown(flags.SwitchStats{}, b.Stats())
		ca.Add(cb)
		ba.Add(bb)
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, 2, w.Instances)
		assert.Equal(t, ca, w.Canary)
		assert.Equal(t, ba, w.Baseline)
		assert.Equal(t, uint64(17), w.Canary.Calls)
		assert.Equal(t, uint64(2), w.Canary.Errors)
		assert.Equal(t, uint64(20), w.Baseline.Calls)
		assert.Equal(t, "new-checkout", w.Flag)
	})
}

// Calls made while Run ticks, Flush is called and paths run on many
// goroutines are each counted once.
func TestRecorderUnderConcurrentCalls(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		r := newRecorder(t, db, "i1", newClock(), release.WithSampleInterval(release.MinSampleInterval))
		sw := recSwitch(t, recClient(t), recFlag)
		require.NoError(t, r.Track(sw))
		startRelease(t, db, recFlag, "r1")
		require.NoError(t, r.Flush(ctx))
		start := sw.Stats()

		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- r.Run(runCtx) }()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 50 {
					evalCtx := baselineCtx
					if (g+i)%3 == 0 {
						evalCtx = canaryCtx
					}
					failed := i % 7 / 6
					calls(t, sw, evalCtx, 1-failed, failed)
				}
			})
		}
		wg.Go(func() {
			for range 5 {
				assert.NoError(t, r.Flush(ctx))
			}
		})
		wg.Wait()
		stop()
		require.ErrorIs(t, <-ran, context.Canceled)

		canary, baseline := grown(start, sw.Stats())
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, baseline, w.Baseline)
		assert.Equal(t, uint64(200), w.Canary.Calls+w.Baseline.Calls)
	})
}

// Calls a Switch turned away from the new path (here it is killed on this
// instance; a breaker that opened does the same) are recorded with the
// canary arm, where the analysis fails the release on them.
func TestRecorderCountsRejectedCanaryCalls(t *testing.T) {
	ctx := context.Background()
	db := testdb.NewSQLite(t)
	c := newClock()
	r := newRecorder(t, db, "i1", c)
	sw := recSwitch(t, recClient(t), recFlag)
	require.NoError(t, r.Track(sw))
	startRelease(t, db, recFlag, "r1")
	require.NoError(t, r.Flush(ctx))

	calls(t, sw, canaryCtx, 2, 0)
	sw.Kill()
	for range 7 {
		got, err := sw.Run(ctx, canaryCtx, func(context.Context) (string, error) { return "new", nil },
			func(context.Context) (string, error) { return "old", nil })
		require.NoError(t, err)
		require.Equal(t, "old", got, "a killed Switch serves the old path")
	}
	c.Advance(time.Second)
	require.NoError(t, r.Flush(ctx))
	w := sumAll(t, db, "r1", recFlag)
	assert.Equal(t, uint64(7), w.Canary.Rejected)
	assert.Equal(t, uint64(2), w.Canary.Calls, "rejected calls ran the old path: not canary calls")
	assert.Equal(t, uint64(7), w.Baseline.Calls)
	m := release.MeasureErrorRate(release.ErrorRateMetric{}, w, 100, c.Now())
	assert.Equal(t, release.PhaseFailed, m.Phase, m.Reason)
}
