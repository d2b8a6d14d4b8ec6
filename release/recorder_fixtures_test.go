package release_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/testdb"
	"github.com/rollsafe/rollsafe/release"
)

// The flags the recorder tests guard: each takes its new path for an
// evaluation context whose "arm" is "canary", and its old path otherwise,
// so that a test decides which arm each call lands in.
const (
	recFlag      = "new-checkout"
	recFlagOther = "new-search"
	// recFlagOn is on without targeting: the cheapest evaluation, for the
	// benchmarks.
	recFlagOn = "new-bench"
)

const recDefinitions = `{"flags": {
  "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"if": [{"==": [{"var": "arm"}, "canary"]}, "on", "off"]}},
  "new-search": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"if": [{"==": [{"var": "arm"}, "canary"]}, "on", "off"]}},
  "new-bench": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
}}`

var (
	canaryCtx   = openfeature.NewTargetlessEvaluationContext(map[string]any{"arm": "canary"})
	baselineCtx = openfeature.NewTargetlessEvaluationContext(map[string]any{"arm": "baseline"})
	errRecBoom  = errors.New("boom")
)

// recClient serves recDefinitions through a flags.Provider over a
// MemorySource on an isolated OpenFeature API, shut down at cleanup.
func recClient(t testing.TB) *openfeature.Client {
	t.Helper()
	set, err := flags.Parse([]byte(recDefinitions))
	require.NoError(t, err)
	provider, err := flags.NewProvider(flags.NewMemorySource(set))
	require.NoError(t, err)
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), provider))
	return api.NewClient()
}

// recSwitch is a Switch over flag whose breaker never trips in a test.
func recSwitch(t testing.TB, client *openfeature.Client, flag string) *flags.Switch[string] {
	t.Helper()
	s, err := flags.NewSwitch[string](client, flag, flags.WithTripRatio(1), flags.WithMinCalls(1<<31),
		flags.WithSwitchMeterProvider(noop.NewMeterProvider()))
	require.NoError(t, err)
	return s
}

// calls makes ok successful and failed failing calls of s in the arm that
// ctx selects, and checks that they took that arm.
func calls(t testing.TB, s *flags.Switch[string], evalCtx openfeature.EvaluationContext, ok, failed int) {
	t.Helper()
	want := "old"
	if evalCtx.Attribute("arm") == "canary" {
		want = "new"
	}
	path := func(name string, fail bool) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			if fail {
				return name, errRecBoom
			}
			return name, nil
		}
	}
	for i := range ok + failed {
		fail := i >= ok
		got, err := s.Run(context.Background(), evalCtx, path("new", fail), path("old", fail))
		require.Equal(t, want, got)
		if fail {
			require.ErrorIs(t, err, errRecBoom)
		} else {
			require.NoError(t, err)
		}
	}
}

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_800_000_000_000).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// newRecorder returns a Recorder of instance on db with clock c, its
// tables created.
func newRecorder(t testing.TB, db *testdb.DB, instance string, c *clock, opts ...release.RecorderOption) *release.Recorder {
	t.Helper()
	require.NoError(t, release.EnsureSchema(context.Background(), db.DB, db.Dialect))
	r, err := release.NewRecorder(db.DB, db.Dialect, instance, append([]release.RecorderOption{release.WithRecorderClock(c.Now)}, opts...)...)
	require.NoError(t, err)
	return r
}

// startRelease makes flag part of the running release id, as a Controller
// does when the release starts; endRelease takes it out.
func startRelease(t testing.TB, db *testdb.DB, flag, id string) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), db.Dialect.Rebind(
		`INSERT INTO rollsafe_release_flags (flag_key, release_id) VALUES (?, ?)`), flag, id)
	require.NoError(t, err)
}

func endRelease(t testing.TB, db *testdb.DB, flag string) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), db.Dialect.Rebind(
		`DELETE FROM rollsafe_release_flags WHERE flag_key = ?`), flag)
	require.NoError(t, err)
}

// armOf is a path's counts as an Arm.
func armOf(p flags.PathStats) release.Arm {
	return release.Arm{Calls: p.Calls, Errors: p.Errors, Panics: p.Panics, Timed: p.Timed, Latency: p.Latency, Histogram: p.Histogram}
}

// grown is what a Switch's counts grew by from then to now, per arm.
func grown(then, now flags.SwitchStats) (canary, baseline release.Arm) {
	sub := func(a, b flags.PathStats) release.Arm {
		x, y := armOf(a), armOf(b)
		x.Calls -= y.Calls
		x.Errors -= y.Errors
		x.Panics -= y.Panics
		x.Timed -= y.Timed
		x.Latency -= y.Latency
		for i := range x.Histogram.Counts {
			x.Histogram.Counts[i] -= y.Histogram.Counts[i]
		}
		return x
	}
	return sub(now.New, then.New), sub(now.Old, then.Old)
}

// sumAll sums every sample of flag in release id.
func sumAll(t testing.TB, db *testdb.DB, id, flag string) release.Window {
	t.Helper()
	w, err := release.QuerySamples(context.Background(), db.DB, db.Dialect, id, flag, time.Unix(0, 0), time.UnixMilli(1<<50))
	require.NoError(t, err)
	return w
}

// row is one stored sample row, in part.
type row struct {
	Instance, Arm            string
	StartMs, EndMs           int64
	Calls, Errors, Timed, B0 int64
}

// sampleRows lists the stored rows of flag in release id, by end and arm.
func sampleRows(t testing.TB, db *testdb.DB, id, flag string) []row {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), db.Dialect.Rebind(`SELECT instance, arm, start_ms, end_ms, calls, errors, timed, b00
FROM rollsafe_release_samples WHERE release_id = ? AND flag_key = ? ORDER BY end_ms, arm, instance`), id, flag)
	require.NoError(t, err)
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.Instance, &r.Arm, &r.StartMs, &r.EndMs, &r.Calls, &r.Errors, &r.Timed, &r.B0))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// renameSamples renames the samples table, so that writes to it fail
// until it is renamed back.
func renameSamples(t testing.TB, db *testdb.DB, from, to string) {
	t.Helper()
	_, err := db.ExecContext(context.Background(), `ALTER TABLE `+from+` RENAME TO `+to)
	require.NoError(t, err)
}
