package version

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults used when the corresponding option is not given.
const (
	// DefaultPath is where [Handler] is mounted and what the client appends
	// to a peer's base URL.
	DefaultPath = "/.well-known/rollsafe"
	// DefaultTimeout bounds the fetch of one peer's manifest.
	DefaultTimeout = 2 * time.Second
	// DefaultInterval is how often a [Monitor] negotiates again.
	DefaultInterval = 30 * time.Second
	// DefaultConcurrency is how many peers are fetched at once.
	DefaultConcurrency = 32
)

// Option configures [Negotiate], [Startup], [NewMonitor] and [NewChecker].
// Each validates its argument; an option that does not apply to a call is
// ignored by it.
type Option func(*config) error

type config struct {
	timeout     time.Duration
	concurrency int
	client      *http.Client
	path        string
	prereleases bool
	policy      Policy
	requireAll  bool
	logger      *slog.Logger
	interval    time.Duration
	ticks       <-chan time.Time
	observer    func(Report, error)
	meter       metric.MeterProvider
	tracer      trace.TracerProvider
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		timeout:     DefaultTimeout,
		concurrency: DefaultConcurrency,
		client:      http.DefaultClient,
		path:        DefaultPath,
		policy:      Refuse,
		logger:      slog.New(slog.DiscardHandler),
		interval:    DefaultInterval,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("version: nil option")
		}
		if err := o(c); err != nil {
			return nil, fmt.Errorf("version: %w", err)
		}
	}
	return c, nil
}

// WithTimeout bounds the fetch of each peer's manifest (connect, request and
// body). Default [DefaultTimeout]; d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v is not positive", d)
		}
		c.timeout = d
		return nil
	}
}

// WithConcurrency sets how many peers are fetched at once. Default
// [DefaultConcurrency]; n must be at least 1.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("concurrency %d is less than 1", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithHTTPClient sets the client that fetches peers' manifests (for TLS or a
// proxy). Default http.DefaultClient; its own Timeout, if any, also applies.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		c.client = hc
		return nil
	}
}

// WithPath sets the path appended to a peer's base URL. Default
// [DefaultPath]; it must start with '/'.
func WithPath(p string) Option {
	return func(c *config) error {
		if len(p) < 2 || p[0] != '/' {
			return fmt.Errorf("path %q does not start with '/'", p)
		}
		c.path = p
		return nil
	}
}

// WithPrereleases makes constraints admit prerelease versions, both ours on
// peers and peers' on us. Without it (the default) a prerelease such as
// 1.3.0-rc.1 or a pseudo-version meets no constraint unless the constraint
// itself names a prerelease (">=1.3.0-0").
//
// The trap: with it, ">=1.2.0 <2.0.0" admits 2.0.0-rc.1, because 2.0.0-rc.1
// sorts before 2.0.0 — a release candidate of the next, breaking major
// version passes an upper bound written to keep it out. Write "<2.0.0-0" as
// the bound when opting in.
func WithPrereleases() Option {
	return func(c *config) error {
		c.prereleases = true
		return nil
	}
}

// WithPolicy sets what [Startup] and a [Monitor] do with a report. Default
// [Refuse].
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if p < Refuse || p > Quorum {
			return fmt.Errorf("unknown policy %d", int(p))
		}
		c.policy = p
		return nil
	}
}

// WithRequireAll makes the [Refuse] policy also fail when a service named in
// Requires has no peer at all (verdict [Missing]). Default off: a service
// nobody answers for is reported but tolerated.
func WithRequireAll() Option {
	return func(c *config) error {
		c.requireAll = true
		return nil
	}
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithInterval sets how often a [Monitor] negotiates again. Default
// [DefaultInterval]; d must be positive.
func WithInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("interval %v is not positive", d)
		}
		c.interval = d
		return nil
	}
}

// WithTicks makes a [Monitor] negotiate once per value received from ticks
// instead of on its own interval timer, so that a caller (or a test) decides
// when rounds happen. Default: a ticker at the interval.
func WithTicks(ticks <-chan time.Time) Option {
	return func(c *config) error {
		if ticks == nil {
			return errors.New("nil tick channel")
		}
		c.ticks = ticks
		return nil
	}
}

// WithObserver calls fn after each [Monitor] round with the report and the
// policy's verdict (nil when accepted). fn runs on the monitor's goroutine,
// outside its locks; a slow fn delays the next round. Default: none.
func WithObserver(fn func(Report, error)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("nil observer")
		}
		c.observer = fn
		return nil
	}
}

// WithMeterProvider sets where negotiation metrics go. Default: the global
// OpenTelemetry meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("nil meter provider")
		}
		c.meter = mp
		return nil
	}
}

// WithTracerProvider sets where negotiation spans go. Default: the global
// OpenTelemetry tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("nil tracer provider")
		}
		c.tracer = tp
		return nil
	}
}
