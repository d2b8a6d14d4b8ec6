package release

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Status is a release as the database holds it, with its verdict so far.
type Status struct {
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	State   State  `json:"state"`
	// Step is the current step, 0-based; -1 before the first step's
	// weights were written. Steps is how many the plan has.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Weights are the canary percentages of the plan's flags now: those of
	// the step, and 0 once the release is rolled back.
	Weights map[string]int `json:"weights"`
	// AwaitingApproval is set when the current step waits for a promote.
	AwaitingApproval bool      `json:"awaitingApproval,omitempty"`
	StepStarted      time.Time `json:"stepStarted"`
	Started          time.Time `json:"started"`
	StartedBy        string    `json:"startedBy"`
	Updated          time.Time `json:"updated"`
	Ended            time.Time `json:"ended,omitzero"`
	// Outcome is who decided the rollback and why; empty otherwise.
	Outcome string `json:"outcome,omitempty"`
	// Revision is the flag store revision of the release's last change.
	Revision int64 `json:"revision"`
	// Driver is the instance that holds the lease, or "" when none does
	// (no Controller runs: nothing moves the release).
	Driver string `json:"driver"`
	// Latest is the latest measurement of each metric (and flag) in the
	// current step.
	Latest []Measurement `json:"latest"`
	// Verdict is [Judge]'s verdict on the attempt's measurements.
	Verdict Verdict `json:"verdict"`
	// Plan is the release's plan, with the credentials of its webhook
	// URLs and Prometheus addresses left out (see [Plan.Redacted]): a
	// status is for people who may not read them.
	Plan *Plan `json:"plan"`
}

// Status returns the release id's status; [ErrNotFound] when there is none.
func (c *Controller) Status(ctx context.Context, id string) (Status, error) {
	if err := c.ensure(ctx); err != nil {
		return Status{}, err
	}
	r, err := c.load(ctx, c.db, id)
	if err != nil {
		return Status{}, fmt.Errorf("release: status: %w", err)
	}
	driver, err := c.Driver(ctx)
	if err != nil {
		return Status{}, err
	}
	return c.status(ctx, r, driver)
}

// status is r's Status, with driver the lease holder (read once for a
// list).
func (c *Controller) status(ctx context.Context, r *record, driver string) (Status, error) {
	evs, err := c.events(ctx, r.ID, r.Attempt, 0, EventMeasurement)
	if err != nil {
		return Status{}, err
	}
	return statusOf(r, driver, measurementsOf(evs)), nil
}

// statusOf is r's Status from ms, the measurements of its attempt.
func statusOf(r *record, driver string, ms []Measurement) Status {
	s := Status{
		ID: r.ID, Attempt: r.Attempt, State: r.State, Step: r.Step, Steps: len(r.Plan.Steps), Weights: r.weights(),
		StepStarted: r.StepStarted, Started: r.Started, StartedBy: r.StartedBy, Updated: r.Updated, Ended: r.Ended,
		Outcome: r.Outcome, Revision: r.Revision, Driver: driver, Plan: r.Plan.Redacted(),
		Verdict: Judge(r.Plan, r.Step, ms), Latest: latest(ms, r.Step),
	}
	if r.State == StateRolledBack {
		// The flags are back on their baselines: no canary is served.
		s.Weights = stepWeights(r.Plan, -1)
	}
	s.AwaitingApproval = !r.State.Terminal() && r.awaitingApproval()
	return s
}

// awaitingApproval says whether the current step is one the plan's
// approval lists and no one has promoted it yet.
func (r *record) awaitingApproval() bool {
	if r.Step < 0 || r.ApprovedStep >= r.Step {
		return false
	}
	for _, n := range r.Plan.Approval.Steps {
		if n == r.Step+1 {
			return true
		}
	}
	return false
}

func measurementsOf(evs []Event) []Measurement {
	ms := make([]Measurement, 0, len(evs))
	for _, e := range evs {
		if e.Measurement != nil {
			ms = append(ms, *e.Measurement)
		}
	}
	return ms
}

// latest returns the last measurement of each metric and flag in step.
func latest(ms []Measurement, step int) []Measurement {
	type key struct{ metric, flag string }
	idx := map[key]int{}
	var out []Measurement
	for _, m := range ms {
		if m.Step != step {
			continue
		}
		k := key{m.Metric, m.Flag}
		if i, ok := idx[k]; ok {
			out[i] = m
			continue
		}
		idx[k] = len(out)
		out = append(out, m)
	}
	return out
}

// List returns the status of every release, the ones not over first, then
// by start, newest first.
func (c *Controller) List(ctx context.Context) ([]Status, error) {
	recs, driver, err := c.records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(recs))
	for _, r := range recs {
		s, err := c.status(ctx, r, driver)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// records reads every release in the order of List, and the lease
// holder.
func (c *Controller) records(ctx context.Context) ([]*record, string, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, "", err
	}
	rows, err := c.db.QueryContext(ctx, `SELECT `+releaseColumns+` FROM `+tableReleases+` ORDER BY ended_ms <> 0, started_ms DESC, id`)
	if err != nil {
		return nil, "", fmt.Errorf("release: list: %w", err)
	}
	var recs []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("release: list: %w", err)
		}
		recs = append(recs, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, "", fmt.Errorf("release: list: %w", err)
	}
	driver, err := c.Driver(ctx)
	if err != nil {
		return nil, "", err
	}
	return recs, driver, nil
}

// HistoryFilter narrows [Controller.History].
type HistoryFilter struct {
	// Attempt keeps one attempt's events; 0: every attempt.
	Attempt int
	// After keeps the events after the one with this id (for paging and
	// following); 0: from the first.
	After int64
	// Kinds keeps the events of these kinds; empty: every kind.
	Kinds []string
}

// History returns the ledger of the release id, oldest first.
func (c *Controller) History(ctx context.Context, id string, f HistoryFilter) ([]Event, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	if _, err := c.load(ctx, c.db, id); err != nil {
		return nil, fmt.Errorf("release: history: %w", err)
	}
	return c.events(ctx, id, f.Attempt, f.After, f.Kinds...)
}

// Redacted returns a copy of p without the secrets a URL may carry: the
// user, password and query of every webhook URL and Prometheus address,
// and the path of webhook URLs (where chat and incident services put
// their tokens), which read "/REDACTED".
func (p *Plan) Redacted() *Plan {
	q := *p
	q.Webhooks = slices.Clone(p.Webhooks)
	for i := range q.Webhooks {
		q.Webhooks[i].URL = redactURL(q.Webhooks[i].URL, true)
	}
	q.Analysis.Prometheus = slices.Clone(p.Analysis.Prometheus)
	for i := range q.Analysis.Prometheus {
		q.Analysis.Prometheus[i].Address = redactURL(q.Analysis.Prometheus[i].Address, false)
	}
	return &q
}

func redactURL(s string, path bool) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unreadable URL)"
	}
	u.User = nil
	if path && (u.Path != "" && u.Path != "/" || u.RawQuery != "") {
		u.Path, u.RawPath = "/REDACTED", ""
	}
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
