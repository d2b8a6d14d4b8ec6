package release

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/dbtx"
)

// Start records a release of p, started by actor, for the driver to take
// its first step: once every live instance meets p.Requires, the first
// step's weights are written. It refuses (with the reason) an invalid
// plan ([ErrInvalidPlan]), a flag that is not in the store or that a
// release cannot move ([ErrFlag]), a release with p's id that is running,
// and a flag that another running release moves ([*FlagInUseError]; both
// [ErrConflict]). A release that is over may be started again: its attempt
// number goes up and its ledger goes on.
func (c *Controller) Start(ctx context.Context, p *Plan, actor string) (Status, error) {
	if p == nil {
		return Status{}, errors.New("release: start: nil plan")
	}
	if err := p.Validate(); err != nil {
		return Status{}, fmt.Errorf("release: start: %w", err)
	}
	if actor == "" {
		return Status{}, fmt.Errorf("release %q: start: %w", p.ID, ErrNoActor)
	}
	if p.Requires != "" && c.instances == nil {
		return Status{}, fmt.Errorf("release %q: start: the plan requires %q of every instance, and the controller has no registry to check it", p.ID, p.Requires)
	}
	if err := c.ensure(ctx); err != nil {
		return Status{}, err
	}
	set, err := c.store.Current(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("release %q: start: read the flag store: %w", p.ID, err)
	}
	// Every flag must be movable now, or the first step would fail later.
	if _, err := edits(set, p, stepWeights(p, 0)); err != nil {
		return Status{}, fmt.Errorf("release %q: start: %w", p.ID, err)
	}
	before, err := definitions(set, p)
	if err != nil {
		return Status{}, fmt.Errorf("release %q: start: %w", p.ID, err)
	}
	planJSON, err := json.Marshal(p)
	if err != nil {
		return Status{}, fmt.Errorf("release %q: start: %w", p.ID, err)
	}
	now := c.cfg.now()
	err = dbtx.RetryBusy(ctx, c.d, func() error {
		return dbtx.InTx(ctx, c.db, func(tx *sql.Tx) error {
			return c.startTx(ctx, tx, p, string(planJSON), before, actor, now)
		})
	})
	if err != nil {
		if holder := c.flagHolder(ctx, p); holder != nil && !errors.Is(err, ErrConflict) {
			err = holder
		}
		return Status{}, fmt.Errorf("release %q: start: %w", p.ID, err)
	}
	c.cfg.logger.Info("release: started", "release", p.ID, "actor", actor)
	return c.Status(ctx, p.ID)
}

func (c *Controller) startTx(ctx context.Context, tx *sql.Tx, p *Plan, planJSON string, before []byte, actor string, now time.Time) error {
	attempt := 1
	prev, err := c.load(ctx, tx, p.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	case !prev.State.Terminal():
		return fmt.Errorf("release %q is %s: %w", p.ID, prev.State, ErrConflict)
	default:
		attempt = prev.Attempt + 1
	}
	if holder := c.flagHolderTx(ctx, tx, p); holder != nil {
		return holder
	}
	for _, f := range p.Flags {
		if _, err := tx.ExecContext(ctx, c.d.Rebind(`INSERT INTO `+tableReleaseFlags+` (flag_key, release_id) VALUES (?, ?)`), f.Key, p.ID); err != nil {
			return err
		}
	}
	ms := now.UnixMilli()
	args := []any{attempt, planJSON, string(StateProgressing), -1, ms, -1, ms, clip(actor, MaxIDLen), ms, 0, 0, "", string(before)}
	if attempt == 1 {
		_, err = tx.ExecContext(ctx, c.d.Rebind(`INSERT INTO `+tableReleases+` (`+releaseColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`), append([]any{p.ID}, args...)...)
	} else {
		_, err = tx.ExecContext(ctx, c.d.Rebind(`UPDATE `+tableReleases+` SET attempt = ?, plan = ?, state = ?, step = ?,
			step_started_ms = ?, approved_step = ?, generation = generation + 1, started_ms = ?, started_by = ?,
			updated_ms = ?, ended_ms = ?, revision = ?, outcome = ?, before_doc = ? WHERE id = ?`), append(args, p.ID)...)
	}
	if err != nil {
		return err
	}
	r := &record{ID: p.ID, Attempt: attempt}
	reason := p.Description
	if reason == "" {
		reason = "release started"
	}
	return c.appendEvents(ctx, tx, r, []Event{{Kind: EventStarted, Actor: actor, Reason: reason, Step: -1, At: now}})
}

// flagHolder returns the error naming the running release that holds one
// of p's flags, or nil.
func (c *Controller) flagHolder(ctx context.Context, p *Plan) error {
	return c.flagHolderTx(ctx, c.db, p)
}

func (c *Controller) flagHolderTx(ctx context.Context, q dbtx.Execer, p *Plan) error {
	for _, f := range p.Flags {
		if holder, err := c.holderOf(ctx, q, f.Key); err == nil && holder != "" {
			return &FlagInUseError{Flag: f.Key, Release: holder}
		}
	}
	return nil
}

// FlagHolder returns the id of the release not over that moves the flag
// key, or "" when none does. Someone about to change a flag by hand (a
// drill, a kill) asks first: the release owns its flags until it ends and
// would write its weights back.
func (c *Controller) FlagHolder(ctx context.Context, key string) (string, error) {
	if err := c.ensure(ctx); err != nil {
		return "", err
	}
	holder, err := c.holderOf(ctx, c.db, key)
	if err != nil {
		return "", fmt.Errorf("release: the release of flag %q: %w", key, err)
	}
	return holder, nil
}

// holderOf reads the release that holds key in tableReleaseFlags; "" for
// none.
func (c *Controller) holderOf(ctx context.Context, q dbtx.Execer, key string) (string, error) {
	var holder string
	err := q.QueryRowContext(ctx, c.d.Rebind(`SELECT release_id FROM `+tableReleaseFlags+` WHERE flag_key = ?`), key).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return holder, err
}

// act applies a person's change to the release id: change edits a copy of
// the stored record and returns the events to record, or an error. A
// change that lost a race with the driver is tried again on the new row.
func (c *Controller) act(ctx context.Context, op, id, actor, reason string, change func(r, next *record) ([]Event, error)) error {
	if actor == "" || reason == "" {
		return fmt.Errorf("release %q: %s: %w", id, op, ErrNoActor)
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		r, err := c.load(ctx, c.db, id)
		if err != nil {
			return fmt.Errorf("release: %s: %w", op, err)
		}
		if r.State.Terminal() || r.State == StateRollingBack {
			return fmt.Errorf("release %q: %s: it is %s: %w", id, op, r.State, ErrNotActive)
		}
		next := *r
		events, err := change(r, &next)
		if err != nil {
			return fmt.Errorf("release %q: %s: %w", id, op, err)
		}
		if events == nil {
			return nil // nothing to change
		}
		err = c.transition(ctx, r, &next, events...)
		if !errors.Is(err, errStale) || attempt == 10 {
			if err == nil {
				c.cfg.logger.Info("release: "+op, "release", id, "actor", actor, "reason", reason)
			}
			return err
		}
	}
}

// Promote vouches for the release's current step: the driver takes the
// next step at its next tick whatever the analysis still waits for (bake
// time, samples, an approval), unless the analysis has failed. A paused
// release resumes. When the plan lists promoters, actor must be one of
// them ([ErrNotAllowed]). Promote vouches for whatever step is current
// when it lands; [Controller.PromoteStep] for the step a person looked at.
func (c *Controller) Promote(ctx context.Context, id, actor, reason string) error {
	return c.PromoteStep(ctx, id, 0, actor, reason)
}

// PromoteStep is Promote for step (1-based, as people count them) only: if
// the release has moved on to another step meanwhile — the analysis took
// it — it is refused with [ErrConflict], so that a person's judgement of
// one step never skips the next. step 0 promotes the current step,
// whichever it is.
func (c *Controller) PromoteStep(ctx context.Context, id string, step int, actor, reason string) error {
	return c.act(ctx, "promote", id, actor, reason, func(r, next *record) ([]Event, error) {
		if ps := r.Plan.Approval.Promoters; len(ps) > 0 && !slices.Contains(ps, actor) {
			return nil, fmt.Errorf("%q is not among the plan's promoters %v: %w", actor, ps, ErrNotAllowed)
		}
		if r.Step < 0 {
			why := "has not taken its first step yet"
			if r.Plan.Requires != "" {
				why = fmt.Sprintf("waits for every instance to meet %q, which a promote cannot skip", r.Plan.Requires)
			}
			return nil, fmt.Errorf("the release %s: %w", why, ErrNotAllowed)
		}
		if step != 0 && step != r.Step+1 {
			return nil, fmt.Errorf("the release is on step %d, not step %d: look at step %d before promoting it: %w", r.Step+1, step, r.Step+1, ErrConflict)
		}
		next.ApprovedStep = r.Step
		next.State = StateProgressing
		return []Event{{Kind: EventPromote, Actor: actor, Reason: reason, Step: r.Step}}, nil
	})
}

// Pause stops the release where it is: no step is taken until Resume or
// Promote. The analysis goes on, and still rolls back on failure. Pausing
// a paused release changes nothing.
func (c *Controller) Pause(ctx context.Context, id, actor, reason string) error {
	return c.act(ctx, "pause", id, actor, reason, func(r, next *record) ([]Event, error) {
		if r.State == StatePaused {
			return nil, nil
		}
		next.State = StatePaused
		return []Event{{Kind: EventPaused, Actor: actor, Reason: reason, Step: r.Step}}, nil
	})
}

// Resume goes on with a paused release; the current step's bake time and
// timeout start again. Resuming a release that is not paused changes
// nothing.
func (c *Controller) Resume(ctx context.Context, id, actor, reason string) error {
	return c.act(ctx, "resume", id, actor, reason, func(r, next *record) ([]Event, error) {
		if r.State != StatePaused {
			return nil, nil
		}
		next.State = StateProgressing
		next.StepStarted = c.cfg.now()
		return []Event{{Kind: EventResumed, Actor: actor, Reason: reason, Step: r.Step}}, nil
	})
}

// Abort rolls the release back now: every flag of the plan to its
// baseline in one change of the flag store, whatever step it was on. The
// release is RolledBack when Abort returns nil. If the flag store cannot be
// written, the release stays RollingBack and the driver finishes the
// rollback; the error wraps [ErrRollbackPending].
func (c *Controller) Abort(ctx context.Context, id, actor, reason string) error {
	if actor == "" || reason == "" {
		return fmt.Errorf("release %q: abort: %w", id, ErrNoActor)
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	r, err := c.load(ctx, c.db, id)
	if err != nil {
		return fmt.Errorf("release: abort: %w", err)
	}
	if r.State.Terminal() {
		return fmt.Errorf("release %q: abort: it is %s: %w", id, r.State, ErrNotActive)
	}
	return c.rollback(ctx, r, actor, reason, nil)
}

// rollback decides the rollback of r (unless decided already) and writes
// it: every flag of the plan to its baseline in one store change, the
// release id on it; then the release is RolledBack.
func (c *Controller) rollback(ctx context.Context, r *record, actor, reason string, decisive *Measurement) error {
	for attempt := 0; r.State != StateRollingBack; attempt++ {
		if r.State.Terminal() {
			return fmt.Errorf("release %q: rollback: it is %s: %w", r.ID, r.State, ErrNotActive)
		}
		next := *r
		next.State = StateRollingBack
		next.Outcome = clip(actor+": "+reason, 4096)
		err := c.transition(ctx, r, &next, Event{Kind: EventRollback, Actor: actor, Reason: reason, Step: r.Step,
			WeightsBefore: r.weights(), Measurement: decisive})
		if errors.Is(err, errStale) && attempt < 10 {
			if r, err = c.load(ctx, c.db, r.ID); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return c.finishRollback(ctx, r)
}

// finishRollback writes the baseline weights of a release that is
// RollingBack and records it RolledBack. Run twice (its writer stopped
// half-way, the driver finishing), the store write changes nothing the
// second time.
func (c *Controller) finishRollback(ctx context.Context, r *record) error {
	set, err := c.store.Current(ctx)
	if err != nil {
		return fmt.Errorf("release %q: %w: read the flag store (the driver will try again): %w", r.ID, ErrRollbackPending, err)
	}
	es, notes, err := rollbackEdits(set, r.Plan)
	if err != nil {
		return fmt.Errorf("release %q: %w: %w", r.ID, ErrRollbackPending, err)
	}
	res := flagstore.Result{Revision: set.Revision()}
	if len(es) > 0 {
		res, err = c.store.Apply(ctx, flagstore.Change{
			Actor: clip(strings.SplitN(r.Outcome, ": ", 2)[0], MaxIDLen), Reason: "rollback of release " + r.ID + ": " + r.Outcome,
			ReleaseID: r.ID, Edits: es,
		})
		if err != nil {
			return fmt.Errorf("release %q: %w: write the baselines (the driver will try again): %w", r.ID, ErrRollbackPending, err)
		}
	}
	reason := "every flag of the plan is on its baseline"
	if len(notes) > 0 {
		reason += "; " + strings.Join(notes, "; ")
	}
	for attempt := 0; ; attempt++ {
		next := *r
		next.State = StateRolledBack
		next.Revision = res.Revision
		err := c.transition(ctx, r, &next, Event{Kind: EventRolledBack, Actor: c.cfg.id, Reason: reason, Step: r.Step,
			WeightsBefore: r.weights(), WeightsAfter: stepWeights(r.Plan, -1), Revision: res.Revision})
		if !errors.Is(err, errStale) || attempt == 10 {
			if err == nil {
				c.cfg.logger.Warn("release: rolled back", "release", r.ID, "revision", res.Revision, "outcome", r.Outcome)
			}
			return err
		}
		if r, err = c.load(ctx, c.db, r.ID); err != nil {
			return err
		}
		if r.State == StateRolledBack {
			return nil // another writer finished it
		}
	}
}
