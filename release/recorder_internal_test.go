package release

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// fakeSource is a StatsSource whose counts the test sets.
type fakeSource struct {
	mu    sync.Mutex
	flag  string
	stats flags.SwitchStats
}

func (f *fakeSource) Flag() string { return f.flag }

func (f *fakeSource) Stats() flags.SwitchStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeSource) set(canaryCalls, baselineCalls uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.New.Calls, f.stats.Old.Calls = canaryCalls, baselineCalls
}

func internalRecorder(t *testing.T, db *testdb.DB, now *time.Time, logs *bytes.Buffer) *Recorder {
	t.Helper()
	require.NoError(t, ensureSchema(context.Background(), db.DB, db.Dialect))
	_, err := db.ExecContext(context.Background(), `INSERT INTO `+tableReleaseFlags+` (flag_key, release_id) VALUES ('f', 'r1')`)
	require.NoError(t, err)
	r, err := NewRecorder(db.DB, db.Dialect, "i1",
		WithRecorderClock(func() time.Time { return *now }),
		WithRecorderLogger(slog.New(slog.NewTextHandler(logs, nil))))
	require.NoError(t, err)
	return r
}

// Rows written again, as after a commit whose answer was lost, are stored
// once: the first write's counts stand.
func TestRewrittenSamplesCountOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_800_000_000_000)
		r := internalRecorder(t, db, &now, &bytes.Buffer{})
		end := now.UnixMilli()
		rows := []sample{
			{release: "r1", flag: "f", arm: armCanary, startMs: end - 1000, endMs: end, counts: Arm{Calls: 3, Errors: 1}},
			{release: "r1", flag: "f", arm: armBaseline, startMs: end - 1000, endMs: end, counts: Arm{Calls: 5, Timed: 5, Latency: 50, Histogram: flags.LatencyHistogram{Counts: [32]uint64{31: 5}}}},
		}
		r.pending = append([]sample(nil), rows...)
		require.NoError(t, r.Flush(ctx))
		rows[0].counts.Calls = 1000 // a retry never changes a row, but if it did, the first stands
		r.pending = rows
		require.NoError(t, r.Flush(ctx))
		assert.Equal(t, uint64(4), r.Stats().Written)

		w, err := querySamples(ctx, db.DB, db.Dialect, "r1", "f", now.Add(-time.Second), now)
		require.NoError(t, err)
		assert.Equal(t, Arm{Calls: 3, Errors: 1}, w.Canary)
		assert.Equal(t, rows[1].counts, w.Baseline)
		assert.Equal(t, 1, w.Instances)
	})
}

// While writes fail, at most MaxPendingSamples rows wait: the oldest go,
// with a warning, and are counted.
func TestRecorderDropsTheOldestPendingSamples(t *testing.T) {
	db := testdb.NewSQLite(t)
	ctx := context.Background()
	now := time.UnixMilli(1_800_000_000_000)
	var logs bytes.Buffer
	r := internalRecorder(t, db, &now, &logs)
	require.NoError(t, r.Flush(ctx)) // the tables exist: they are not created again
	base := now.UnixMilli()
	for i := range MaxPendingSamples + 10 {
		r.pending = append(r.pending, sample{release: "r1", flag: "f", arm: armCanary, startMs: base + int64(i), endMs: base + int64(i+1), counts: Arm{Calls: 1}})
	}
	_, err := db.ExecContext(ctx, `ALTER TABLE `+tableSamples+` RENAME TO gone`)
	require.NoError(t, err)
	require.Error(t, r.Flush(ctx))
	st := r.Stats()
	assert.Equal(t, uint64(10), st.Dropped)
	assert.Equal(t, MaxPendingSamples, st.Pending)
	assert.Equal(t, base+11, r.pending[0].endMs, "the newest are kept")
	assert.Contains(t, logs.String(), "dropped=10 kept=300")

	_, err = db.ExecContext(ctx, `ALTER TABLE gone RENAME TO `+tableSamples)
	require.NoError(t, err)
	require.NoError(t, r.Flush(ctx))
	w, err := querySamples(ctx, db.DB, db.Dialect, "r1", "f", now, now.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(MaxPendingSamples), w.Canary.Calls)
}

// Counts that go down are a new starting point, never a negative delta.
func TestRecorderStartsAgainWhenCountsGoDown(t *testing.T) {
	db := testdb.NewSQLite(t)
	ctx := context.Background()
	now := time.UnixMilli(1_800_000_000_000)
	var logs bytes.Buffer
	r := internalRecorder(t, db, &now, &logs)
	src := &fakeSource{flag: "f"}
	require.NoError(t, r.Track(src))
	src.set(10, 10)
	require.NoError(t, r.Flush(ctx))
	src.set(15, 12)
	now = now.Add(time.Second)
	require.NoError(t, r.Flush(ctx))
	src.set(2, 20) // the canary's counts went down
	now = now.Add(time.Second)
	require.NoError(t, r.Flush(ctx))
	src.set(3, 21)
	now = now.Add(time.Second)
	require.NoError(t, r.Flush(ctx))

	w, err := querySamples(ctx, db.DB, db.Dialect, "r1", "f", now.Add(-time.Hour), now)
	require.NoError(t, err)
	assert.Equal(t, uint64(5+1), w.Canary.Calls)
	assert.Equal(t, uint64(2+1), w.Baseline.Calls)
	assert.Contains(t, logs.String(), "counts went down")
}

func TestArmDelta(t *testing.T) {
	then := flags.PathStats{Calls: 5, Errors: 1, Panics: 1, Timed: 2, Latency: 20}
	then.Histogram.Counts[3] = 2
	now := flags.PathStats{Calls: 9, Errors: 3, Panics: 1, Timed: 4, Latency: 45}
	now.Histogram.Counts[3] = 3
	now.Histogram.Counts[4] = 1
	got, ok := armDelta(now, then)
	require.True(t, ok)
	want := Arm{Calls: 4, Errors: 2, Timed: 2, Latency: 25}
	want.Histogram.Counts[3], want.Histogram.Counts[4] = 1, 1
	assert.Equal(t, want, got)

	for name, shrink := range map[string]func(*flags.PathStats){
		"calls":     func(p *flags.PathStats) { p.Calls = 4 },
		"errors":    func(p *flags.PathStats) { p.Errors = 0 },
		"panics":    func(p *flags.PathStats) { p.Panics = 0 },
		"timed":     func(p *flags.PathStats) { p.Timed = 1 },
		"latency":   func(p *flags.PathStats) { p.Latency = 1 },
		"histogram": func(p *flags.PathStats) { p.Histogram.Counts[3] = 1 },
	} {
		p := now
		shrink(&p)
		_, ok := armDelta(p, then)
		assert.False(t, ok, name)
	}
}
