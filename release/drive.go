package release

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
)

// driving is what the driver remembers of a release between ticks. All of
// it can be rebuilt from the database: a driver that takes over reads the
// measurements back and goes on.
type driving struct {
	attempt   int
	lastEvent int64         // the last measurement event read
	ms        []Measurement // the attempt's stored measurements, oldest first
	measured  time.Time     // when the last measurement was taken
	hold      string        // the key of the last hold recorded
	webhooks  map[string]string
	// The last answer of the confirm-promotion gates, and when.
	confirmAt               time.Time
	confirmName, confirmWhy string
	confirmRollback         bool
	span                    trace.Span
	spanStep                int
}

func (c *Controller) driving(r *record) *driving {
	d, ok := c.drive[r.ID]
	if !ok || d.attempt != r.Attempt {
		if ok && d.span != nil {
			d.span.End()
		}
		d = &driving{attempt: r.Attempt, webhooks: map[string]string{}, spanStep: -2}
		c.drive[r.ID] = d
	}
	return d
}

// stopDriving forgets what the driver remembered, ending its spans: the
// lease is lost, or Run returns.
func (c *Controller) stopDriving() {
	for id, d := range c.drive {
		if d.span != nil {
			d.span.End()
		}
		delete(c.drive, id)
	}
}

// pruneEvery is how often the driver deletes the samples older than the
// retention.
const pruneEvery = time.Hour

// driveAll looks at every release that is not over, and now and then
// deletes old samples.
func (c *Controller) driveAll(ctx context.Context) {
	if now := c.cfg.now(); now.Sub(c.pruned) >= pruneEvery {
		if _, err := c.db.ExecContext(ctx, c.d.Rebind(`DELETE FROM `+tableSamples+` WHERE end_ms < ?`), now.Add(-c.cfg.retention).UnixMilli()); err != nil {
			c.cfg.logger.Warn("release: delete old samples", "err", err)
		} else {
			c.pruned = now
		}
	}
	recs, err := c.active(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.cfg.logger.Warn("release: read the releases", "err", err)
		}
		return
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.ID] = true
		// Renewed now, the lease outlasts this look: the look is cut off
		// two ticks before it could lapse, counted from before the renewal.
		renewed := time.Now()
		if held, err := c.acquire(ctx); err != nil || !held {
			return
		}
		lookCtx, cancel := context.WithDeadline(ctx, renewed.Add(c.cfg.lease-2*c.cfg.tick))
		err := c.driveOne(lookCtx, r)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, errStale) {
			c.cfg.logger.Warn("release: drive", "release", r.ID, "err", err)
		}
	}
	for id, d := range c.drive {
		if !seen[id] {
			if d.span != nil {
				d.span.End()
			}
			delete(c.drive, id)
		}
	}
}

// driveOne takes one look at r: measures when a measurement is due,
// judges, and takes the step, the hold, the pause or the rollback that
// the verdict calls for.
func (c *Controller) driveOne(ctx context.Context, r *record) error {
	d := c.driving(r)
	if d.lastEvent == 0 {
		// A driver's first look at this attempt (a start, or a takeover):
		// the ledger says who drives from here.
		next := *r
		if err := c.transition(ctx, r, &next, Event{Kind: EventDriver, Actor: c.cfg.id, Step: r.Step,
			Reason: "drives the release from step " + stepName(r.Step)}); err != nil {
			return err
		}
		c.note(r, d, EventDriver, "driving", attribute.String("instance", c.cfg.id))
	}
	if err := c.catchUp(ctx, r, d); err != nil {
		return err
	}
	if r.State == StateRollingBack {
		return c.finishRollback(ctx, r)
	}
	p := r.Plan.WithDefaults()
	now := c.cfg.now()
	c.stepSpan(r, d)
	if r.Step < 0 {
		if r.State == StatePaused {
			return nil
		}
		if why, err := c.fleetMissing(ctx, p); err != nil {
			return err
		} else if why != "" {
			return c.hold(ctx, r, d, p, now, "fleet", why)
		}
		reason := "first step"
		if p.Requires != "" {
			reason = "every live instance meets " + p.Requires
		}
		return c.advance(ctx, r, d, p, 0, ActorAnalysis, reason)
	}
	if err := c.reconcile(ctx, r, p, ActorAnalysis, ""); errors.Is(err, errHeld) {
		return nil // the look ends with the hold (or the timeout it led to)
	} else if err != nil {
		return err
	}
	if now.Sub(d.measured) >= p.Analysis.Interval.D() {
		if err := c.measure(ctx, r, d, p, now); err != nil {
			return err
		}
	}
	v := Judge(r.Plan, r.Step, d.ms)
	if v.Outcome == VerdictFail || v.Outcome == VerdictError {
		c.note(r, d, EventRollback, v.Reason)
		return c.rollback(ctx, r, ActorAnalysis, v.Reason, v.Decisive)
	}
	for name, why := range d.webhooks {
		if wh := webhookNamed(p, name); wh != nil && wh.Type == WebhookRollback && wh.OnFailure == WebhookRollback {
			reason := "webhook " + name + ": " + why
			c.note(r, d, EventRollback, reason)
			return c.rollback(ctx, r, ActorAnalysis, reason, nil)
		}
	}
	if r.State == StatePaused {
		return nil
	}
	if v.Outcome == VerdictPause {
		// The inconclusive run that pauses must be the step's own since it
		// began or was resumed: a person who resumed has seen the earlier one.
		if since := Judge(r.Plan, r.Step, measuredSince(d.ms, r.StepStarted)); since.Outcome == VerdictPause {
			return c.pause(ctx, r, d, since.Reason, since.Decisive)
		}
	}
	if r.ApprovedStep >= r.Step {
		return c.advance(ctx, r, d, p, r.Step+1, ActorAnalysis, fmt.Sprintf("step %d promoted by a person", r.Step+1))
	}
	if v.Outcome != VerdictPass {
		return c.hold(ctx, r, d, p, now, "analysis", v.Reason)
	}
	for name, why := range d.webhooks {
		if wh := webhookNamed(p, name); wh != nil && wh.Type == WebhookRollback {
			return c.hold(ctx, r, d, p, now, "webhook:"+name, "webhook "+name+": "+why)
		}
	}
	if bake := p.Steps[r.Step].Bake.D(); now.Sub(r.StepStarted) < bake {
		return c.hold(ctx, r, d, p, now, "bake", fmt.Sprintf("step %d bakes for %v", r.Step+1, bake))
	}
	if r.awaitingApproval() {
		return c.hold(ctx, r, d, p, now, "approval", fmt.Sprintf("step %d waits for a promote", r.Step+1))
	}
	// A confirm-promotion gate that said no is asked again once an
	// interval, not at every tick.
	if now.Sub(d.confirmAt) >= p.Analysis.Interval.D() || d.confirmName == "" {
		callCtx, cancel := c.callContext(ctx)
		d.confirmName, d.confirmWhy, d.confirmRollback = c.confirm(callCtx, r, p)
		cancel()
		d.confirmAt = now
	}
	if name, why, rollback := d.confirmName, d.confirmWhy, d.confirmRollback; name != "" {
		reason := "webhook " + name + ": " + why
		if rollback {
			c.note(r, d, EventRollback, reason)
			return c.rollback(ctx, r, ActorAnalysis, reason, nil)
		}
		return c.hold(ctx, r, d, p, now, "webhook:"+name, reason)
	}
	return c.advance(ctx, r, d, p, r.Step+1, ActorAnalysis, fmt.Sprintf("step %d judged: %s", r.Step+1, v.Reason))
}

// catchUp reads the measurements stored since the driver last looked:
// its own, and on a takeover every one of the attempt.
func (c *Controller) catchUp(ctx context.Context, r *record, d *driving) error {
	evs, err := c.events(ctx, r.ID, r.Attempt, d.lastEvent, EventMeasurement)
	if err != nil {
		return err
	}
	for _, e := range evs {
		d.lastEvent = e.ID
		if e.Measurement != nil {
			d.ms = append(d.ms, *e.Measurement)
			if e.Measurement.At.After(d.measured) {
				d.measured = e.Measurement.At
			}
		}
	}
	if d.lastEvent == 0 {
		d.lastEvent = -1 // read once: nothing stored yet
	}
	return nil
}

// fleetMissing says why the fleet is not ready for the first step (an
// instance that does not meet the plan's Requires), or "".
func (c *Controller) fleetMissing(ctx context.Context, p *Plan) (string, error) {
	if p.Requires == "" {
		return "", nil
	}
	cons, err := parseConstraint(p.Requires)
	if err != nil {
		return "", err
	}
	list, err := c.instances.List(ctx)
	if err != nil {
		return "", fmt.Errorf("read the fleet registry: %w", err)
	}
	if len(list) == 0 {
		return "no live instance in the fleet registry", nil
	}
	var behind []string
	for _, in := range list {
		if !meets(cons, in) {
			behind = append(behind, in.ID+" ("+in.Version+")")
		}
	}
	if len(behind) > 0 {
		return fmt.Sprintf("%d of %d live instances do not meet %s: %v", len(behind), len(list), p.Requires, behind), nil
	}
	return "", nil
}

func meets(cons constraint, in fleet.Instance) bool {
	v, err := parseVersion(in.Version)
	return err == nil && cons.Check(v)
}

// measure takes one measurement of every metric and asks the rollback
// webhooks, and stores the measurements.
func (c *Controller) measure(ctx context.Context, r *record, d *driving, p *Plan, now time.Time) error {
	step := p.Steps[r.Step]
	var ms []Measurement
	for _, f := range p.Flags {
		w, err := querySamples(ctx, c.db, c.d, r.ID, f.Key, r.StepStarted, now)
		w.CanaryOnly = step.Weights[f.Key] >= 100
		for _, metric := range builtinMetrics(p.Analysis) {
			var m Measurement
			switch {
			case err != nil:
				m = Measurement{Metric: metric.name, Flag: f.Key, At: now, Phase: PhaseError, Critical: metric.critical,
					Reason: "read the samples: " + err.Error()}
			case metric.name == MetricErrorRate:
				m = MeasureErrorRate(*metric.errorRate, w, step.MinSamples, now)
			default:
				m = MeasureLatency(*metric.latency, w, step.MinSamples, now)
			}
			m.Step = r.Step
			ms = append(ms, m)
		}
	}
	// Outside calls end a tick before the look does, so that what they
	// answered (or that they did not) is stored within the look: a server
	// that hangs is an Error measurement, counted toward the limit.
	callCtx, cancel := c.callContext(ctx)
	defer cancel()
	for _, pm := range p.Analysis.Prometheus {
		ms = append(ms, MeasurePrometheus(callCtx, pm, c.cfg.client, r.Step, now))
	}
	var events []Event
	for i := range ms {
		events = append(events, Event{Kind: EventMeasurement, Actor: ActorAnalysis, Step: r.Step, At: now,
			Reason: ms[i].Reason, Measurement: &ms[i]})
	}
	for _, wh := range p.Webhooks {
		if wh.Type != WebhookRollback {
			continue
		}
		why := c.call(callCtx, wh, r)
		if why != d.webhooks[wh.Name] {
			reason := "passes"
			if why != "" {
				reason = why
			}
			events = append(events, Event{Kind: EventWebhook, Actor: wh.Name, Step: r.Step, At: now, Reason: reason})
		}
		if why == "" {
			delete(d.webhooks, wh.Name)
		} else {
			d.webhooks[wh.Name] = why
		}
	}
	next := *r
	if err := c.transition(ctx, r, &next, events...); err != nil {
		return err
	}
	d.measured = now
	return c.catchUp(ctx, r, d)
}

type builtin struct {
	name      string
	critical  bool
	errorRate *ErrorRateMetric
	latency   *LatencyMetric
}

// builtinMetrics are the analysis's built-in metrics that are on.
func builtinMetrics(a Analysis) []builtin {
	var out []builtin
	er := ErrorRateMetric{}
	if a.ErrorRate != nil {
		er = *a.ErrorRate
	}
	if !er.Disabled {
		out = append(out, builtin{name: MetricErrorRate, critical: er.Critical, errorRate: &er})
	}
	lm := LatencyMetric{}
	if a.Latency != nil {
		lm = *a.Latency
	}
	if !lm.Disabled {
		out = append(out, builtin{name: MetricLatency, critical: lm.Critical, latency: &lm})
	}
	return out
}

// hold records why the step does not advance (when the reason changed) and
// applies the plan's timeout: a step that held longer than StepTimeout
// after its bake pauses or rolls back. Waiting for an approval never times
// out: it is a person's gate.
func (c *Controller) hold(ctx context.Context, r *record, d *driving, p *Plan, now time.Time, key, reason string) error {
	if r.State == StatePaused {
		// A person holds it already; its timeout starts again at Resume.
	} else if key != "approval" && r.Step >= 0 {
		deadline := r.StepStarted.Add(p.Steps[r.Step].Bake.D() + p.StepTimeout.D())
		if now.After(deadline) {
			why := fmt.Sprintf("step %d held for %v past its bake: %s", r.Step+1, p.StepTimeout.D(), reason)
			if p.OnTimeout == TimeoutRollback {
				c.note(r, d, EventRollback, why)
				return c.rollback(ctx, r, ActorAnalysis, why, nil)
			}
			return c.pause(ctx, r, d, why, nil)
		}
	} else if key == "fleet" {
		if deadline := r.StepStarted.Add(p.StepTimeout.D()); now.After(deadline) {
			return c.pause(ctx, r, d, fmt.Sprintf("held for %v before the first step: %s", p.StepTimeout.D(), reason), nil)
		}
	}
	if d.hold == key {
		return nil
	}
	next := *r
	if err := c.transition(ctx, r, &next, Event{Kind: EventHold, Actor: ActorAnalysis, Step: r.Step, Reason: reason}); err != nil {
		return err
	}
	d.hold = key
	c.note(r, d, EventHold, reason)
	return nil
}

func (c *Controller) pause(ctx context.Context, r *record, d *driving, reason string, decisive *Measurement) error {
	if r.State == StatePaused {
		return nil
	}
	next := *r
	next.State = StatePaused
	if err := c.transition(ctx, r, &next, Event{Kind: EventPaused, Actor: ActorAnalysis, Step: r.Step, Reason: reason, Measurement: decisive}); err != nil {
		return err
	}
	c.note(r, d, EventPaused, reason)
	c.cfg.logger.Warn("release: paused", "release", r.ID, "reason", reason)
	return nil
}

// advance writes the weights of step next (or, past the last step, marks
// the release promoted). The write is conditional on the store's revision
// read after the release row was checked unchanged: a rollback decided
// meanwhile always lands after it, never under it.
func (c *Controller) advance(ctx context.Context, r *record, d *driving, p *Plan, next int, actor, reason string) error {
	if next >= len(p.Steps) {
		done := *r
		done.State = StatePromoted
		if err := c.transition(ctx, r, &done, Event{Kind: EventPromoted, Actor: actor, Step: r.Step, Reason: reason, Revision: r.Revision}); err != nil {
			return err
		}
		c.note(r, d, EventPromoted, reason)
		c.endStep(r.ID, "promoted")
		c.cfg.logger.Info("release: promoted", "release", r.ID)
		return nil
	}
	// Movable now? Checked before the step is recorded: a flag someone
	// changed meanwhile holds the step rather than recording weights that
	// cannot be written.
	set, err := c.store.Current(ctx)
	if err != nil {
		return fmt.Errorf("read the flag store: %w", err)
	}
	to := stepWeights(p, next)
	if _, err := edits(set, p, to); err != nil {
		return c.hold(ctx, r, d, p, c.cfg.now(), "flag", err.Error())
	}
	// The step is recorded first and its weights written after, by
	// reconcile: a pause or an abort that lands in between finds the
	// record at the new step, and the weights follow the record (or the
	// abort's baselines), never the other way round.
	n := *r
	n.State, n.Step, n.StepStarted = StateProgressing, next, c.cfg.now()
	if err := c.transition(ctx, r, &n, Event{Kind: EventStep, Actor: actor, Step: next, Reason: reason,
		WeightsBefore: stepWeights(p, next-1), WeightsAfter: to}); err != nil {
		return err
	}
	c.note(r, d, EventStep, reason, attribute.Int("step", next+1))
	c.endStep(r.ID, "")
	d.hold = ""
	c.cfg.logger.Info("release: step", "release", r.ID, "step", next+1, "weights", to)
	if err := c.reconcile(ctx, r, p, actor, fmt.Sprintf("release %s, step %d of %d: %s", r.ID, next+1, len(p.Steps), reason)); !errors.Is(err, errHeld) {
		return err
	}
	return nil
}

// errHeld ends a look: reconcile could not write a flag's weights and held
// the step (or, past its timeout, paused or rolled it back).
var errHeld = errors.New("held")

// reconcile writes into the store the weights r's step gives its flags,
// where the store has others: right after a step is recorded, and at every
// look, so that a write that failed (the store out of reach, a lost race)
// is made later. The write is conditional on the store's revision read
// before r's row was checked unchanged: a rollback decided meanwhile lands
// after it, never under it.
func (c *Controller) reconcile(ctx context.Context, r *record, p *Plan, actor, reason string) error {
	if r.Step < 0 || (r.State != StateProgressing && r.State != StatePaused) {
		return nil
	}
	set, err := c.store.Current(ctx)
	if err != nil {
		return fmt.Errorf("read the flag store: %w", err)
	}
	rev := set.Revision()
	docs, err := flagDocs(set)
	if err != nil {
		return err
	}
	want := r.weights()
	var es []flagstore.Edit
	for _, f := range p.Flags {
		if hasSplit(set, docs, f.Key, split(f, want[f.Key])) {
			continue
		}
		e, err := edit(set, docs, f, want[f.Key])
		if err != nil {
			if herr := c.hold(ctx, r, c.driving(r), p, c.cfg.now(), "flag", err.Error()); herr != nil {
				return herr
			}
			return errHeld
		}
		es = append(es, e)
	}
	if len(es) == 0 {
		return nil
	}
	fresh, err := c.load(ctx, c.db, r.ID)
	if err != nil {
		return err
	}
	if fresh.Generation != r.Generation {
		return errStale
	}
	if reason == "" {
		reason = fmt.Sprintf("release %s, step %d of %d: the weights the release is at", r.ID, r.Step+1, len(p.Steps))
	}
	res, err := c.store.Apply(ctx, flagstore.Change{Actor: actor, Reason: reason, ReleaseID: r.ID, Base: &rev, Edits: es})
	if errors.Is(err, flagstore.ErrConflict) {
		return errStale // another change landed between the read and the write: next look
	}
	if err != nil {
		return fmt.Errorf("write step %d's weights: %w", r.Step+1, err)
	}
	n := *r
	n.Revision = res.Revision
	return c.transition(ctx, r, &n)
}

// hasSplit says whether the flag key's fractional split has weights
// already, wherever the split is in its targeting: setting them again
// would change nothing.
func hasSplit(set *flags.Set, docs map[string]map[string]any, key string, weights []flags.Weight) bool {
	next, err := set.WithWeights(key, weights)
	if err != nil {
		return false
	}
	after, err := flagDocs(next)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(docs[key]["targeting"], after[key]["targeting"])
}

// stepSpan starts the span of the step r is on, ending the previous one.
func (c *Controller) stepSpan(r *record, d *driving) {
	if d.span != nil && d.spanStep == r.Step {
		return
	}
	if d.span != nil {
		d.span.End()
	}
	_, d.span = c.cfg.tracer.Start(context.Background(), "release.step", trace.WithAttributes(
		attribute.String("rollsafe.release.id", r.ID), attribute.Int("rollsafe.release.attempt", r.Attempt),
		attribute.Int("rollsafe.release.step", r.Step+1), attribute.Int("rollsafe.release.steps", len(r.Plan.Steps))))
	d.spanStep = r.Step
}

// note adds a decision to the current step's span.
func (c *Controller) note(r *record, d *driving, kind, reason string, attrs ...attribute.KeyValue) {
	if d.span == nil {
		return
	}
	d.span.AddEvent("release."+kind, trace.WithAttributes(append(attrs, attribute.String("reason", reason))...))
	if kind == EventRollback {
		d.span.SetStatus(codes.Error, reason)
	}
}

// endStep ends the span of the release's step.
func (c *Controller) endStep(id, outcome string) {
	d, ok := c.drive[id]
	if !ok || d.span == nil {
		return
	}
	if outcome != "" {
		d.span.SetAttributes(attribute.String("rollsafe.release.outcome", outcome))
	}
	d.span.End()
	d.span = nil
}

// stepName is the step as people count it, or "start" before the first.
func stepName(step int) string {
	if step < 0 {
		return "start"
	}
	return fmt.Sprint(step + 1)
}

// measuredSince returns the measurements taken at or after t.
func measuredSince(ms []Measurement, t time.Time) []Measurement {
	i := len(ms)
	for i > 0 && !ms[i-1].At.Before(t) {
		i--
	}
	return ms[i:]
}

// callContext bounds an outside call (a webhook, a Prometheus query) to end
// a tick before the look does.
func (c *Controller) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-c.cfg.tick))
	}
	return context.WithCancel(ctx)
}
