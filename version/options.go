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

// Options are typed by the calls they apply to, so that an option a call
// would not use does not compile there: version.Fetch(ctx, url,
// version.WithPolicy(version.Refuse)) is refused by the compiler, since a
// policy decides nothing when one manifest is fetched. Each kind is also the
// next, wider one: a [FetchOption] is a [NegotiateOption], which is a
// [CheckerOption], which is a [MonitorOption].
//
//	FetchOption      Fetch, and all below    WithTimeout, WithHTTPClient, WithPath
//	NegotiateOption  Negotiate, and below    WithConcurrency, WithPrereleases, WithMeterProvider, WithTracerProvider
//	CheckerOption    NewChecker, and below   WithPolicy, WithRequireAll, WithLogger
//	MonitorOption    NewMonitor, Startup     WithInterval, WithObserver
//
// A nil option is refused with an error.

// MonitorOption configures [NewMonitor] and [Startup].
type MonitorOption interface {
	apply(*config) error
}

// CheckerOption configures [NewChecker], and also [NewMonitor] and [Startup].
type CheckerOption interface {
	MonitorOption
	checkerOption()
}

// NegotiateOption configures [Negotiate], and also [NewChecker],
// [NewMonitor] and [Startup].
type NegotiateOption interface {
	CheckerOption
	negotiateOption()
}

// FetchOption configures [Fetch], and also every other call that fetches
// manifests: [Negotiate], [NewChecker], [NewMonitor] and [Startup].
type FetchOption interface {
	NegotiateOption
	fetchOption()
}

type (
	monitorOpt   func(*config) error
	checkerOpt   func(*config) error
	negotiateOpt func(*config) error
	fetchOpt     func(*config) error
)

func (o monitorOpt) apply(c *config) error   { return o(c) }
func (o checkerOpt) apply(c *config) error   { return o(c) }
func (o negotiateOpt) apply(c *config) error { return o(c) }
func (o fetchOpt) apply(c *config) error     { return o(c) }

func (checkerOpt) checkerOption()     {}
func (negotiateOpt) checkerOption()   {}
func (fetchOpt) checkerOption()       {}
func (negotiateOpt) negotiateOption() {}
func (fetchOpt) negotiateOption()     {}
func (fetchOpt) fetchOption()         {}

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
	observer    func(Report, error)
	meter       metric.MeterProvider
	tracer      trace.TracerProvider
}

// newConfig applies opts over the defaults. It is generic so that each entry
// point passes its own option slice without copying it.
func newConfig[O MonitorOption](opts []O) (*config, error) {
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
		if MonitorOption(o) == nil {
			return nil, errors.New("version: nil option")
		}
		if err := o.apply(c); err != nil {
			return nil, fmt.Errorf("version: %w", err)
		}
	}
	return c, nil
}

// WithTimeout bounds the fetch of each peer's manifest (connect, request and
// body). Default [DefaultTimeout]; d must be positive.
func WithTimeout(d time.Duration) FetchOption {
	return fetchOpt(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v is not positive", d)
		}
		c.timeout = d
		return nil
	})
}

// WithConcurrency sets how many peers are fetched at once. Default
// [DefaultConcurrency]; n must be at least 1.
func WithConcurrency(n int) NegotiateOption {
	return negotiateOpt(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("concurrency %d is less than 1", n)
		}
		c.concurrency = n
		return nil
	})
}

// WithHTTPClient sets the client that fetches peers' manifests (for TLS or a
// proxy). Default http.DefaultClient; its own Timeout, if any, also applies.
func WithHTTPClient(hc *http.Client) FetchOption {
	return fetchOpt(func(c *config) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		c.client = hc
		return nil
	})
}

// WithPath sets the path appended to a peer's base URL. Default
// [DefaultPath]; it must start with '/'.
func WithPath(p string) FetchOption {
	return fetchOpt(func(c *config) error {
		if len(p) < 2 || p[0] != '/' {
			return fmt.Errorf("path %q does not start with '/'", p)
		}
		c.path = p
		return nil
	})
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
func WithPrereleases() NegotiateOption {
	return negotiateOpt(func(c *config) error {
		c.prereleases = true
		return nil
	})
}

// WithPolicy sets what [Startup] and a [Monitor] do with a report. Default
// [Refuse].
func WithPolicy(p Policy) CheckerOption {
	return checkerOpt(func(c *config) error {
		if p < Refuse || p > Quorum {
			return fmt.Errorf("unknown policy %d", int(p))
		}
		c.policy = p
		return nil
	})
}

// WithRequireAll makes the [Refuse] policy also fail when a service named in
// Requires has no peer at all (verdict [Missing]). Default off: a service
// nobody answers for is reported but tolerated.
func WithRequireAll() CheckerOption {
	return checkerOpt(func(c *config) error {
		c.requireAll = true
		return nil
	})
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) CheckerOption {
	return checkerOpt(func(c *config) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	})
}

// WithInterval sets how often a [Monitor] negotiates again. Default
// [DefaultInterval]; d must be positive.
func WithInterval(d time.Duration) MonitorOption {
	return monitorOpt(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("interval %v is not positive", d)
		}
		c.interval = d
		return nil
	})
}

// WithObserver calls fn after each [Monitor] round with the report and the
// policy's verdict (nil when accepted). fn runs on the monitor's goroutine,
// outside its locks; a slow fn delays the next round. Default: none.
func WithObserver(fn func(Report, error)) MonitorOption {
	return monitorOpt(func(c *config) error {
		if fn == nil {
			return errors.New("nil observer")
		}
		c.observer = fn
		return nil
	})
}

// WithMeterProvider sets where negotiation metrics go. Default: the global
// OpenTelemetry meter provider.
func WithMeterProvider(mp metric.MeterProvider) NegotiateOption {
	return negotiateOpt(func(c *config) error {
		if mp == nil {
			return errors.New("nil meter provider")
		}
		c.meter = mp
		return nil
	})
}

// WithTracerProvider sets where negotiation spans go. Default: the global
// OpenTelemetry tracer provider.
func WithTracerProvider(tp trace.TracerProvider) NegotiateOption {
	return negotiateOpt(func(c *config) error {
		if tp == nil {
			return errors.New("nil tracer provider")
		}
		c.tracer = tp
		return nil
	})
}
