package release

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func countKinds(t *testing.T, h *harness, id string) map[string]int {
	evs, err := h.c.History(context.Background(), id, HistoryFilter{})
	require.NoError(t, err)
	out := map[string]int{}
	for _, e := range evs {
		out[e.Kind]++
	}
	return out
}

const ruleDoc = `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","targeting":{"if":[{"==":[{"var":"tier"},"gold"]},"off","on"]}}`

// A person replaces the split by a rule while a step bakes: the hold is
// recorded once, not at every look.
func TestUnmovableFlagHoldsOnce(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("flip", 10, 50, 100)
	p.Steps[0].Bake = Duration(time.Hour)
	p.StepTimeout = Duration(time.Hour)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	_, err = h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "a rule", Edits: []flagstore.Edit{
		flagstore.Put("checkout-v2", []byte(ruleDoc))}})
	require.NoError(t, err)
	before := countKinds(t, h, p.ID)
	for range 20 {
		h.tick(h.c, 100*time.Millisecond)
	}
	after := countKinds(t, h, p.ID)
	require.LessOrEqual(t, after[EventHold]-before[EventHold], 2, "hold events spam")
}

// A paused release whose flag cannot be moved, past its step timeout, is
// not paused again and again.
func TestPausedReleaseIsNotPausedAgain(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("repause", 10, 50, 100)
	p.StepTimeout = Duration(time.Minute)
	p.OnTimeout = TimeoutPause
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	require.NoError(t, h.c.Pause(ctx, p.ID, "carol", "looking"))
	_, err = h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "a rule", Edits: []flagstore.Edit{
		flagstore.Put("checkout-v2", []byte(ruleDoc))}})
	require.NoError(t, err)
	h.tick(h.c, 2*time.Minute)
	before := countKinds(t, h, p.ID)
	for range 20 {
		h.tick(h.c, 100*time.Millisecond)
	}
	after := countKinds(t, h, p.ID)
	require.Equal(t, before[EventPaused], after[EventPaused], "paused again and again")
}

// A split nested in a rule is found where it is: the weights it has are
// not written again at every look.
func TestNestedSplitIsNotRewritten(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	_, err := h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "nested", Edits: []flagstore.Edit{
		flagstore.Put("checkout-v2", []byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[{"==":[{"var":"tier"},"gold"]},"off",{"fractional":[["off",100],["on",0]]}]}}`))}})
	require.NoError(t, err)
	p := testPlan("nested", 10, 50, 100)
	p.Steps[0].Bake = Duration(time.Hour)
	_, err = h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	r0, err := h.store.Revision(ctx)
	require.NoError(t, err)
	for range 20 {
		h.tick(h.c, 100*time.Millisecond)
	}
	r1, err := h.store.Revision(ctx)
	require.NoError(t, err)
	require.Equal(t, r0, r1, "store rewritten every tick")
}

// A hold past its timeout rolls the release back, and nothing after it in
// the same look (a promote waiting) brings it back to life.
func TestRolledBackReleaseStaysRolledBack(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("zombie", 10, 50, 100)
	p.StepTimeout = Duration(time.Minute)
	p.OnTimeout = TimeoutRollback
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	_, err = h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "a rule", Edits: []flagstore.Edit{
		flagstore.Put("checkout-v2", []byte(ruleDoc))}})
	require.NoError(t, err)
	h.clock.advance(2 * time.Minute)
	require.NoError(t, h.c.Promote(ctx, p.ID, "carol", "looks fine"))
	h.tick(h.c, 0)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, StateRolledBack, st.State)
	assert.Equal(t, fractional(0), h.flagWeights("search-v2"))
	var n int
	require.NoError(t, h.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+tableReleaseFlags+` WHERE release_id = ?`, p.ID).Scan(&n))
	assert.Zero(t, n, "its flags are free")
}

// A Prometheus server that never answers: the query is cut before the look
// ends, its Error is stored, and the error limit rolls the release back.
func TestHungPrometheusRollsBack(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t), WithLease(300*time.Millisecond), WithTick(100*time.Millisecond))
	ctx := context.Background()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	p := testPlan("hung", 10, 100)
	p.StepTimeout = Duration(time.Minute)
	p.OnTimeout = TimeoutRollback
	off := true
	p.Analysis = Analysis{
		ErrorRate: &ErrorRateMetric{Disabled: off}, Latency: &LatencyMetric{Disabled: off},
		Prometheus: []PrometheusMetric{{Name: "errors", Address: hang.URL, Canary: "vector(0)", Max: 0.1}},
	}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	for range 8 {
		h.tick(h.c, time.Minute)
	}
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventMeasurement}})
	require.NoError(t, err)
	require.Equal(t, StateRolledBack, st.State)
	require.NotEmpty(t, evs)
	assert.Equal(t, PhaseError, evs[0].Measurement.Phase)
}

// The reason a webhook failed, which goes into the ledger and the outcome,
// does not carry its URL's token.
func TestWebhookSecretStaysOutOfTheOutcome(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p := testPlan("leak", 10, 100)
	p.Webhooks = []Webhook{{Name: "chat", Type: WebhookRollback, URL: dead.URL + "/services/T0/B0/s3cr3t?token=abc"}}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.traffic(p, 5, 0, 0)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, StateRolledBack, st.State)
	require.NotContains(t, st.Outcome, "s3cr3t")
	require.NotContains(t, st.Outcome, "token")
}
