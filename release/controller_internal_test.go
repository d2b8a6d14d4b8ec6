package release

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/testdb"
)

func TestReleasePromotedStepByStep(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		p := testPlan("checkout-2026-12", 10, 50, 100)
		st, err := h.c.Start(ctx, p, "alice")
		require.NoError(t, err)
		assert.Equal(t, StateProgressing, st.State)
		assert.Equal(t, -1, st.Step)
		assert.Equal(t, fractional(0), h.flagWeights("search-v2"), "nothing moves before the driver's first look")

		h.tick(h.c, time.Second)
		assert.Equal(t, fractional(10), h.flagWeights("checkout-v2"), "a flag without targeting gets a split")
		assert.Equal(t, fractional(10), h.flagWeights("search-v2"))

		h.traffic(p, 60, 0.01, 0.01)
		st, err = h.c.Status(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, StatePromoted, st.State, "outcome %q, verdict %+v", st.Outcome, st.Verdict)
		assert.Equal(t, fractional(100), h.flagWeights("checkout-v2"))
		assert.Equal(t, "started driver step step step promoted", h.kinds(p.ID))

		// One store revision per step, both flags in each, the release id on it.
		recs, err := h.store.History(ctx, flagstore.Filter{ReleaseID: p.ID})
		require.NoError(t, err)
		require.Len(t, recs, 3)
		for _, r := range recs {
			assert.Equal(t, []string{"checkout-v2", "search-v2"}, r.Keys)
		}
		// The flags are free for another release now.
		_, err = h.c.Start(ctx, testPlan("next", 10), "bob")
		require.NoError(t, err)
	})
}

func TestReleaseRolledBackInOneChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		p := testPlan("bad", 10, 50, 100)
		_, err := h.c.Start(ctx, p, "alice")
		require.NoError(t, err)
		h.tick(h.c, time.Second)
		h.traffic(p, 6, 0.01, 0.01) // step 1 passes
		st, err := h.c.Status(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, 1, st.Step)
		before, err := h.store.Revision(ctx)
		require.NoError(t, err)

		h.traffic(p, 30, 0.5, 0.01)
		st, err = h.c.Status(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, StateRolledBack, st.State)
		assert.Contains(t, st.Outcome, "analysis: ")
		after, err := h.store.Revision(ctx)
		require.NoError(t, err)
		assert.Equal(t, before+1, after, "the rollback is one revision")
		assert.Equal(t, fractional(0), h.flagWeights("checkout-v2"))
		assert.Equal(t, fractional(0), h.flagWeights("search-v2"))
		recs, err := h.store.History(ctx, flagstore.Filter{ReleaseID: p.ID, Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, []string{"checkout-v2", "search-v2"}, recs[0].Keys)
		assert.Equal(t, ActorAnalysis, recs[0].Actor)

		evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventRollback}})
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.NotNil(t, evs[0].Measurement, "the measurement that decided is in the ledger")
		assert.Equal(t, PhaseFailed, evs[0].Measurement.Phase)
		assert.Equal(t, map[string]int{"checkout-v2": 50, "search-v2": 50}, evs[0].WeightsBefore)

		// Terminal: more ticks change nothing; Start again retries.
		h.tick(h.c, 5*time.Second)
		again, err := h.store.Revision(ctx)
		require.NoError(t, err)
		assert.Equal(t, after, again)
		st, err = h.c.Start(ctx, p, "alice")
		require.NoError(t, err)
		assert.Equal(t, 2, st.Attempt)
		assert.Equal(t, StateProgressing, st.State)
	})
}

func TestAbortAndConflicts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		p := testPlan("one", 10, 100)
		_, err := h.c.Start(ctx, p, "alice")
		require.NoError(t, err)

		_, err = h.c.Start(ctx, p, "alice")
		require.ErrorIs(t, err, ErrConflict, "the same release twice")
		other := testPlan("two", 5)
		other.Flags = other.Flags[1:]
		other.Steps[0].Weights = map[string]int{"search-v2": 5}
		_, err = h.c.Start(ctx, other, "bob")
		var inUse *FlagInUseError
		require.ErrorAs(t, err, &inUse)
		assert.Equal(t, FlagInUseError{Flag: "search-v2", Release: "one"}, *inUse)

		require.ErrorIs(t, h.c.Abort(ctx, p.ID, "", "why"), ErrNoActor)
		h.tick(h.c, time.Second)
		require.NoError(t, h.c.Abort(ctx, p.ID, "carol", "pager went off"))
		st, err := h.c.Status(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, StateRolledBack, st.State)
		assert.Equal(t, "carol: pager went off", st.Outcome)
		assert.Equal(t, fractional(0), h.flagWeights("checkout-v2"))
		require.ErrorIs(t, h.c.Abort(ctx, p.ID, "carol", "again"), ErrNotActive)
		require.ErrorIs(t, h.c.Promote(ctx, p.ID, "carol", "go"), ErrNotActive)
		_, err = h.c.Start(ctx, other, "bob")
		require.NoError(t, err, "the aborted release's flags are free")
		_, err = h.c.Status(ctx, "nope")
		require.ErrorIs(t, err, ErrNotFound)
	})
}

func TestStartRefusesFlagsItCannotMove(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	_, err := h.store.Apply(ctx, flagstore.Change{Actor: "t", Reason: "r", Edits: []flagstore.Edit{flagstore.Put("ruled",
		[]byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off","targeting":{"if":[{"==":[{"var":"tier"},"gold"]},"on","off"]}}`))}})
	require.NoError(t, err)
	for name, p := range map[string]*Plan{
		"missing flag":    {ID: "a", Flags: []FlagSpec{{Key: "nope", Baseline: "off", Canary: "on"}}, Steps: []Step{{Weights: map[string]int{"nope": 5}}}},
		"missing variant": {ID: "b", Flags: []FlagSpec{{Key: "other", Baseline: "off", Canary: "blue"}}, Steps: []Step{{Weights: map[string]int{"other": 5}}}},
		"rule targeting":  {ID: "c", Flags: []FlagSpec{{Key: "ruled", Baseline: "off", Canary: "on"}}, Steps: []Step{{Weights: map[string]int{"ruled": 5}}}},
	} {
		_, err := h.c.Start(ctx, p, "alice")
		require.ErrorIs(t, err, ErrFlag, name)
	}
	list, err := h.c.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "a refused start records nothing")
}

func TestRequiresHoldsTheFirstStep(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	old := h.register("1.3.0")
	h.register("1.4.2")
	p := testPlan("req", 10)
	p.Requires = ">= 1.4.0"
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.tick(h.c, time.Second)
	assert.Equal(t, fractional(0), h.flagWeights("search-v2"), "no traffic to the new path while an old instance runs")
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventHold}})
	require.NoError(t, err)
	require.Len(t, evs, 1, "a hold is recorded once, not at every tick")
	assert.Contains(t, evs[0].Reason, "1 of 2 live instances do not meet >= 1.4.0")
	require.Error(t, h.c.Promote(ctx, p.ID, "bob", "skip it"), "a promote does not skip the fleet check")

	require.NoError(t, h.reg.Deregister(ctx, old))
	h.tick(h.c, time.Second)
	assert.Equal(t, fractional(10), h.flagWeights("search-v2"))
}

func TestApprovalWaitsForPromote(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("appr", 10, 50)
	p.Approval = Approval{Steps: []int{1}, Promoters: []string{"lead"}}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.traffic(p, 20, 0.01, 0.01)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Step, "a judged step waits for the approval")
	assert.True(t, st.AwaitingApproval)
	require.ErrorIs(t, h.c.Promote(ctx, p.ID, "alice", "looks fine"), ErrNotAllowed)
	require.NoError(t, h.c.Promote(ctx, p.ID, "lead", "looks fine"))
	h.tick(h.c, time.Second)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Step)
	assert.False(t, st.AwaitingApproval)
}

func TestPauseHoldsButStillRollsBack(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("pause", 20, 50, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	require.NoError(t, h.c.Pause(ctx, p.ID, "alice", "lunch"))
	require.NoError(t, h.c.Pause(ctx, p.ID, "alice", "lunch"), "pausing a paused release changes nothing")
	h.traffic(p, 20, 0.01, 0.01)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StatePaused, st.State)
	assert.Equal(t, 0, st.Step)
	require.NoError(t, h.c.Resume(ctx, p.ID, "alice", "back"))
	h.traffic(p, 4, 0.01, 0.01)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Step)

	require.NoError(t, h.c.Pause(ctx, p.ID, "alice", "watch"))
	h.traffic(p, 30, 0.6, 0.01)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State, "a paused release still rolls back on failure")
}

func TestStepTimeout(t *testing.T) {
	for _, onTimeout := range []string{TimeoutPause, TimeoutRollback} {
		t.Run(onTimeout, func(t *testing.T) {
			h := newHarness(t, testdb.NewSQLite(t))
			ctx := context.Background()
			p := testPlan("quiet", 10, 100)
			p.StepTimeout = Duration(time.Minute)
			p.OnTimeout = onTimeout
			_, err := h.c.Start(ctx, p, "alice")
			require.NoError(t, err)
			h.tick(h.c, time.Second)
			for range 70 { // no traffic at all: starved, never successful
				h.tick(h.c, time.Second)
			}
			st, err := h.c.Status(ctx, p.ID)
			require.NoError(t, err)
			assert.Equal(t, 0, st.Step, "no data never promotes")
			want := map[string]State{TimeoutPause: StatePaused, TimeoutRollback: StateRolledBack}[onTimeout]
			assert.Equal(t, want, st.State)
		})
	}
}

func TestWebhooks(t *testing.T) {
	var confirm, health atomic.Int32
	confirm.Store(http.StatusServiceUnavailable)
	health.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/confirm" {
			w.WriteHeader(int(confirm.Load()))
			return
		}
		w.WriteHeader(int(health.Load()))
	}))
	defer srv.Close()
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("hooks", 10, 50, 100)
	p.Webhooks = []Webhook{
		{Name: "qa", Type: WebhookConfirmPromotion, URL: srv.URL + "/confirm"},
		{Name: "slo", Type: WebhookRollback, URL: srv.URL + "/slo"},
	}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.traffic(p, 10, 0.01, 0.01)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Step, "a 503 from confirm-promotion holds")
	confirm.Store(http.StatusOK)
	h.traffic(p, 2, 0.01, 0.01)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Step)
	health.Store(http.StatusInternalServerError)
	h.traffic(p, 2, 0.01, 0.01)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State)
	assert.Contains(t, st.Outcome, "webhook slo")
}

func TestDriverTakeover(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		second := h.controller("driver-2")
		p := testPlan("takeover", 10, 50, 100)
		_, err := h.c.Start(ctx, p, "alice")
		require.NoError(t, err)
		require.True(t, h.tick(h.c, time.Second))
		require.False(t, h.tick(second, 0), "one driver at a time")
		h.traffic(p, 4, 0.01, 0.01)
		driver, err := second.Driver(ctx)
		require.NoError(t, err)
		assert.Equal(t, "driver-1", driver)

		// driver-1 dies: no more ticks of it. Before the lease lapses the
		// second waits; after, it drives from the stored state.
		h.clock.advance(DefaultLease / 2)
		require.False(t, h.tick(second, 0))
		h.clock.advance(DefaultLease)
		require.True(t, h.tick(second, 0))
		h.c = second
		h.traffic(p, 60, 0.01, 0.01)
		st, err := second.Status(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, StatePromoted, st.State)
		// The steps were taken once each: no step re-run by the new driver.
		assert.Equal(t, "started driver step driver step step promoted", h.kinds(p.ID))
	})
}

func TestRollbackFinishedByTheDriver(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("half", 30, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	// A person's abort decided the rollback and stopped before the store
	// write (the process died): the row says RollingBack.
	r, err := h.c.load(ctx, h.db.DB, p.ID)
	require.NoError(t, err)
	next := *r
	next.State, next.Outcome = StateRollingBack, "carol: bad deploy"
	require.NoError(t, h.c.transition(ctx, r, &next, Event{Kind: EventRollback, Actor: "carol", Reason: "bad deploy"}))
	before, err := h.store.Revision(ctx)
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.tick(h.c, time.Second)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State)
	after, err := h.store.Revision(ctx)
	require.NoError(t, err)
	assert.Equal(t, before+1, after)
	assert.Equal(t, fractional(0), h.flagWeights("checkout-v2"))
	recs, err := h.store.History(ctx, flagstore.Filter{ReleaseID: p.ID, Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, "carol", recs[0].Actor)
}

func TestUnmeasurableReleaseRollsBack(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p := testPlan("blind", 10, 100)
	off := true
	p.Analysis = Analysis{
		ErrorRate: &ErrorRateMetric{Disabled: off}, Latency: &LatencyMetric{Disabled: off},
		Prometheus: []PrometheusMetric{{Name: "errors", Address: dead.URL, Canary: "vector(0)", Max: 0.1}},
	}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	h.traffic(p, 20, 0, 0)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State, "a release that cannot be measured goes back; it never promotes")
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventMeasurement}})
	require.NoError(t, err)
	require.Len(t, evs, 5, "consecutiveErrorLimit 4: the fifth Error decides")
	for _, e := range evs {
		assert.Equal(t, PhaseError, e.Measurement.Phase)
	}
}

func TestInconclusiveLimitPausesOncePerResume(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("doubt", 20, 100)
	p.Analysis = Analysis{InconclusiveLimit: 3, Latency: &LatencyMetric{Disabled: true}}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	// The canary looks worse than the margin allows, without the evidence
	// to fail it yet: inconclusive, measurement after measurement.
	h.traffic(p, 9, 0.05, 0.01)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, StatePaused, st.State, "verdict %+v", st.Verdict)
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventPaused}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, ActorAnalysis, evs[0].Actor)
	require.NotNil(t, evs[0].Measurement)
	assert.Equal(t, PhaseInconclusive, evs[0].Measurement.Phase)

	require.NoError(t, h.c.Resume(ctx, p.ID, "alice", "a person looked"))
	h.traffic(p, 2, 0.05, 0.01)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateProgressing, st.State, "the inconclusive run before the resume does not pause it again")
}

// The store's weights follow the release's record: a step recorded whose
// write did not land (the driver died between the two), or weights changed
// by hand during the release, are written at the driver's next look — and
// a paused release's weights are those of the step it is paused at.
func TestWeightsFollowTheRecord(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("follow", 10, 50, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	require.Equal(t, fractional(10), h.flagWeights("search-v2"))

	_, err = h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "by hand", Edits: []flagstore.Edit{
		flagstore.SetWeights("search-v2", split(p.Flags[1], 40)...)}})
	require.NoError(t, err)
	require.NoError(t, h.c.Pause(ctx, p.ID, "carol", "looking"))
	h.tick(h.c, time.Second)
	assert.Equal(t, fractional(10), h.flagWeights("search-v2"), "back to the paused step's weights")
	assert.Equal(t, fractional(10), h.flagWeights("checkout-v2"))
	recs, err := h.store.History(ctx, flagstore.Filter{ReleaseID: p.ID, Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"search-v2"}, recs[0].Keys, "only the flag that differed is written")
}

// A rollback never fails for a flag someone changed under the release: a
// split replaced by a rule gets a definition serving the baseline, a flag
// deleted is left out; the other flags go back all the same.
func TestRollbackOfFlagsChangedUnderTheRelease(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("changed", 30, 100)
	p.Flags = append(p.Flags, FlagSpec{Key: "other", Baseline: "off", Canary: "on"})
	for i := range p.Steps {
		p.Steps[i].Weights["other"] = p.Steps[i].Weights["search-v2"]
	}
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	_, err = h.store.Apply(ctx, flagstore.Change{Actor: "bob", Reason: "a rule", Edits: []flagstore.Edit{
		flagstore.Put("checkout-v2", []byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on","targeting":{"if":[{"==":[{"var":"tier"},"gold"]},"off","on"]}}`)),
		flagstore.Delete("other"),
	}})
	require.NoError(t, err)
	require.NoError(t, h.c.Abort(ctx, p.ID, "carol", "enough"))
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State)
	assert.Equal(t, fractional(0), h.flagWeights("search-v2"))
	assert.Equal(t, "null", h.flagWeights("checkout-v2"), "the rule is replaced by the baseline for everyone")
	set, err := h.store.Current(ctx)
	require.NoError(t, err)
	docs, err := flagDocs(set)
	require.NoError(t, err)
	assert.Equal(t, "off", docs["checkout-v2"]["defaultVariant"])
	evs, err := h.c.History(ctx, p.ID, HistoryFilter{Kinds: []string{EventRolledBack}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Contains(t, evs[0].Reason, "checkout-v2 had no split a release can move")
	assert.Contains(t, evs[0].Reason, "other is no longer in the store")
}

// A promote for a step the analysis has left already is refused: it would
// skip the next step unjudged.
func TestPromoteStepRefusesAnotherStep(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("steps", 10, 50, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	require.ErrorIs(t, h.c.PromoteStep(ctx, p.ID, 1, "bob", "early"), ErrNotAllowed, "no step yet")
	h.tick(h.c, time.Second)
	var st Status
	for range 20 { // until the analysis takes step 1 → 2
		h.traffic(p, 1, 0.01, 0.01)
		if st, err = h.c.Status(ctx, p.ID); err != nil || st.Step == 1 {
			break
		}
	}
	require.NoError(t, err)
	require.Equal(t, 1, st.Step)
	err = h.c.PromoteStep(ctx, p.ID, 1, "bob", "step 1 looked fine")
	require.ErrorIs(t, err, ErrConflict)
	assert.Contains(t, err.Error(), "on step 2, not step 1")
	require.NoError(t, h.c.PromoteStep(ctx, p.ID, 2, "bob", "step 2 looks fine"))
	h.tick(h.c, 0)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Step)
}

func TestStatusRedactsThePlansSecrets(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("secret", 10)
	p.Webhooks = []Webhook{{Name: "chat", Type: WebhookConfirmPromotion, URL: "https://bot:pw@hooks.example.com/services/T0/B0/s3cr3t?token=abc"}}
	p.Analysis.Prometheus = []PrometheusMetric{{Name: "errs", Address: "https://reader:pw@prom.example.com:9090", Canary: "vector(0)", Max: 1}}
	st, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	assert.Equal(t, "https://hooks.example.com/REDACTED", st.Plan.Webhooks[0].URL)
	assert.Equal(t, "https://prom.example.com:9090", st.Plan.Analysis.Prometheus[0].Address)
	assert.Contains(t, p.Webhooks[0].URL, "s3cr3t", "the caller's plan is not changed")
	r, err := h.c.load(ctx, h.db.DB, p.ID)
	require.NoError(t, err)
	assert.Contains(t, r.Plan.Webhooks[0].URL, "token=abc", "the stored plan keeps what the driver needs")
}

// failingWriter is a flag store whose writes fail.
type failingWriter struct{ *flagstore.Store }

func (failingWriter) Apply(context.Context, flagstore.Change) (flagstore.Result, error) {
	return flagstore.Result{}, errors.New("database is read-only")
}

func TestAbortWhoseWriteFailsIsFinishedByTheDriver(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t))
	ctx := context.Background()
	p := testPlan("pending", 20, 100)
	_, err := h.c.Start(ctx, p, "alice")
	require.NoError(t, err)
	h.tick(h.c, time.Second)
	broken, err := NewController(h.db.DB, h.db.Dialect, failingWriter{h.store}, nil, WithClock(h.clock.now))
	require.NoError(t, err)
	err = broken.Abort(ctx, p.ID, "carol", "pager")
	require.ErrorIs(t, err, ErrRollbackPending)
	st, err := h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRollingBack, st.State)
	assert.Equal(t, fractional(20), h.flagWeights("search-v2"), "not written yet")
	h.tick(h.c, time.Second)
	st, err = h.c.Status(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRolledBack, st.State)
	assert.Equal(t, fractional(0), h.flagWeights("search-v2"))
}

// The driver deletes every instance's samples past the retention, those of
// instances long gone included, and keeps the recent ones.
func TestDriverPrunesOldSamples(t *testing.T) {
	h := newHarness(t, testdb.NewSQLite(t), WithSampleRetention(time.Hour))
	ctx := context.Background()
	require.NoError(t, h.c.ensure(ctx))
	h.sample("old", "checkout-v2", "gone-instance", 10, 0, 10, 0, time.Millisecond)
	h.clock.advance(2 * time.Hour)
	h.sample("old", "checkout-v2", "live-instance", 10, 0, 10, 0, time.Millisecond)
	h.tick(h.c, time.Second)
	var instances []string
	rows, err := h.db.QueryContext(ctx, `SELECT DISTINCT instance FROM `+tableSamples)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		instances = append(instances, s)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"live-instance"}, instances)
	_, err = NewController(h.db.DB, h.db.Dialect, h.store, nil, WithSampleRetention(time.Second))
	require.Error(t, err, "a retention shorter than a minute")
}
