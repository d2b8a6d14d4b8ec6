package health

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Result is what a measured check reports besides passing or failing.
type Result struct {
	// ObservedValue is the reading, encoded as JSON ("observedValue"): a
	// number, a string, a bool or anything encoding/json accepts. Nil leaves
	// it out.
	ObservedValue any
	// ObservedUnit is the unit of the reading ("observedUnit"), such as "ms",
	// "%" or "connections".
	ObservedUnit string
	// Output is shown when the check passes; when it fails the error text is
	// shown instead.
	Output string
}

// check is one registered check and the state of its runs.
type check struct {
	name  string
	key   string // "component:measurement"
	fn    func(context.Context) (Result, error)
	cfg   checkConfig
	attrs attribute.Set

	mu       sync.Mutex
	inflight *run // the run whose function has not returned; at most one

	last atomic.Pointer[outcome] // the latest result, read without locks
}

// run is one call of a check's function. It is resolved once: when the
// function returns or when its timeout expires, whichever comes first.
type run struct {
	done     chan struct{} // closed when resolved
	settled  chan struct{} // closed when whoever resolved it has told the listeners
	returned chan struct{} // closed when the function has returned and the run is over
	out      *outcome
	resolved bool // guarded by check.mu
	started  time.Time
}

// runSet holds the runs whose goroutine has not ended, so that Close can wait
// for them. Once closed it starts no run.
type runSet struct {
	mu     sync.Mutex
	closed bool
	live   map[*run]*check
}

// add records r, or reports false when the set is closed.
func (s *runSet) add(r *run, k *check) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.live == nil {
		s.live = map[*run]*check{}
	}
	s.live[r] = k
	return true
}

func (s *runSet) remove(r *run) {
	s.mu.Lock()
	delete(s.live, r)
	s.mu.Unlock()
	close(r.returned)
}

// close refuses later runs and returns those still live.
func (s *runSet) close() map[*run]*check {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return maps.Clone(s.live)
}

// outcome is a resolved result with its rendered JSON entries, so that
// serving a cached result costs no encoding.
type outcome struct {
	result   CheckResult
	full     []byte // `"key":[{...}]` with every detail
	withheld []byte // `"key":[{"status":...}]`
}

// acquire returns a fresh result, or the run to wait for. It never blocks on
// the check's function.
func (c *Checker) acquire(k *check, now time.Time) (*outcome, *run) {
	if o := k.last.Load(); o != nil && k.fresh(o, now) {
		return o, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if o := k.last.Load(); o != nil && k.fresh(o, now) {
		return o, nil
	}
	if k.inflight == nil && !c.startRun(k) {
		// Closed: the function may use what the service has released
		// since, so it is not called again.
		return c.newOutcome(k, Result{}, ErrClosed, now, 0), nil
	}
	return nil, k.inflight
}

// fresh reports whether o may be served without running the check.
func (k *check) fresh(o *outcome, now time.Time) bool {
	if k.cfg.interval > 0 {
		return true
	}
	return k.cfg.ttl > 0 && now.Sub(o.result.Time) < k.cfg.ttl
}

// wait returns the outcome of r, or a failure if ctx ends first. r resolves
// by its check's timeout at the latest.
func (c *Checker) wait(ctx context.Context, k *check, r *run) *outcome {
	select {
	case <-r.done:
		return r.out
	default:
	}
	select {
	case <-r.done:
		return r.out
	case <-ctx.Done():
		return c.newOutcome(k, Result{}, fmt.Errorf("probe gave up: %w", ctx.Err()), c.cfg.clock(), 0)
	}
}

// startRun starts a run of k and makes it k's inflight run, or reports
// false after Close. It is called with k.mu held.
func (c *Checker) startRun(k *check) bool {
	r := &run{
		done: make(chan struct{}), settled: make(chan struct{}), returned: make(chan struct{}),
		started: c.cfg.clock(),
	}
	if !c.runs.add(r, k) {
		return false
	}
	k.inflight = r
	ctx, cancel := context.WithTimeout(c.base, k.cfg.timeout)
	// The run resolves at its deadline even when the function ignores ctx.
	stop := context.AfterFunc(ctx, func() { c.finish(ctx, k, r, Result{}, nil, false) })
	go func() {
		defer c.runs.remove(r)
		defer cancel()
		res, err := call(ctx, k.fn)
		if !stop() {
			// The deadline resolved the run: let it finish telling the
			// listeners, so that the run ends after everything it caused.
			<-r.settled
		}
		c.finish(ctx, k, r, res, err, true)
	}()
	return true
}

// call runs fn, turning a panic into an error wrapping ErrPanic.
func call(ctx context.Context, fn func(context.Context) (Result, error)) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return fn(ctx)
}

// finish resolves r if nothing resolved it yet; ctx is the run's. returned
// says whether the function has returned, which frees the check for its next
// run.
func (c *Checker) finish(ctx context.Context, k *check, r *run, res Result, err error, returned bool) {
	var change *StatusChange
	var out *outcome
	k.mu.Lock()
	if returned && k.inflight == r {
		k.inflight = nil
	}
	if !r.resolved {
		now := c.cfg.clock()
		if cerr := ctx.Err(); cerr != nil {
			// Timed out or closed: whatever the function said came too late.
			res, err = Result{}, ErrClosed
			if errors.Is(cerr, context.DeadlineExceeded) {
				err = fmt.Errorf("%w after %s", ErrTimeout, k.cfg.timeout)
			}
		}
		out = c.newOutcome(k, res, err, now, now.Sub(r.started))
		r.out, r.resolved = out, true
		if old := k.last.Swap(out); old == nil || old.result.Status != out.result.Status {
			change = &StatusChange{Check: k.name, New: out.result.Status, Time: now}
			if old != nil {
				change.Old = old.result.Status
			}
		}
	}
	k.mu.Unlock()
	if out == nil {
		return
	}
	// Metrics first, so that a caller who got the result finds it recorded;
	// listeners after, so that a slow one delays no probe.
	c.metrics.observe(context.Background(), k, out)
	close(r.done)
	if out.result.Err != nil && errors.Is(out.result.Err, ErrPanic) {
		c.cfg.logger.Error("health: check panicked", "check", k.name, "error", out.result.Err)
	}
	if change != nil {
		c.cfg.logger.Info("health: check status changed", "check", k.name,
			"old", change.Old.String(), "new", change.New.String())
		c.emit(*change)
	}
	close(r.settled)
}

// loop runs a background check at once and then every interval until ctx is
// done. A run still hanging at the next tick is not started again.
func (c *Checker) loop(ctx context.Context, k *check) {
	t := time.NewTicker(k.cfg.interval)
	defer t.Stop()
	for {
		k.mu.Lock()
		if k.inflight == nil && !c.startRun(k) {
			k.mu.Unlock()
			return // closed
		}
		r := k.inflight
		k.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
