package release

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/internal/dbtx"
	"github.com/rollsafe/rollsafe/internal/textcut"
)

// State is where a release is.
type State string

const (
	// StateProgressing: steps are being taken and judged.
	StateProgressing State = "Progressing"
	// StatePaused: the weights stay where they are and no step is taken
	// until a Resume or a Promote; the analysis still runs, and a Failed
	// verdict still rolls back.
	StatePaused State = "Paused"
	// StateRollingBack: a rollback was decided and is being written; the
	// driver finishes it if its writer stopped half-way.
	StateRollingBack State = "RollingBack"
	// StatePromoted (terminal): every step was taken; the last step's
	// weights stay.
	StatePromoted State = "Promoted"
	// StateRolledBack (terminal): every flag of the plan is back on its
	// baseline. Start the release again to retry.
	StateRolledBack State = "RolledBack"
)

// Terminal says whether the release is over.
func (s State) Terminal() bool { return s == StatePromoted || s == StateRolledBack }

// Event kinds in the ledger ([Event].Kind).
const (
	EventStarted     = "started"     // Start recorded the release
	EventStep        = "step"        // a step's weights were written
	EventMeasurement = "measurement" // a metric was measured (Event.Measurement)
	EventHold        = "hold"        // the step holds, and why (written when the reason changes)
	EventPaused      = "paused"      // by a person, the inconclusive limit or a step timeout
	EventResumed     = "resumed"     // by a person
	EventPromote     = "promote"     // a person vouched for the current step
	EventWebhook     = "webhook"     // a webhook gate did not pass
	EventRollback    = "rollback"    // a rollback was decided (by "analysis" or a person)
	EventRolledBack  = "rolled-back" // the flags are back on their baselines
	EventPromoted    = "promoted"    // the last step was judged; the release is over
	EventDriver      = "driver"      // an instance took the lease and drives the release
)

// ActorAnalysis is the actor of what the analysis decides.
const ActorAnalysis = "analysis"

// Event is one entry of a release's ledger, which is append-only.
type Event struct {
	ID        int64     `json:"id"`
	ReleaseID string    `json:"releaseId"`
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	// Actor is who acted: a person, ActorAnalysis, or the id of the
	// instance that drives.
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	// Step is the step (0-based) the release was on; -1 before the first.
	Step int `json:"step"`
	// WeightsBefore and WeightsAfter are the canary percentages of each
	// flag around a change of weights.
	WeightsBefore map[string]int `json:"weightsBefore,omitempty"`
	WeightsAfter  map[string]int `json:"weightsAfter,omitempty"`
	// Measurement is the measurement recorded, or the one that decided.
	Measurement *Measurement `json:"measurement,omitempty"`
	// Revision is the flag store's revision a change of weights wrote.
	Revision int64 `json:"revision,omitempty"`
}

// record is a row of tableReleases.
type record struct {
	ID          string
	Attempt     int
	Plan        *Plan
	State       State
	Step        int // -1 until the first step's weights are written
	StepStarted time.Time
	// ApprovedStep is the highest step a person promoted; -1 for none.
	ApprovedStep int
	Generation   int64
	Started      time.Time
	StartedBy    string
	Updated      time.Time
	Ended        time.Time
	Revision     int64
	Outcome      string
	Before       json.RawMessage // the plan's flags' definitions at Start
}

// weights is the canary percentage of every flag of the plan at the
// record's step: 0 before the first step.
func (r *record) weights() map[string]int {
	return stepWeights(r.Plan, r.Step)
}

func stepWeights(p *Plan, step int) map[string]int {
	w := map[string]int{}
	for _, f := range p.Flags {
		w[f.Key] = 0
	}
	if step >= 0 && step < len(p.Steps) {
		maps.Copy(w, p.Steps[step].Weights)
	}
	return w
}

const releaseColumns = `id, attempt, plan, state, step, step_started_ms, approved_step, generation,
	started_ms, started_by, updated_ms, ended_ms, revision, outcome, before_doc`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(s scanner) (*record, error) {
	var r record
	var plan, before string
	var stepStarted, started, updated, ended int64
	if err := s.Scan(&r.ID, &r.Attempt, &plan, &r.State, &r.Step, &stepStarted, &r.ApprovedStep, &r.Generation,
		&started, &r.StartedBy, &updated, &ended, &r.Revision, &r.Outcome, &before); err != nil {
		return nil, err
	}
	r.Plan = new(Plan)
	if err := json.Unmarshal([]byte(plan), r.Plan); err != nil {
		return nil, fmt.Errorf("release %q: stored plan: %w", r.ID, err)
	}
	r.StepStarted, r.Started, r.Updated = fromMillis(stepStarted), fromMillis(started), fromMillis(updated)
	if ended > 0 {
		r.Ended = fromMillis(ended)
	}
	r.Before = json.RawMessage(before)
	return &r, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func (c *Controller) load(ctx context.Context, q dbtx.Execer, id string) (*record, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, c.d.Rebind(`SELECT `+releaseColumns+` FROM `+tableReleases+` WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("release %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("release %q: read: %w", id, err)
	}
	return r, nil
}

// active returns the releases that are not over, oldest first.
func (c *Controller) active(ctx context.Context) ([]*record, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT `+releaseColumns+` FROM `+tableReleases+
		` WHERE state IN ('`+string(StateProgressing)+`', '`+string(StatePaused)+`', '`+string(StateRollingBack)+`') ORDER BY started_ms, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// transition writes next, which must be r changed, if the stored row is
// still at r's generation, with events, in one transaction. It returns
// errStale when another writer got there first. When next is terminal the
// release's flags are freed for other releases.
func (c *Controller) transition(ctx context.Context, r, next *record, events ...Event) error {
	err := dbtx.RetryBusy(ctx, c.d, func() error {
		return dbtx.InTx(ctx, c.db, func(tx *sql.Tx) error {
			return c.transitionTx(ctx, tx, r, next, events)
		})
	})
	if err == nil {
		*r = *next
	}
	return err
}

func (c *Controller) transitionTx(ctx context.Context, tx *sql.Tx, r, next *record, events []Event) error {
	now := c.cfg.now()
	next.Generation = r.Generation + 1
	next.Updated = now
	if next.State.Terminal() && next.Ended.IsZero() {
		next.Ended = now
	}
	var ended int64
	if !next.Ended.IsZero() {
		ended = next.Ended.UnixMilli()
	}
	res, err := tx.ExecContext(ctx, c.d.Rebind(`UPDATE `+tableReleases+` SET state = ?, step = ?, step_started_ms = ?,
		approved_step = ?, generation = ?, updated_ms = ?, ended_ms = ?, revision = ?, outcome = ?
		WHERE id = ? AND generation = ? AND state NOT IN ('`+string(StatePromoted)+`', '`+string(StateRolledBack)+`')`),
		string(next.State), next.Step, next.StepStarted.UnixMilli(), next.ApprovedStep, next.Generation,
		now.UnixMilli(), ended, next.Revision, next.Outcome, r.ID, r.Generation)
	if err != nil {
		return fmt.Errorf("release %q: write state: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errStale
	}
	if next.State.Terminal() {
		if _, err := tx.ExecContext(ctx, c.d.Rebind(`DELETE FROM `+tableReleaseFlags+` WHERE release_id = ?`), r.ID); err != nil {
			return fmt.Errorf("release %q: free its flags: %w", r.ID, err)
		}
	}
	return c.appendEvents(ctx, tx, next, events)
}

// appendEvents adds events to the ledger; their release, attempt and time
// are filled in when empty.
func (c *Controller) appendEvents(ctx context.Context, q dbtx.Execer, r *record, events []Event) error {
	for _, e := range events {
		if e.At.IsZero() {
			e.At = c.cfg.now()
		}
		var m string
		if e.Measurement != nil {
			b, err := json.Marshal(e.Measurement)
			if err != nil {
				return err
			}
			m = string(b)
		}
		if _, err := q.ExecContext(ctx, c.d.Rebind(`INSERT INTO `+tableEvents+`
			(release_id, attempt, at_ms, kind, actor, reason, step, weights_before, weights_after, measurement, revision)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, r.Attempt, e.At.UnixMilli(), e.Kind, clip(e.Actor, MaxIDLen), e.Reason, e.Step,
			weightsJSON(e.WeightsBefore), weightsJSON(e.WeightsAfter), m, e.Revision); err != nil {
			return fmt.Errorf("release %q: append %s event: %w", r.ID, e.Kind, err)
		}
	}
	return nil
}

func weightsJSON(w map[string]int) string {
	if w == nil {
		return ""
	}
	b, _ := json.Marshal(w) // a map of strings to ints always encodes
	return string(b)
}

func clip(s string, n int) string { return textcut.Prefix(s, n) }

// events reads the ledger of a release attempt (attempt 0: every attempt)
// in order, after the event with id after.
func (c *Controller) events(ctx context.Context, id string, attempt int, after int64, kinds ...string) ([]Event, error) {
	q := `SELECT id, attempt, at_ms, kind, actor, reason, step, weights_before, weights_after, measurement, revision
		FROM ` + tableEvents + ` WHERE release_id = ? AND id > ?`
	args := []any{id, after}
	if attempt > 0 {
		q += ` AND attempt = ?`
		args = append(args, attempt)
	}
	if len(kinds) > 0 {
		q += ` AND kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	rows, err := c.db.QueryContext(ctx, c.d.Rebind(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("release %q: read events: %w", id, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{ReleaseID: id}
		var at int64
		var before, after, m string
		if err := rows.Scan(&e.ID, &e.Attempt, &at, &e.Kind, &e.Actor, &e.Reason, &e.Step, &before, &after, &m, &e.Revision); err != nil {
			return nil, err
		}
		e.At = fromMillis(at)
		for _, p := range []struct {
			s   string
			dst *map[string]int
		}{{before, &e.WeightsBefore}, {after, &e.WeightsAfter}} {
			if p.s != "" {
				if err := json.Unmarshal([]byte(p.s), p.dst); err != nil {
					return nil, fmt.Errorf("release %q: event %d: %w", id, e.ID, err)
				}
			}
		}
		if m != "" {
			e.Measurement = new(Measurement)
			if err := json.Unmarshal([]byte(m), e.Measurement); err != nil {
				return nil, fmt.Errorf("release %q: event %d: measurement: %w", id, e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
