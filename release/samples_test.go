package release_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// A window holds the samples whose interval ended after its start and not
// after its end, of its release and flag only.
func TestQuerySamplesRespectsTheWindow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		client := recClient(t)
		sw, other := recSwitch(t, client, recFlag), recSwitch(t, client, recFlagOther)
		r := newRecorder(t, db, "i1", c)
		require.NoError(t, r.Track(sw))
		require.NoError(t, r.Track(other))
		startRelease(t, db, recFlag, "r1")
		startRelease(t, db, recFlagOther, "r2")
		t0 := c.Now()
		require.NoError(t, r.Flush(ctx))
		for _, n := range []int{3, 5, 7} {
			calls(t, sw, canaryCtx, n, 0)
			calls(t, sw, baselineCtx, 1, 0)
			calls(t, other, canaryCtx, 100, 0)
			c.Advance(time.Second)
			require.NoError(t, r.Flush(ctx))
		}
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

		tests := []struct {
			name             string
			from, to         time.Time
			canary, baseline uint64
			instances        int
		}{
			{"all", at(-1), at(3), 15, 3, 1},
			{"first", at(0), at(1), 3, 1, 1},
			{"the end is in", at(1).Add(-time.Millisecond), at(1), 3, 1, 1},
			{"the start is out", at(1), at(2), 5, 1, 1},
			{"last two", at(1), at(3), 12, 2, 1},
			{"empty", at(1), at(1), 0, 0, 0},
			{"before", at(-3600), at(0), 0, 0, 0},
			{"after", at(3), at(3600), 0, 0, 0},
		}
		for _, tt := range tests {
			w, err := release.QuerySamples(ctx, db.DB, db.Dialect, "r1", recFlag, tt.from, tt.to)
			require.NoError(t, err, tt.name)
			assert.Equal(t, tt.canary, w.Canary.Calls, tt.name)
			assert.Equal(t, tt.baseline, w.Baseline.Calls, tt.name)
			assert.Equal(t, tt.instances, w.Instances, tt.name)
			assert.Equal(t, tt.from, w.From, tt.name)
			assert.Equal(t, tt.to, w.To, tt.name)
			assert.Equal(t, recFlag, w.Flag, tt.name)
		}

		// Another release's samples of the flag, or another flag's, are not
		// in the window.
		w, err := release.QuerySamples(ctx, db.DB, db.Dialect, "r2", recFlag, at(-1), at(3))
		require.NoError(t, err)
		assert.Equal(t, release.Window{Flag: recFlag, From: at(-1), To: at(3)}, w)
		w, err = release.QuerySamples(ctx, db.DB, db.Dialect, "r2", recFlagOther, at(-1), at(3))
		require.NoError(t, err)
		assert.Equal(t, uint64(300), w.Canary.Calls)
	})
}

func TestQuerySamplesReportsAFailedQuery(t *testing.T) {
	db := testdb.NewSQLite(t)
	_, err := release.QuerySamples(context.Background(), db.DB, db.Dialect, "r1", recFlag, time.Unix(0, 0), time.Now())
	require.ErrorContains(t, err, "release: samples of new-checkout in r1: ")
}

// The Recorder deletes its own instance's samples once they are older than
// the retention, and leaves other instances' alone.
func TestRecorderDeletesItsOwnOldSamples(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		c := newClock()
		client := recClient(t)
		a, b := recSwitch(t, client, recFlag), recSwitch(t, client, recFlag)
		ra := newRecorder(t, db, "i1", c, release.WithRetention(time.Minute))
		rb := newRecorder(t, db, "i2", c, release.WithRetention(time.Hour))
		require.NoError(t, ra.Track(a))
		require.NoError(t, rb.Track(b))
		startRelease(t, db, recFlag, "r1")
		require.NoError(t, ra.Flush(ctx))
		require.NoError(t, rb.Flush(ctx))
		calls(t, a, canaryCtx, 2, 0)
		calls(t, b, canaryCtx, 3, 0)
		old := c.Advance(time.Second).UnixMilli()
		require.NoError(t, ra.Flush(ctx))
		require.NoError(t, rb.Flush(ctx))
		require.Len(t, sampleRows(t, db, "r1", recFlag), 2)

		calls(t, a, canaryCtx, 4, 0)
		c.Advance(2 * time.Minute)
		require.NoError(t, ra.Flush(ctx))
		got := sampleRows(t, db, "r1", recFlag)
		require.Len(t, got, 2)
		assert.Equal(t, row{Instance: "i2", Arm: "canary", StartMs: old - 1000, EndMs: old, Calls: 3, Timed: got[0].Timed, B0: got[0].B0}, got[0])
		assert.Equal(t, "i1", got[1].Instance)
		assert.Equal(t, int64(4), got[1].Calls, "the rows of this tick are kept")
	})
}
