package flags

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults of a [Switch]'s breaker. Each is also written on the option that
// changes it.
const (
	// DefaultTripRatio is the share of failed new-path calls, within the
	// window, at which the breaker trips.
	DefaultTripRatio = 0.5
	// DefaultMinCalls is how many new-path calls must have completed within
	// the window before the ratio is looked at, so that one early failure
	// does not trip a fresh breaker.
	DefaultMinCalls = 10
	// DefaultCoolDown is how long a tripped breaker sends every call to the
	// old path before it lets trial calls through.
	DefaultCoolDown = 30 * time.Second
	// DefaultWindow is the sliding window over which new-path calls are
	// counted while the breaker is closed.
	DefaultWindow = 60 * time.Second
	// DefaultHalfOpenCalls is how many trial calls a half-open breaker lets
	// through at once, and how many must succeed in a row to close it.
	DefaultHalfOpenCalls = 3
)

// windowBuckets is how many steps the sliding window advances in: old calls
// leave the window a tenth of it at a time rather than all at once.
const windowBuckets = 10

// SwitchOption configures a [Switch]. Options validate their argument:
// [NewSwitch] returns the error of the first option that refuses it.
type SwitchOption func(*switchConfig) error

type switchConfig struct {
	tripRatio     float64
	minCalls      uint32
	coolDown      time.Duration
	window        time.Duration
	halfOpenCalls uint32
	retryOnOld    bool
	logger        *slog.Logger
	meterProvider metric.MeterProvider
	listeners     []func(SwitchEvent)
}

func defaultSwitchConfig() switchConfig {
	return switchConfig{
		tripRatio:     DefaultTripRatio,
		minCalls:      DefaultMinCalls,
		coolDown:      DefaultCoolDown,
		window:        DefaultWindow,
		halfOpenCalls: DefaultHalfOpenCalls,
	}
}

// errSwitchOption is wrapped by every option error, so that callers and
// tests can tell a refused option from other construction errors.
var errSwitchOption = errors.New("invalid switch option")

// WithTripRatio sets the share of failed new-path calls (0 < ratio ≤ 1) at
// which the breaker trips, once at least the minimum number of calls
// ([WithMinCalls]) has completed in the window. Default [DefaultTripRatio].
func WithTripRatio(ratio float64) SwitchOption {
	return func(c *switchConfig) error {
		// The negated form also refuses NaN.
		if !(ratio > 0 && ratio <= 1) {
			return fmt.Errorf("%w: trip ratio %v is not in (0, 1]", errSwitchOption, ratio)
		}
		c.tripRatio = ratio
		return nil
	}
}

// WithMinCalls sets how many new-path calls must have completed within the
// window before the breaker may trip (at least 1). Default [DefaultMinCalls].
func WithMinCalls(n int) SwitchOption {
	return func(c *switchConfig) error {
		if n < 1 || n > 1<<31 {
			return fmt.Errorf("%w: minimum calls %d is not in [1, 2^31]", errSwitchOption, n)
		}
		c.minCalls = uint32(n)
		return nil
	}
}

// WithCoolDown sets how long a tripped breaker keeps every call on the old
// path before it becomes half-open and lets trial calls through (more than
// zero). Default [DefaultCoolDown].
func WithCoolDown(d time.Duration) SwitchOption {
	return func(c *switchConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: cool-down %v is not positive", errSwitchOption, d)
		}
		c.coolDown = d
		return nil
	}
}

// WithWindow sets the sliding window over which new-path calls and failures
// are counted while the breaker is closed. It slides in tenths: a call leaves
// the count between 0.9 and 1 window after it started. It must be at least
// 10 ms (the window's step is then 1 ms). Default [DefaultWindow].
func WithWindow(d time.Duration) SwitchOption {
	return func(c *switchConfig) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("%w: window %v is shorter than 10ms", errSwitchOption, d)
		}
		c.window = d
		return nil
	}
}

// WithHalfOpenCalls sets how many trial calls a half-open breaker lets
// through at once (others take the old path), and how many must succeed in a
// row to close it again (at least 1). One failed trial opens it for another
// cool-down. Default [DefaultHalfOpenCalls].
func WithHalfOpenCalls(n int) SwitchOption {
	return func(c *switchConfig) error {
		if n < 1 || n > 1<<31 {
			return fmt.Errorf("%w: half-open calls %d is not in [1, 2^31]", errSwitchOption, n)
		}
		c.halfOpenCalls = uint32(n)
		return nil
	}
}

// WithRetryOnOld makes Run call the old path when the new path fails (an
// error or a panic, not a cancelled context), and return the old path's
// result instead. Use it only for idempotent work: the new path may have
// done part of its job before it failed. Default off: Run returns the new
// path's error.
func WithRetryOnOld() SwitchOption {
	return func(c *switchConfig) error {
		c.retryOnOld = true
		return nil
	}
}

// WithSwitchLogger sets the logger for state changes and evaluation errors.
// Default: a logger that discards everything.
func WithSwitchLogger(l *slog.Logger) SwitchOption {
	return func(c *switchConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", errSwitchOption)
		}
		c.logger = l
		return nil
	}
}

// WithSwitchMeterProvider sets the OpenTelemetry meter provider for the
// Switch's metrics. Default: the global provider (otel.GetMeterProvider) at
// the time NewSwitch is called.
func WithSwitchMeterProvider(mp metric.MeterProvider) SwitchOption {
	return func(c *switchConfig) error {
		if mp == nil {
			return fmt.Errorf("%w: nil meter provider", errSwitchOption)
		}
		c.meterProvider = mp
		return nil
	}
}

// WithStateListener adds a function called after every state change of the
// Switch (breaker opened, half-open, closed; killed, revived). Listeners are
// called one at a time, in the order the changes happened, on the goroutine
// of a call that observed the change, after the Switch has released its
// locks: a listener may call any method of the Switch. A listener should
// return quickly, as a Run call waits for it; a listener that panics is
// logged and does not fail that call. Default: none.
func WithStateListener(fn func(SwitchEvent)) SwitchOption {
	return func(c *switchConfig) error {
		if fn == nil {
			return fmt.Errorf("%w: nil state listener", errSwitchOption)
		}
		c.listeners = append(c.listeners, fn)
		return nil
	}
}
