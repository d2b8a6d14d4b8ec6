package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// BooleanEvaluator is the part of an OpenFeature client that a [Switch]
// uses. *openfeature.Client and openfeature.IClient satisfy it. Like those,
// BooleanValueDetails must return the default value and a non-nil error
// when the flag cannot be evaluated.
type BooleanEvaluator interface {
	BooleanValueDetails(ctx context.Context, flag string, defaultValue bool, evalCtx openfeature.EvaluationContext,
		options ...openfeature.Option) (openfeature.BooleanEvaluationDetails, error)
}

var _ BooleanEvaluator = openfeature.IClient(nil)

// Errors of a [Switch]. Each is wrapped, with the flag's key, by the method
// that returns it.
var (
	// ErrSwitchTripped is returned by [Switch.Healthy] while the breaker is
	// open or half-open.
	ErrSwitchTripped = errors.New("switch tripped: old path serving")
	// ErrSwitchKilled is returned by [Switch.Healthy] while the Switch is
	// killed.
	ErrSwitchKilled = errors.New("switch killed: old path serving")
	// ErrNilPath is returned by [Switch.Run] when a path is nil.
	ErrNilPath = errors.New("nil path")
	// ErrNewPathPanicked is matched, through errors.Is, by the
	// [*PanicError] that stands for a panic of the new path.
	ErrNewPathPanicked = errors.New("new path panicked")
)

// PanicError is the error a call of the new path returns when it panicked.
// Run recovers the panic, counts it as a failure of the new path and
// returns a *PanicError (or, with [WithRetryOnOld], the old path's result).
type PanicError struct {
	// Flag is the key of the Switch's flag.
	Flag string
	// Value is what the new path passed to panic.
	Value any
	// Stack is the new path's goroutine stack when it panicked.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("flags: switch %q: new path panicked: %v", e.Flag, e.Value)
}

// Is reports ErrNewPathPanicked as matching.
func (e *PanicError) Is(target error) bool { return target == ErrNewPathPanicked }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// errCallCanceled stands, towards the breaker, for a new-path failure after
// the caller's context was done; the breaker excludes it from its counts.
var errCallCanceled = errors.New("call canceled")

// Switch guards the code path behind one boolean flag: [Switch.Run] calls
// the new path when the flag is on and the old one otherwise, and it sends
// calls back to the old path by itself when the new one fails.
//
// A circuit breaker (sony/gobreaker) counts the new path's calls over a
// sliding window ([WithWindow], default 60s). A call fails when it returns
// an error or panics (the panic is recovered and returned as a
// [*PanicError]); a call that fails after the caller's context is done is
// counted neither way, since the caller gave up, not the code. Once at least
// [WithMinCalls] calls (default 10) have completed in the window and the
// share of failures reaches [WithTripRatio] (default 0.5), the breaker
// trips: every call takes the old path for the cool-down ([WithCoolDown],
// default 30s). Then it is half-open: up to [WithHalfOpenCalls] (default 3)
// trial calls take the new path, the rest the old; that many successes in a
// row close it, one failure opens it for another cool-down.
//
// Fail safe: when the flag cannot be evaluated (provider not ready, flag
// missing, wrong type, ...) the old path runs. The evaluation error is not
// returned by Run, which returns the old path's result as if the flag were
// off, so that callers never see a failure they did not cause; it is counted
// in [SwitchStats].EvaluationErrors and the evaluation_errors metric, and
// logged when evaluation starts failing, when its error code changes and when
// it recovers. The OpenFeature client's own hooks (see [TelemetryHook]) see
// every evaluation error as well.
//
// [Switch.Kill] sends every call to the old path at once, on this instance,
// until [Switch.Revive].
//
// State changes go to the logger ([WithSwitchLogger]), to OpenTelemetry (a
// counter, and an event on the span of the call that observed the change),
// to listeners ([WithStateListener]) and to [Switch.Healthy], a check for a
// health endpoint. Register Healthy as non-critical (warn): a tripped or
// killed Switch means the old path is serving, which is degraded, not down.
//
// Per-path counts (calls, errors, panics, latency) are readable in-process
// with [Switch.Stats], and exported as OpenTelemetry metrics (see
// [MetricSwitchCalls] and the names beside it).
//
// A Switch is safe for concurrent use. Its zero value is not usable: create
// it with [NewSwitch].
type Switch[T any] struct {
	client  BooleanEvaluator
	flag    string
	cfg     switchConfig
	logger  *slog.Logger
	breaker *gobreaker.CircuitBreaker[T]
	metrics *switchMetrics
	events  switchEvents
	// epoch anchors latency measurement: time.Since(epoch) reads only the
	// monotonic clock, which costs less than time.Now on every call.
	epoch time.Time

	killed   atomic.Bool
	counts   *switchCounts
	rejected atomic.Uint64
	retried  atomic.Uint64
	evalErrs atomic.Uint64
	// evalFailing is 0 while evaluation succeeds, else 1 + the index of the
	// last error code in evalCodes: logs are written on changes only.
	evalFailing atomic.Int32
}

var evalCodes = [...]openfeature.ErrorCode{
	openfeature.ProviderNotReadyCode, openfeature.ProviderFatalCode, openfeature.FlagNotFoundCode,
	openfeature.ParseErrorCode, openfeature.TypeMismatchCode, openfeature.TargetingKeyMissingCode,
	openfeature.InvalidContextCode, openfeature.GeneralCode,
}

// NewSwitch returns a Switch over the boolean flag flagKey, evaluated with
// client (an OpenFeature client, bound to whatever provider the caller has
// registered). It returns an error when client is nil, flagKey is empty, or
// an option refuses its argument.
func NewSwitch[T any](client BooleanEvaluator, flagKey string, opts ...SwitchOption) (*Switch[T], error) {
	if client == nil {
		return nil, errors.New("flags: new switch: nil client")
	}
	if flagKey == "" {
		return nil, errors.New("flags: new switch: empty flag key")
	}
	cfg := defaultSwitchConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("flags: new switch %q: nil option", flagKey)
		}
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("flags: new switch %q: %w", flagKey, err)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	counts := &switchCounts{}
	metrics, reg, err := newSwitchMetrics(cfg.meterProvider, flagKey, counts)
	if err != nil {
		return nil, err
	}
	s := &Switch[T]{client: client, flag: flagKey, cfg: cfg, logger: cfg.logger, metrics: metrics, counts: counts, epoch: time.Now()}
	// The meter provider outlives most Switches: the callback that reports
	// the counts goes when the Switch does.
	runtime.AddCleanup(s, func(r metric.Registration) { _ = r.Unregister() }, reg)
	minCalls, ratio := cfg.minCalls, cfg.tripRatio
	s.breaker = gobreaker.NewCircuitBreaker[T](gobreaker.Settings{
		Name:         flagKey,
		MaxRequests:  cfg.halfOpenCalls,
		Interval:     cfg.window,
		BucketPeriod: cfg.window / windowBuckets,
		Timeout:      cfg.coolDown,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := c.TotalSuccesses + c.TotalFailures
			return done >= minCalls && float64(c.TotalFailures) >= ratio*float64(done)
		},
		OnStateChange: s.onBreakerChange,
		// Run hands the breaker errCallCanceled itself, never wrapped.
		IsExcluded: func(err error) bool { return err == errCallCanceled },
	})
	return s, nil
}

// Flag returns the key of the Switch's flag.
func (s *Switch[T]) Flag() string { return s.flag }

// Run evaluates the flag with evalCtx and calls newPath when it is on and
// the Switch lets it (the breaker is closed, or half-open with room for a
// trial, and the Switch is not killed); otherwise it calls oldPath. Each
// path gets ctx. Run returns the result of the path it called, with three
// exceptions: a panic of newPath is returned as a [*PanicError]; with
// [WithRetryOnOld], a failed newPath call is followed by oldPath and its
// result; and a nil path returns [ErrNilPath] without calling either.
// Evaluation errors are not returned (see [Switch]). A panic of oldPath is
// not recovered, as if oldPath were called without a Switch.
func (s *Switch[T]) Run(ctx context.Context, evalCtx openfeature.EvaluationContext,
	newPath, oldPath func(context.Context) (T, error)) (T, error) {
	if newPath == nil || oldPath == nil {
		var zero T
		return zero, fmt.Errorf("flags: switch %q: %w", s.flag, ErrNilPath)
	}
	details, err := s.client.BooleanValueDetails(ctx, s.flag, false, evalCtx)
	if err != nil {
		s.evaluationFailed(ctx, details.ErrorCode, err)
		return s.runOld(ctx, causeEvaluationError, oldPath)
	}
	if s.evalFailing.Load() != 0 {
		s.evaluationRecovered(ctx)
	}
	if !details.Value {
		return s.runOld(ctx, causeFlag, oldPath)
	}
	if s.killed.Load() {
		s.rejected.Add(1)
		return s.runOld(ctx, causeKilled, oldPath)
	}

	var ran bool
	var newErr error
	// Execute's own error says only that the breaker refused the call (ran
	// stays false) or that the call was cancelled (newErr holds the real
	// error).
	v, _ := s.breaker.Execute(func() (T, error) {
		ran = true
		v, err := s.callNew(ctx, newPath)
		newErr = err
		if err != nil && ctx.Err() != nil {
			return v, errCallCanceled
		}
		return v, err
	})
	s.flushEvents(ctx)
	switch {
	case !ran:
		s.rejected.Add(1)
		return s.runOld(ctx, causeBreaker, oldPath)
	case newErr != nil && s.cfg.retryOnOld && ctx.Err() == nil:
		s.retried.Add(1)
		return s.runOld(ctx, causeRetry, oldPath)
	}
	return v, newErr
}

// callNew calls the new path, turns a panic into a *PanicError and counts
// the call.
func (s *Switch[T]) callNew(ctx context.Context, fn func(context.Context) (T, error)) (v T, err error) {
	counts := &s.counts.paths[pathNew]
	timed := counts.begin(causeFlag)
	var start time.Duration
	if timed {
		start = time.Since(s.epoch)
	}
	defer func() {
		r := recover()
		if r != nil {
			var zero T
			v, err = zero, &PanicError{Flag: s.flag, Value: r, Stack: debug.Stack()}
		}
		var d time.Duration
		if timed {
			d = time.Since(s.epoch) - start
		}
		counts.end(timed, d, err != nil, r != nil)
		if timed {
			s.metrics.duration(ctx, pathNew, d)
		}
	}()
	return fn(ctx)
}

func (s *Switch[T]) runOld(ctx context.Context, cause callCause, fn func(context.Context) (T, error)) (T, error) {
	counts := &s.counts.paths[pathOld]
	timed := counts.begin(cause)
	var start, d time.Duration
	if timed {
		start = time.Since(s.epoch)
	}
	v, err := fn(ctx)
	if timed {
		d = time.Since(s.epoch) - start
	}
	counts.end(timed, d, err != nil, false)
	if timed {
		s.metrics.duration(ctx, pathOld, d)
	}
	return v, err
}

func (s *Switch[T]) evaluationFailed(ctx context.Context, code openfeature.ErrorCode, err error) {
	s.evalErrs.Add(1)
	code = knownErrorCode(code)
	s.metrics.evaluationError(ctx, code)
	var idx int32
	for i, c := range evalCodes {
		if c == code {
			idx = int32(i) + 1
		}
	}
	if s.evalFailing.Swap(idx) != idx {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "flags: switch cannot evaluate its flag; old path serving",
			slog.String("flag", s.flag), slog.String("code", string(code)), slog.Any("error", err))
	}
}

func (s *Switch[T]) evaluationRecovered(ctx context.Context) {
	if s.evalFailing.Swap(0) != 0 {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "flags: switch evaluates its flag again", slog.String("flag", s.flag))
	}
}

// Kill sends every call of this Switch, on this instance, to the old path
// from now until [Switch.Revive], whatever the flag and the breaker say.
// Calls of the new path already running finish. Killing a killed Switch
// does nothing.
func (s *Switch[T]) Kill() {
	if s.killed.Swap(true) {
		return
	}
	from := fromBreakerState(s.breaker.State())
	s.events.record(SwitchEvent{Flag: s.flag, From: from, To: SwitchKilled, At: time.Now()})
	s.flushEvents(context.Background())
}

// Revive undoes [Switch.Kill]: the flag and the breaker decide again, the
// breaker in whatever state its own clock has brought it to. Reviving a
// Switch that is not killed does nothing.
func (s *Switch[T]) Revive() {
	if !s.killed.Swap(false) {
		return
	}
	to := fromBreakerState(s.breaker.State())
	s.events.record(SwitchEvent{Flag: s.flag, From: SwitchKilled, To: to, At: time.Now()})
	s.flushEvents(context.Background())
}

// State returns the Switch's state: [SwitchKilled] while killed, else the
// breaker's.
func (s *Switch[T]) State() SwitchState {
	return s.state(context.Background())
}

func (s *Switch[T]) state(ctx context.Context) SwitchState {
	// Reading the breaker may move it from open to half-open, and so queue
	// an event.
	st := fromBreakerState(s.breaker.State())
	s.flushEvents(ctx)
	if s.killed.Load() {
		return SwitchKilled
	}
	return st
}

// Healthy is a health check: it returns nil while the Switch is closed, an
// error wrapping [ErrSwitchTripped] while the breaker is open or half-open,
// and one wrapping [ErrSwitchKilled] while it is killed. Register it as
// non-critical (warn): the old path is serving.
func (s *Switch[T]) Healthy(ctx context.Context) error {
	switch st := s.state(ctx); st {
	case SwitchKilled:
		return fmt.Errorf("flags: switch %q: %w", s.flag, ErrSwitchKilled)
	case SwitchOpen, SwitchHalfOpen:
		return fmt.Errorf("flags: switch %q is %s: %w", s.flag, st, ErrSwitchTripped)
	}
	return nil
}

// Stats returns a snapshot of the Switch's counts since it was created.
func (s *Switch[T]) Stats() SwitchStats {
	return SwitchStats{
		Flag:             s.flag,
		State:            s.State(),
		New:              s.counts.paths[pathNew].snapshot(),
		Old:              s.counts.paths[pathOld].snapshot(),
		Rejected:         s.rejected.Load(),
		Retried:          s.retried.Load(),
		EvaluationErrors: s.evalErrs.Load(),
	}
}
