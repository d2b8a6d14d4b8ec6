package release

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

// The chart of a release rolled back on its error rate holds both arms'
// lines, its step changes and the rollback, and is well-formed SVG with
// nothing a CSP without inline style would drop.
func TestChartOfARolledBackRelease(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("bad", 10, 50, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.traffic(p, 6, 0.01, 0.01)
	h.traffic(p, 30, 0.5, 0.01)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, StateRolledBack, st.State)
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{})
	require.NoError(t, err)

	svg := drawChart(MetricErrorRate, evs)
	assert.Equal(t, 4, strings.Count(svg, "<polyline"), "new and old of each of the plan's two flags")
	assert.Contains(t, svg, ">step 1<")
	assert.Contains(t, svg, ">step 2<")
	assert.Contains(t, svg, ">rollback<")
	assert.NotContains(t, svg, "<style")
	assert.NotContains(t, svg, "style=")
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the chart is well-formed XML")
	}
}

func TestNiceTicks(t *testing.T) {
	for top, want := range map[float64][]float64{
		0: {0, 0.25, 0.5, 0.75, 1}, 0.3: {0, 0.1, 0.2, 0.30000000000000004}, 1: {0, 0.25, 0.5, 0.75, 1},
		7: {0, 2, 4, 6, 8}, 50: {0, 20, 40, 60}, 99: {0, 25, 50, 75, 100}, 1234: {0, 500, 1000, 1500},
	} {
		ticks, got := niceTicks(top)
		assert.Equal(t, want, ticks, "top %v", top)
		assert.Equal(t, ticks[len(ticks)-1], got)
		assert.GreaterOrEqual(t, got, top)
	}
}

// The feed runs while a page listens and stops with the last one.
func TestFeedRunsOnlyWhileAPageListens(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	f := newFeed(h.c, h.store, 100*time.Millisecond)
	a, _, _, _ := f.subscribe()
	b, _, _, _ := f.subscribe()
	v := <-a
	assert.Positive(t, v.Flags, "the first versions are sent once read")
	f.mu.Lock()
	done := f.done
	running := f.cancel != nil
	f.mu.Unlock()
	require.True(t, running)
	f.unsubscribe(a)
	select {
	case <-done:
		t.Fatal("the feed stopped while a page still listened")
	default:
	}
	f.unsubscribe(b)
	select {
	case <-done:
	default:
		t.Fatal("the feed runs on after the last page left")
	}
	c, _, known, _ := f.subscribe()
	assert.False(t, known, "a feed started again reads again before it says anything")
	<-c
	f.unsubscribe(c)
}

// While the versions stay the same, every page is served one snapshot:
// a change costs the database one read whatever the number of pages.
func TestPagesShareASnapshotUntilTheVersionsChange(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	allow := func(*http.Request, Action, string) (string, error) { return "ops", nil }
	p, err := NewPage(h.c, h.store, allow, func(*http.Request, flagstore.Action, string) (string, error) { return "ops", nil })
	require.NoError(t, err)
	ctx := context.Background()
	assert.NotSame(t, p.snap(ctx), p.snap(ctx), "no feed runs: each read is fresh")

	ch, _, _, _ := p.feed.subscribe()
	defer p.feed.unsubscribe(ch)
	v := <-ch
	first := p.snap(ctx)
	assert.Same(t, first, p.snap(ctx))
	assert.Equal(t, v, first.v)

	res, err := h.store.Apply(ctx, flagstore.Change{Actor: "ops", Reason: "off", Edits: []flagstore.Edit{flagstore.SetState("checkout-v2", flags.Disabled)}})
	require.NoError(t, err)
	for v.Flags < res.Revision {
		v = <-ch
	}
	next := p.snap(ctx)
	assert.NotSame(t, first, next)
	assert.Equal(t, res.Revision, next.set.Revision())
}

// Values no chart can draw (beyond float64 once in ms) are left out, not
// a panic.
func TestChartLeavesOutWhatItCannotDraw(t *testing.T) {
	huge, fine := 1e306, 0.002
	at := time.Unix(1_800_000_000, 0)
	evs := []Event{
		{Kind: EventMeasurement, At: at, Measurement: &Measurement{Metric: MetricLatency, Flag: "f", At: at, Canary: &huge, Baseline: &fine}},
		{Kind: EventMeasurement, At: at.Add(time.Second), Measurement: &Measurement{Metric: MetricLatency, Flag: "f", At: at.Add(time.Second), Canary: &fine, Baseline: &fine}},
	}
	svg := drawChart(MetricLatency, evs)
	assert.Equal(t, 2, strings.Count(svg, "<polyline"))
	assert.Contains(t, svg, ">2<", "the chart's top is the largest value it draws, 2 ms")
}

// A kept snapshot serves for snapshotTTL at most, the versions unchanged.
func TestSnapshotExpires(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	p := newTestPage(t, h.c, h.store)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	ctx := context.Background()
	ch, _, _, _ := p.feed.subscribe()
	defer p.feed.unsubscribe(ch)
	<-ch
	first := p.snap(ctx)
	now = now.Add(snapshotTTL - time.Millisecond)
	assert.Same(t, first, p.snap(ctx))
	now = now.Add(time.Millisecond)
	assert.NotSame(t, first, p.snap(ctx))
}

type downRegistry struct{}

func (downRegistry) List(context.Context) ([]fleet.Instance, error) {
	return nil, errors.New("the registry is down")
}

// A snapshot a section of which could not be read names the section, and
// is not kept: the next read tries again.
func TestSnapshotWithAFailedSectionIsNotKept(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	c, err := NewController(h.db.DB, h.db.Dialect, h.store, downRegistry{})
	require.NoError(t, err)
	p := newTestPage(t, c, h.store)
	ctx := context.Background()
	ch, _, _, _ := p.feed.subscribe()
	defer p.feed.unsubscribe(ch)
	v := <-ch // the registry's failure counts as read: the versions go out
	assert.Positive(t, v.Flags)
	s := p.snap(ctx)
	assert.Equal(t, []string{"instances"}, s.failed)
	assert.NotSame(t, s, p.snap(ctx))
	st := p.state(httptest.NewRequest("GET", "/api/state", nil), reads{releases: true, flags: true, history: true})
	assert.Equal(t, []string{"instances"}, st.Problems)
	assert.Nil(t, st.Instances)
	assert.NotNil(t, st.Flags)
	assert.NotNil(t, st.Releases)
}

func newTestPage(t *testing.T, c *Controller, store *flagstore.Store) *Page {
	t.Helper()
	p, err := NewPage(c, store, func(*http.Request, Action, string) (string, error) { return "ops", nil },
		func(*http.Request, flagstore.Action, string) (string, error) { return "ops", nil })
	require.NoError(t, err)
	return p
}
