package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by [New], [Checker.Register], [Checker.Start] and reported
// in the output of failed checks. Callers test them with [errors.Is].
var (
	// ErrNilCheck is returned when a check function is nil.
	ErrNilCheck = errors.New("health: check function is nil")
	// ErrDuplicateCheck is returned when a name is registered twice.
	ErrDuplicateCheck = errors.New("health: check already registered")
	// ErrInvalidName is returned for an empty, malformed or reserved check name.
	ErrInvalidName = errors.New("health: invalid check name")
	// ErrInvalidOption is returned by an option given a value it refuses.
	ErrInvalidOption = errors.New("health: invalid option")
	// ErrUnknownCheck is returned by [Checker.CheckOne] for a name never registered.
	ErrUnknownCheck = errors.New("health: unknown check")
	// ErrStarted is returned by a second call to [Checker.Start].
	ErrStarted = errors.New("health: checker already started")
	// ErrClosed is returned by [Checker.Start] after [Checker.Close], and is
	// the failure of every check run after Close.
	ErrClosed = errors.New("health: checker closed")
	// ErrTimeout is the failure of a check that did not return within its timeout.
	ErrTimeout = errors.New("check timed out")
	// ErrPanic is the failure of a check that panicked.
	ErrPanic = errors.New("check panicked")
	// ErrNotRun is the failure of a background check whose first run has not
	// finished yet.
	ErrNotRun = errors.New("check has not run yet")
	// ErrDraining is the failure reported by the draining entry.
	ErrDraining = errors.New("instance is draining")
)

// DrainingCheck is the name of the entry that readiness reports while the
// Checker drains. No check may be registered under it.
const DrainingCheck = "draining"

// Status is the health of a check or of a whole report, as the IETF health
// check format names it. The zero value is not a valid status and prints as
// "unknown".
type Status uint8

// The statuses, from best to worst.
const (
	// Pass: healthy.
	Pass Status = iota + 1
	// Warn: healthy with a concern, such as a failing non-critical check.
	// Served with HTTP 200.
	Warn
	// Fail: unhealthy. Served with HTTP 503.
	Fail
)

// String returns "pass", "warn", "fail", or "unknown" for the zero value.
func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	case Fail:
		return "fail"
	}
	return "unknown"
}

// MarshalText encodes the status as [Status.String] does.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Kind selects which checks a report runs. Its zero value is not valid.
type Kind uint8

// The kinds of report, one per endpoint.
const (
	// Liveness: is the process itself working? Only checks registered with
	// [LivenessAndReadiness] or [LivenessOnly] take part; with none,
	// liveness passes.
	Liveness Kind = iota + 1
	// Readiness: may the instance take traffic? Every check but those
	// registered with [LivenessOnly], and the draining entry, take part.
	Readiness
	// All: every check, and the draining entry.
	All
)

// String returns "livez", "readyz" or "healthz", the endpoint of the kind.
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "livez"
	case Readiness:
		return "readyz"
	case All:
		return "healthz"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// orAll returns k, or All for a kind other than Liveness, Readiness and All.
func (k Kind) orAll() Kind {
	if k < Liveness || k > All {
		return All
	}
	return k
}

// Checker holds named checks and reports on them, in Go ([Checker.Check]) and
// over HTTP ([Checker.Mount], [Checker.Handler]). It is safe for concurrent use. Background
// checks run only between [Checker.Start] and [Checker.Close]. The zero value
// is not usable: create a Checker with [New].
type Checker struct {
	cfg     config
	metrics *metrics
	meta    []byte // pre-rendered service fields of the JSON body

	// base is the parent of every check run; Close cancels it so that runs
	// still in flight see their ctx done.
	base       context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex // guards the fields below
	byName    map[string]*check
	started   bool
	closed    bool
	loopCtx   context.Context
	stopLoops context.CancelFunc
	overall   Status
	listeners []listener
	nextID    uint64
	loops     sync.WaitGroup

	runs runSet // every run whose function has not returned

	checks      atomic.Pointer[snapshot] // copy-on-write, read without locks
	subscribers atomic.Pointer[[]listener]
	draining    atomic.Bool
	drainOut    *outcome
	pool        sync.Pool // of *gathered
}

type listener struct {
	id uint64
	fn func(StatusChange)
}

// snapshot is the set of registered checks by kind, sorted by name.
type snapshot struct {
	live, ready, all []*check
}

func (s *snapshot) of(k Kind) []*check {
	switch k {
	case Liveness:
		return s.live
	case Readiness:
		return s.ready
	}
	return s.all
}

// New returns a Checker with no checks. Options that are given invalid values
// make New fail with an error wrapping [ErrInvalidOption].
func New(opts ...Option) (*Checker, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(cfg.meterProvider)
	if err != nil {
		return nil, fmt.Errorf("health: metrics: %w", err)
	}
	meta, err := renderMeta(&cfg)
	if err != nil {
		return nil, err
	}
	c := &Checker{cfg: cfg, metrics: m, meta: meta, byName: map[string]*check{}, overall: Pass}
	c.base, c.cancelBase = context.WithCancel(context.Background())
	c.checks.Store(&snapshot{})
	c.subscribers.Store(&[]listener{})
	c.drainOut = c.newOutcome(drainingCheck(), Result{}, ErrDraining, time.Time{}, 0)
	return c, nil
}

// drainingCheck describes the entry that readiness shows while draining.
func drainingCheck() *check {
	return &check{name: DrainingCheck, key: DrainingCheck, cfg: checkConfig{critical: true, kinds: kindReady}}
}

// Register adds a check that passes when fn returns nil. See [CheckOption]
// for timeouts, caching, background runs and the endpoints it serves. A run
// may serve many probes, so fn's ctx carries none of a probe's values; it is
// cancelled at the timeout and by [Checker.Close]. It returns an error
// wrapping [ErrNilCheck], [ErrInvalidName], [ErrDuplicateCheck] or
// [ErrInvalidOption], and registers nothing then.
func (c *Checker) Register(name string, fn func(context.Context) error, opts ...CheckOption) error {
	if fn == nil {
		return fmt.Errorf("%w: %q", ErrNilCheck, name)
	}
	return c.RegisterMeasured(name, func(ctx context.Context) (Result, error) {
		return Result{}, fn(ctx)
	}, opts...)
}

// RegisterMeasured adds a check that reports an observed value and unit (pool
// connections, replication lag) as well as passing or failing. Errors are
// those of [Checker.Register].
func (c *Checker) RegisterMeasured(name string, fn func(context.Context) (Result, error), opts ...CheckOption) error {
	if fn == nil {
		return fmt.Errorf("%w: %q", ErrNilCheck, name)
	}
	if err := validName(name); err != nil {
		return err
	}
	cc := defaultCheckConfig()
	for _, opt := range opts {
		if opt == nil {
			return fmt.Errorf("%w: nil option for check %q", ErrInvalidOption, name)
		}
		if err := opt(&cc); err != nil {
			return fmt.Errorf("check %q: %w", name, err)
		}
	}
	if cc.ttl > 0 && cc.interval > 0 {
		return fmt.Errorf("%w: check %q has both a cache TTL and a background interval", ErrInvalidOption, name)
	}
	k := &check{name: name, fn: fn, cfg: cc, key: name}
	if cc.measurement != "" {
		k.key = name + ":" + cc.measurement
	}
	k.attrs = checkAttrs(name)
	if cc.interval > 0 {
		k.last.Store(c.newOutcome(k, Result{}, ErrNotRun, c.cfg.clock(), 0))
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.byName[name]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateCheck, name)
	}
	for _, other := range c.byName {
		if other.key == k.key {
			return fmt.Errorf("%w: %q has the key %q of check %q", ErrDuplicateCheck, name, k.key, other.name)
		}
	}
	c.byName[name] = k
	old := c.checks.Load()
	next := &snapshot{all: insertSorted(old.all, k), live: old.live, ready: old.ready}
	if cc.kinds&kindLive != 0 {
		next.live = insertSorted(old.live, k)
	}
	if cc.kinds&kindReady != 0 {
		next.ready = insertSorted(old.ready, k)
	}
	c.checks.Store(next)
	if c.started && !c.closed && cc.interval > 0 {
		c.startLoop(k)
	}
	return nil
}

func insertSorted(list []*check, k *check) []*check {
	i, _ := slices.BinarySearchFunc(list, k.name, func(e *check, name string) int {
		switch {
		case e.name < name:
			return -1
		case e.name > name:
			return 1
		}
		return 0
	})
	return slices.Insert(slices.Clone(list), i, k)
}

// validName accepts names that read plainly in a URL query, a log line and a
// "component:measurement" key; "flag:checkout" is a valid name.
func validName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("%w: %q: want 1 to 128 characters", ErrInvalidName, name)
	}
	if name == DrainingCheck {
		return fmt.Errorf("%w: %q is reserved", ErrInvalidName, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == '/' || r == ':'
		if !ok {
			return fmt.Errorf("%w: %q: want letters, digits and - _ . / : only", ErrInvalidName, name)
		}
	}
	return nil
}

// Start runs the background checks (those registered with [WithInterval]),
// each at once and then every interval, until ctx is done or [Checker.Close]
// is called. Checks registered later with an interval start at registration.
// It returns [ErrStarted] on a second call and [ErrClosed] after Close.
func (c *Checker) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return ErrStarted
	}
	c.started = true
	c.loopCtx, c.stopLoops = context.WithCancel(ctx)
	for _, k := range c.checks.Load().all {
		if k.cfg.interval > 0 {
			c.startLoop(k)
		}
	}
	return nil
}

// startLoop is called with c.mu held.
func (c *Checker) startLoop(k *check) {
	c.loops.Add(1)
	go func() {
		defer c.loops.Done()
		c.loop(c.loopCtx, k)
	}()
}

// Close stops the background checks, cancels the ctx of every check still
// running, and waits until everything the Checker started has ended: the
// background loops, every run (whether a probe, [Checker.Check] or a loop
// started it) and the status-change listeners those runs call. After Close no
// check function is called again: on-demand checks fail with [ErrClosed] and
// background checks keep their last result. Close is safe to call more than
// once and always returns nil.
//
// A check that honours its ctx returns soon after the cancel, and Close
// waits for it however long that takes. A check that ignores its ctx cannot
// be stopped: Go has no way to end a goroutine from outside. Close waits for
// such a check at most its timeout ([WithTimeout]) from the moment Close was
// called, logs a warning naming it, and returns; that goroutine alone
// remains, and ends when the function returns. Its result is never used.
func (c *Checker) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	running := c.runs.close()
	c.cancelBase()
	if c.stopLoops != nil {
		c.stopLoops()
	}
	c.mu.Unlock()
	c.loops.Wait()

	start := time.Now()
	for r, k := range running {
		<-r.settled // cancelled: resolved at once, listeners told
		t := time.NewTimer(k.cfg.timeout - time.Since(start))
		select {
		case <-r.returned:
		case <-t.C:
			c.cfg.logger.Warn("health: check ignores its cancelled context; its goroutine outlives Close",
				"check", k.name, "waited", k.cfg.timeout)
		}
		t.Stop()
	}
	return nil
}

// Drain makes readiness (and the overall report) fail at once, with a
// "draining" entry, while liveness keeps passing: call it when shutdown
// begins, or to take an instance out of a load balancer's rotation. Checks
// keep running. It returns whether the Checker was already draining.
func (c *Checker) Drain() bool {
	was := c.draining.Swap(true)
	if !was {
		c.drainChanged(Pass, Fail)
	}
	return was
}

// Undrain ends draining, so that readiness reports the checks again. It
// returns whether the Checker was draining.
func (c *Checker) Undrain() bool {
	was := c.draining.Swap(false)
	if was {
		c.drainChanged(Fail, Pass)
	}
	return was
}

// Draining reports whether [Checker.Drain] is in effect.
func (c *Checker) Draining() bool { return c.draining.Load() }

func (c *Checker) drainChanged(old, new Status) {
	c.cfg.logger.Info("health: draining changed", "draining", new == Fail)
	c.metrics.status(context.Background(), c.metrics.drainAttrs, new)
	c.emit(StatusChange{Check: DrainingCheck, Old: old, New: new, Time: c.cfg.clock()})
}

// StatusChange describes a change of a check's status, or of the overall
// status when Check is "".
type StatusChange struct {
	// Check is the check's name, [DrainingCheck] when draining starts or
	// ends, or "" for the overall status: the worst of the latest results of
	// every check and of draining, as the /healthz endpoint would report them
	// without running anything.
	Check string
	// Old is the status before; the zero Status when the check had no result.
	Old, New Status
	Time     time.Time
}

// OnStatusChange calls fn after every change of a check's status and of the
// overall status (see [StatusChange]). fn is called outside the Checker's
// locks, on the goroutine that observed the change, possibly from several
// goroutines at once; it may call the Checker, but not [Checker.Close],
// which waits for the runs that call fn. The returned func removes fn.
func (c *Checker) OnStatusChange(fn func(StatusChange)) (remove func()) {
	if fn == nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := c.nextID
	c.listeners = append(slices.Clone(c.listeners), listener{id: id, fn: fn})
	list := c.listeners
	c.subscribers.Store(&list)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.listeners = slices.DeleteFunc(slices.Clone(c.listeners), func(l listener) bool { return l.id == id })
		list := c.listeners
		c.subscribers.Store(&list)
	}
}

// emit delivers a change, and the overall change it causes, to the listeners.
// It must be called without locks held.
func (c *Checker) emit(ch StatusChange) {
	c.mu.Lock()
	old := c.overall
	now := c.latestOverall()
	c.overall = now
	c.mu.Unlock()
	list := *c.subscribers.Load()
	for _, l := range list {
		l.fn(ch)
	}
	if old != now {
		c.cfg.logger.Info("health: overall status changed", "old", old.String(), "new", now.String())
		for _, l := range list {
			l.fn(StatusChange{Check: "", Old: old, New: now, Time: ch.Time})
		}
	}
}

// latestOverall aggregates the latest results without running checks.
func (c *Checker) latestOverall() Status {
	s := Pass
	if c.draining.Load() {
		return Fail
	}
	for _, k := range c.checks.Load().all {
		if o := k.last.Load(); o != nil {
			s = max(s, o.result.Status)
		}
	}
	return s
}
