package flags

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature/telemetry"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// SwitchState is where a [Switch] sends calls whose flag is on.
type SwitchState int

const (
	// SwitchClosed: the breaker is closed; calls whose flag is on take the
	// new path.
	SwitchClosed SwitchState = iota
	// SwitchHalfOpen: the cool-down has ended; a few trial calls take the
	// new path, the others the old.
	SwitchHalfOpen
	// SwitchOpen: the breaker has tripped; every call takes the old path
	// until the cool-down ends.
	SwitchOpen
	// SwitchKilled: [Switch.Kill] was called; every call takes the old path
	// until [Switch.Revive].
	SwitchKilled
)

var switchStateNames = [...]string{"closed", "half-open", "open", "killed"}

// String returns "closed", "half-open", "open" or "killed".
func (s SwitchState) String() string {
	if s < 0 || int(s) >= len(switchStateNames) {
		return "unknown"
	}
	return switchStateNames[s]
}

func fromBreakerState(s gobreaker.State) SwitchState {
	switch s {
	case gobreaker.StateHalfOpen:
		return SwitchHalfOpen
	case gobreaker.StateOpen:
		return SwitchOpen
	default:
		return SwitchClosed
	}
}

// SwitchEvent is one state change of a [Switch], as given to the listeners
// of [WithStateListener].
type SwitchEvent struct {
	// Flag is the key of the Switch's flag.
	Flag string
	// From and To are the states before and after the change. A breaker
	// change while the Switch is killed is reported with the breaker's
	// states, so that listeners see every transition.
	From, To SwitchState
	// At is when the change was observed.
	At time.Time
}

// switchEvents hands state changes from where they happen (under
// gobreaker's lock, or in Kill) to where they are delivered (after the
// triggering call has returned, with no lock held).
type switchEvents struct {
	mu      sync.Mutex
	queue   []SwitchEvent
	pending atomic.Int32
	// delivering is a token, not a lock: whoever holds it delivers the
	// queue; anyone else who finds it taken leaves their events to the
	// holder, so a listener that calls back into the Switch never waits.
	delivering atomic.Bool
}

// record queues an event. It is safe under gobreaker's lock: it only takes
// mu, which is never held while calling out.
func (e *switchEvents) record(ev SwitchEvent) {
	e.mu.Lock()
	e.queue = append(e.queue, ev)
	e.pending.Add(1)
	e.mu.Unlock()
}

func (e *switchEvents) take() []SwitchEvent {
	e.mu.Lock()
	q := e.queue
	e.queue = nil
	e.pending.Add(-int32(len(q)))
	e.mu.Unlock()
	return q
}

// flush delivers queued events with deliver. The common case, nothing
// queued, costs one atomic load.
func (e *switchEvents) flush(deliver func(SwitchEvent)) {
	// Re-checking after giving the token back closes the gap in which
	// another goroutine queued an event, found the token taken and left.
	for e.pending.Load() > 0 {
		if !e.delivering.CompareAndSwap(false, true) {
			return
		}
		e.deliverQueued(deliver)
	}
}

func (e *switchEvents) deliverQueued(deliver func(SwitchEvent)) {
	// Deferred, so that a panic (of the logger, say) does not keep the
	// token and silence every later event.
	defer e.delivering.Store(false)
	for _, ev := range e.take() {
		deliver(ev)
	}
}

// onBreakerChange is gobreaker's OnStateChange. gobreaker holds its lock
// while calling it, so it must not read the breaker, log or call listeners.
func (s *Switch[T]) onBreakerChange(_ string, from, to gobreaker.State) {
	s.events.record(SwitchEvent{Flag: s.flag, From: fromBreakerState(from), To: fromBreakerState(to), At: time.Now()})
}

func (s *Switch[T]) flushEvents(ctx context.Context) {
	if s.events.pending.Load() == 0 {
		return
	}
	s.events.flush(func(ev SwitchEvent) { s.deliver(ctx, ev) })
}

// deliver reports one state change to the log, OpenTelemetry (a counter and
// an event on the current span) and the listeners, in that order.
func (s *Switch[T]) deliver(ctx context.Context, ev SwitchEvent) {
	level := slog.LevelInfo
	if ev.To == SwitchOpen || ev.To == SwitchKilled {
		level = slog.LevelWarn
	}
	s.logger.LogAttrs(ctx, level, "flags: switch state changed",
		slog.String("flag", ev.Flag),
		slog.String("from", ev.From.String()),
		slog.String("to", ev.To.String()))
	s.metrics.stateChange(ctx, ev.To)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("rollsafe.switch.state_change", trace.WithAttributes(
			attribute.String(telemetry.FlagKey, ev.Flag),
			attribute.String("rollsafe.switch.from", ev.From.String()),
			attribute.String("rollsafe.switch.to", ev.To.String()),
		))
	}
	for _, fn := range s.cfg.listeners {
		s.callListener(ctx, fn, ev)
	}
}

// callListener keeps a listener's panic from failing the call that happened
// to observe the change: it is logged instead.
func (s *Switch[T]) callListener(ctx context.Context, fn func(SwitchEvent), ev SwitchEvent) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.LogAttrs(ctx, slog.LevelError, "flags: switch state listener panicked",
				slog.String("flag", ev.Flag), slog.String("to", ev.To.String()), slog.Any("panic", r))
		}
	}()
	fn(ev)
}
