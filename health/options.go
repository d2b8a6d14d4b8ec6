package health

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// DefaultTimeout is the timeout of a check registered without [WithTimeout].
const DefaultTimeout = 5 * time.Second

// Option configures a [Checker]. An option given a value it refuses makes
// [New] return an error wrapping [ErrInvalidOption].
type Option func(*config) error

type config struct {
	serviceID, version, releaseID, description string
	notes                                      []string
	logger                                     *slog.Logger
	meterProvider                              metric.MeterProvider
	authorize                                  func(*http.Request) bool
	clock                                      func() time.Time
}

func defaultConfig() config {
	return config{
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		meterProvider: otel.GetMeterProvider(),
		clock:         time.Now,
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithServiceID sets the body's "serviceId": a unique identifier of the
// service. Empty by default, and then left out.
func WithServiceID(id string) Option {
	return func(c *config) error { c.serviceID = id; return nil }
}

// WithVersion sets the body's "version": the public version of the service.
// Empty by default, and then left out.
func WithVersion(v string) Option {
	return func(c *config) error { c.version = v; return nil }
}

// WithReleaseID sets the body's "releaseId": the release of the
// implementation (a build or release identifier). Empty by default, and then
// left out.
func WithReleaseID(id string) Option {
	return func(c *config) error { c.releaseID = id; return nil }
}

// WithDescription sets the body's "description" of the service. Empty by
// default, and then left out.
func WithDescription(d string) Option {
	return func(c *config) error { c.description = d; return nil }
}

// WithNotes sets the body's "notes". None by default.
func WithNotes(notes ...string) Option {
	return func(c *config) error { c.notes = append([]string(nil), notes...); return nil }
}

// WithLogger sets the logger for status changes and panicking checks. By
// default nothing is logged. A nil logger is refused.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithMeterProvider sets where metrics go. By default the global OpenTelemetry
// provider at the time of [New]. A nil provider is refused.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalid("nil meter provider")
		}
		c.meterProvider = mp
		return nil
	}
}

// WithAuthorizer admits the HTTP callers that may see details: each check's
// output and error text, observed values and component fields. Everyone
// else sees the overall status and each check's name and status, with the
// reason withheld. By default nobody is admitted. A nil func is refused.
func WithAuthorizer(admit func(*http.Request) bool) Option {
	return func(c *config) error {
		if admit == nil {
			return invalid("nil authorizer")
		}
		c.authorize = admit
		return nil
	}
}

// WithClock sets the source of the current time, used for the time of each
// result and for cache expiry. Timeouts and background intervals use the
// runtime's timers. By default [time.Now]. A nil func is refused.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalid("nil clock")
		}
		c.clock = now
		return nil
	}
}

// CheckOption configures one check at registration.
type CheckOption func(*checkConfig) error

type kindMask uint8

const (
	kindLive kindMask = 1 << iota
	kindReady
)

type checkConfig struct {
	timeout                    time.Duration
	critical                   bool
	componentType, componentID string
	measurement                string
	kinds                      kindMask
	kindsSet                   bool // LivenessAndReadiness or LivenessOnly was given
	ttl, interval              time.Duration
}

func defaultCheckConfig() checkConfig {
	return checkConfig{timeout: DefaultTimeout, critical: true, kinds: kindReady}
}

// WithTimeout sets how long one run of the check may take. Its ctx is
// cancelled then, and the check fails with [ErrTimeout] at once even if the
// function ignores its ctx; until that function returns no other run of the
// check starts, and probes get the timeout result. Default [DefaultTimeout].
// Zero or negative durations are refused.
func WithTimeout(d time.Duration) CheckOption {
	return func(c *checkConfig) error {
		if d <= 0 {
			return invalid("timeout %s: want a positive duration", d)
		}
		c.timeout = d
		return nil
	}
}

// NonCritical makes a failure of the check report "warn" (HTTP 200) instead
// of "fail" (HTTP 503): for dependencies the service can do without, such as
// a tripped circuit breaker whose old code path is serving. Checks are
// critical by default.
func NonCritical() CheckOption {
	return func(c *checkConfig) error { c.critical = false; return nil }
}

// WithComponentType sets the check's "componentType", such as "datastore",
// "component" or "system". Empty by default, and then left out.
func WithComponentType(t string) CheckOption {
	return func(c *checkConfig) error { c.componentType = t; return nil }
}

// WithComponentID sets the check's "componentId", a unique identifier of the
// instance of the component (a host, a database name). Empty by default.
func WithComponentID(id string) CheckOption {
	return func(c *checkConfig) error { c.componentID = id; return nil }
}

// WithMeasurement names what the check measures, such as "connections" or
// "responseTime": its entry in "checks" is then keyed "NAME:MEASUREMENT"
// instead of "NAME". Empty by default. A measurement with a colon is refused,
// and so is a key that another check already has.
func WithMeasurement(m string) CheckOption {
	return func(c *checkConfig) error {
		for _, r := range m {
			if r == ':' {
				return invalid("measurement %q: a colon separates component and measurement", m)
			}
		}
		c.measurement = m
		return nil
	}
}

// LivenessAndReadiness serves the check at liveness (/livez) as well as at
// readiness (/readyz): for a check of the process itself whose failure also
// means the instance should take no traffic, such as a deadlock detector. A
// failing liveness check gets the process restarted, so register one only
// when a restart cures what it detects.
//
// Without this option or [LivenessOnly] a check serves readiness alone.
// Every check is part of the overall report (/healthz). Giving both options,
// or one twice, is refused.
func LivenessAndReadiness() CheckOption {
	return servedAt(kindLive | kindReady)
}

// LivenessOnly serves the check at liveness (/livez) and not at readiness
// (/readyz): for a check of the process itself that says nothing about its
// dependencies, such as a goroutine count. See [LivenessAndReadiness].
func LivenessOnly() CheckOption {
	return servedAt(kindLive)
}

func servedAt(kinds kindMask) CheckOption {
	return func(c *checkConfig) error {
		if c.kindsSet {
			return invalid("LivenessAndReadiness and LivenessOnly given together or twice: want one")
		}
		c.kinds, c.kindsSet = kinds, true
		return nil
	}
}

// WithCacheTTL makes probes reuse a result for ttl after it was obtained, so
// that the check runs at most once per ttl however many probes arrive.
// Without it a check runs for each probe, but probes that arrive while it
// runs share that run. Zero or negative durations are refused, and so is
// combining it with [WithInterval].
func WithCacheTTL(ttl time.Duration) CheckOption {
	return func(c *checkConfig) error {
		if ttl <= 0 {
			return invalid("cache TTL %s: want a positive duration", ttl)
		}
		c.ttl = ttl
		return nil
	}
}

// WithInterval runs the check in the background, every d between
// [Checker.Start] and [Checker.Close]; probes are answered with the latest
// result and never wait. Until the first run ends the check fails with
// [ErrNotRun]. Zero or negative durations are refused.
func WithInterval(d time.Duration) CheckOption {
	return func(c *checkConfig) error {
		if d <= 0 {
			return invalid("interval %s: want a positive duration", d)
		}
		c.interval = d
		return nil
	}
}
