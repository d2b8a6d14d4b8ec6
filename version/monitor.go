package version

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rollsafe/rollsafe/internal/tick"
)

// Monitor negotiates with the peers a [Discovery] finds, again and again, and
// serves the latest outcome as a readiness check ([Monitor.Check]). Its
// goroutine runs from [Monitor.Start] until the context given to Start ends
// or [Monitor.Close] is called.
type Monitor struct {
	checker   *Checker
	discovery Discovery

	mu      sync.Mutex
	report  Report
	rounds  int
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewMonitor returns a Monitor for self; nothing runs until Start or
// Negotiate. See [NewChecker] for self; every option applies here, and
// [WithInterval] and [WithObserver] only here. The interval is timed by the
// runtime clock: tests of a Monitor's rounds run inside testing/synctest
// bubbles (or call [Monitor.Negotiate] themselves).
func NewMonitor(self Manifest, d Discovery, opts ...MonitorOption) (*Monitor, error) {
	if d == nil {
		return nil, errors.New("version: monitor: nil discovery")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c, err := newChecker(self, cfg)
	if err != nil {
		return nil, err
	}
	return &Monitor{checker: c, discovery: d, report: Report{Self: c.Self()}}, nil
}

// Startup is the one call a service makes in main: it negotiates with the
// peers d finds, applies the policy ([WithPolicy], default [Refuse]) and
// returns an [*IncompatibleError] with the reasons when the policy refuses —
// main should print it and exit non-zero. When the policy passes it returns
// a started Monitor, whose Check method is the readiness check; Close it
// when the service stops. ctx bounds the start-up negotiation only.
func Startup(ctx context.Context, self Manifest, d Discovery, opts ...MonitorOption) (*Monitor, error) {
	m, err := NewMonitor(self, d, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := m.Negotiate(ctx); err != nil {
		return nil, err
	}
	if err := m.Start(context.Background()); err != nil {
		return nil, err
	}
	return m, nil
}

// Self returns the monitor's own manifest, resolved: what it serves and
// negotiates with, release id included.
func (m *Monitor) Self() Manifest { return m.checker.Self() }

// Checker returns the monitor's checker (its own manifest, cache and policy).
func (m *Monitor) Checker() *Checker { return m.checker }

// Negotiate runs one round now: discovery, negotiation, policy. It stores the
// report for Check and returns it with the policy's verdict (nil when
// accepted). A discovery failure is returned, wrapped, and leaves the
// previous report in place; under [Warn] it is only logged.
func (m *Monitor) Negotiate(ctx context.Context) (Report, error) {
	cfg := m.checker.cfg
	peers, err := m.discovery.Peers(ctx)
	if err != nil {
		err = fmt.Errorf("version: find peers of %s: %w", m.checker.Self().Service, err)
		m.mu.Lock()
		r := m.report
		m.mu.Unlock()
		if cfg.policy == Warn {
			cfg.logger.Warn("version: discovery failed", "err", err)
			return r, nil
		}
		return r, err
	}
	r := m.checker.Negotiate(ctx, peers)
	if err := ctx.Err(); err != nil {
		// Cancelled peers read as unreachable: keep the last real report.
		return r, fmt.Errorf("version: negotiate: %w", err)
	}
	m.mu.Lock()
	m.report = r
	m.rounds++
	m.mu.Unlock()
	verdict := m.checker.Evaluate(r)
	cfg.logger.Debug("version: negotiated", "service", r.Self.Service, "peers", len(r.Peers),
		"incompatible", r.Count(Incompatible), "unreachable", r.Count(Unreachable))
	return r, verdict
}

// Report returns the latest round's report (Peers empty before the first).
func (m *Monitor) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.report
}

// Check is the readiness check: it fails, with an [*IncompatibleError], when
// the latest round found a peer incompatible, under the [Refuse] and
// [Quorum] policies. Unreachable and invalid peers do not fail it: one
// peer's outage would otherwise take every dependent out of rotation.
// Under [Warn] it never fails. It does no I/O.
func (m *Monitor) Check(context.Context) error {
	cfg := m.checker.cfg
	if cfg.policy == Warn {
		return nil
	}
	r := m.Report()
	var problems []string
	for _, p := range r.Peers {
		if p.Verdict == Incompatible {
			for _, why := range p.Reasons {
				problems = append(problems, fmt.Sprintf("%s %s at %s: %s", p.Service, p.Version, p.Source, why))
			}
		}
	}
	if problems == nil {
		return nil
	}
	return &IncompatibleError{Policy: cfg.policy, Report: r, Problems: problems}
}

// Start runs a round at once (unless one has run already, as in [Startup])
// and then one per interval ([WithInterval]) on a goroutine of its own, until ctx ends or Close is called. Starting twice,
// or after Close, is an error.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return fmt.Errorf("version: monitor: start: %w", ErrClosed)
	case m.started:
		return errors.New("version: monitor: already started")
	}
	m.started = true
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	first := m.rounds == 0
	go m.loop(ctx, first)
	return nil
}

func (m *Monitor) loop(ctx context.Context, first bool) {
	defer close(m.done)
	if first {
		m.round(ctx)
	}
	tick.Every(ctx, m.checker.cfg.interval, m.round)
}

func (m *Monitor) round(ctx context.Context) {
	r, err := m.Negotiate(ctx)
	if ctx.Err() != nil {
		return // stopping: this round's report is an artefact of cancellation
	}
	if err != nil {
		m.checker.cfg.logger.Warn("version: negotiation refused", "err", err)
	}
	if obs := m.checker.cfg.observer; obs != nil {
		obs(r, err)
	}
}

// Close stops the goroutine and waits for it to end. Check keeps answering
// from the last report. Close is idempotent.
func (m *Monitor) Close() error {
	m.mu.Lock()
	m.closed = true
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
