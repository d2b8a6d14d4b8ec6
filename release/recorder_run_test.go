package release_test

import (
	"context"
	"database/sql"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// Run ticks at once and then every interval, on the bubble's clock, which
// also stamps the rows; when its context ends it writes what is left and
// returns. A second Run meanwhile is refused.
func TestRecorderRunTicksEveryInterval(t *testing.T) {
	db := testdb.NewSQLite(t)
	ctx := context.Background()
	require.NoError(t, release.EnsureSchema(ctx, db.DB, db.Dialect))
	startRelease(t, db, recFlag, "r1")
	sw := recSwitch(t, recClient(t), recFlag)
	synctest.Test(t, func(t *testing.T) {
		pool, err := sql.Open(db.Driver, db.DSN) // the pool's goroutines belong to the bubble
		require.NoError(t, err)
		defer pool.Close()
		r, err := release.NewRecorder(pool, db.Dialect, "i1", release.WithSampleInterval(time.Second))
		require.NoError(t, err)
		require.NoError(t, r.Track(sw))
		t0 := time.Now().UnixMilli()
		// advance moves the bubble's clock by d, once every goroutine of the
		// bubble waits: no real time passes.
		advance := func(d time.Duration) {
			<-time.After(d)
			synctest.Wait()
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- r.Run(runCtx) }()
		synctest.Wait() // the first tick took the starting point
		require.ErrorIs(t, r.Run(ctx), release.ErrRecorderRunning)

		calls(t, sw, canaryCtx, 2, 0)
		advance(time.Second) // one interval
		got := sampleRows(t, db, "r1", recFlag)
		require.Len(t, got, 1)
		assert.Equal(t, [3]int64{t0, t0 + 1000, 2}, [3]int64{got[0].StartMs, got[0].EndMs, got[0].Calls})

		calls(t, sw, baselineCtx, 3, 0)
		advance(10 * time.Second) // ten ticks, one of which sees the calls
		calls(t, sw, canaryCtx, 1, 0)
		stop()
		require.ErrorIs(t, <-ran, context.Canceled)

		got = sampleRows(t, db, "r1", recFlag)
		require.Len(t, got, 3)
		assert.Equal(t, [3]int64{t0 + 1000, t0 + 2000, 3}, [3]int64{got[1].StartMs, got[1].EndMs, got[1].Calls})
		assert.Equal(t, "baseline", got[1].Arm)
		assert.Equal(t, int64(1), got[2].Calls, "the last flush wrote the last call")
		assert.Equal(t, t0+11001, got[2].EndMs, "the last flush came in the last tick's millisecond: one after it")
		canary, baseline := grown(flags.SwitchStats{}, sw.Stats())
		w := sumAll(t, db, "r1", recFlag)
		assert.Equal(t, canary, w.Canary)
		assert.Equal(t, baseline, w.Baseline)
		assert.Equal(t, uint64(13), r.Stats().Flushes)
	})
}
