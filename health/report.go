package health

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// CheckResult is the latest result of one check.
type CheckResult struct {
	// Name is the name the check was registered under.
	Name string
	// Key is its key in the body's "checks": "NAME" or "NAME:MEASUREMENT".
	Key string
	// ComponentType and ComponentID are those of [WithComponentType] and
	// [WithComponentID]; empty when not set.
	ComponentType, ComponentID string
	// Critical is false for a check registered with [NonCritical].
	Critical bool
	// Status is Pass when the check returned nil, else Fail for a critical
	// check and Warn for a non-critical one.
	Status Status
	// ObservedValue and ObservedUnit are those of the [Result] of a measured
	// check; nil and empty otherwise.
	ObservedValue any
	ObservedUnit  string
	// Output is the error text when the check failed, else [Result.Output].
	Output string
	// Err is what the check returned, or wraps [ErrTimeout], [ErrPanic],
	// [ErrNotRun], [ErrClosed] or [ErrDraining]; nil when it passed.
	Err error
	// Time is when the result was obtained; Duration how long the run took.
	Time     time.Time
	Duration time.Duration
}

// Report is what an endpoint reports, as Go values.
type Report struct {
	// Kind is the kind of report: the endpoint it is served at.
	Kind Kind
	// Status is the worst status among Checks, or Pass without checks.
	Status Status
	// ServiceID, Version, ReleaseID, Description and Notes are those given
	// to [New]; empty when not set.
	ServiceID, Version, ReleaseID, Description string
	Notes                                      []string
	// Output says why the instance is draining; empty otherwise.
	Output string
	// Checks holds a result per check of the kind, sorted by name, after a
	// [DrainingCheck] entry while the Checker drains (readiness and All).
	Checks []CheckResult
}

// Check runs the checks of kind (or serves their cached or background
// results) and reports on them, with every detail. It waits at most the
// longest timeout among the checks, or until ctx is done: checks still
// running then are reported as failed. A kind other than [Liveness],
// [Readiness] and [All] reports as All.
func (c *Checker) Check(ctx context.Context, kind Kind) Report {
	kind = kind.orAll()
	g := c.getGathered()
	defer c.putGathered(g)
	c.gather(ctx, kind, nil, g)
	return c.report(kind, g)
}

// Latest reports the latest result of each check of kind, as [Checker.Check]
// would, but runs nothing and never waits: a check that has not run yet is
// reported failed with [ErrNotRun] and a zero Time. Status-change listeners
// and watchers call it to follow the checks without causing runs of their
// own. A kind other than [Liveness], [Readiness] and [All] reports as All.
func (c *Checker) Latest(kind Kind) Report {
	kind = kind.orAll()
	g := c.getGathered()
	defer c.putGathered(g)
	c.begin(kind, g)
	for _, k := range c.checks.Load().of(kind) {
		o := k.last.Load()
		if o == nil {
			o = c.newOutcome(k, Result{}, ErrNotRun, time.Time{}, 0)
		}
		g.outs = append(g.outs, o)
	}
	g.conclude()
	return c.report(kind, g)
}

// report copies g into a Report that outlives g.
func (c *Checker) report(kind Kind, g *gathered) Report {
	rep := Report{
		Kind: kind, Status: g.status,
		ServiceID: c.cfg.serviceID, Version: c.cfg.version, ReleaseID: c.cfg.releaseID,
		Description: c.cfg.description, Notes: slices.Clone(c.cfg.notes),
		Checks: make([]CheckResult, 0, len(g.outs)),
	}
	if g.draining {
		rep.Output = ErrDraining.Error()
	}
	for _, o := range g.outs {
		rep.Checks = append(rep.Checks, o.result)
	}
	return rep
}

// CheckOne runs one check (or serves its cached or background result) and
// returns its result. It returns an error wrapping [ErrUnknownCheck] for a
// name never registered.
func (c *Checker) CheckOne(ctx context.Context, name string) (CheckResult, error) {
	c.mu.Lock()
	k := c.byName[name]
	c.mu.Unlock()
	if k == nil {
		return CheckResult{}, fmt.Errorf("%w: %q", ErrUnknownCheck, name)
	}
	o, r := c.acquire(k, c.cfg.clock())
	if r != nil {
		o = c.wait(ctx, k, r)
	}
	return o.result, nil
}

// Names returns the names of the registered checks of kind, sorted.
func (c *Checker) Names(kind Kind) []string {
	checks := c.checks.Load().of(kind.orAll())
	names := make([]string, len(checks))
	for i, k := range checks {
		names[i] = k.name
	}
	return names
}

// gathered holds the outcomes of one report; pooled, so that serving cached
// results allocates little.
type gathered struct {
	outs     []*outcome
	pending  []pending
	unknown  []string
	status   Status
	draining bool
	buf      []byte
}

type pending struct {
	i int
	k *check
	r *run
}

func (c *Checker) getGathered() *gathered {
	if g, ok := c.pool.Get().(*gathered); ok {
		return g
	}
	return &gathered{buf: make([]byte, 0, 1024)}
}

func (c *Checker) putGathered(g *gathered) {
	if cap(g.buf) > 64<<10 {
		return // keep one huge body from pinning memory
	}
	clear(g.outs)
	clear(g.pending)
	g.outs, g.pending, g.unknown, g.buf = g.outs[:0], g.pending[:0], g.unknown[:0], g.buf[:0]
	c.pool.Put(g)
}

// gather collects the outcomes of kind's checks, starting every run it needs
// before waiting for any, so that the wait is the longest run, not their sum.
func (c *Checker) gather(ctx context.Context, kind Kind, exclude []string, g *gathered) {
	checks := c.checks.Load().of(kind)
	c.begin(kind, g)
	now := c.cfg.clock()
	for _, k := range checks {
		if len(exclude) > 0 && slices.Contains(exclude, k.name) {
			continue
		}
		o, r := c.acquire(k, now)
		if r != nil {
			g.pending = append(g.pending, pending{i: len(g.outs), k: k, r: r})
		}
		g.outs = append(g.outs, o)
	}
	for _, p := range g.pending {
		g.outs[p.i] = c.wait(ctx, p.k, p.r)
	}
	g.conclude()
	for _, name := range exclude {
		if !slices.ContainsFunc(checks, func(k *check) bool { return k.name == name }) {
			g.unknown = append(g.unknown, name)
		}
	}
}

// begin starts a report of kind in g with the draining entry, when the
// Checker drains and the kind reports it.
func (c *Checker) begin(kind Kind, g *gathered) {
	g.draining = kind != Liveness && c.draining.Load()
	if g.draining {
		g.outs = append(g.outs, c.drainOut)
	}
}

// conclude sets the report's status: the worst of its entries, Pass without
// any.
func (g *gathered) conclude() {
	g.status = Pass
	for _, o := range g.outs {
		g.status = max(g.status, o.result.Status)
	}
}
