package ofrep

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"golang.org/x/time/rate"
)

// Defaults of the options.
const (
	DefaultMaxBodyBytes     = 1 << 20
	DefaultMaxContextDepth  = 10
	DefaultMaxSubscribers   = 1000
	DefaultKeepAlive        = 15 * time.Second
	DefaultRetry            = time.Second
	DefaultRevisionPoll     = 20 * time.Millisecond
	DefaultMaxRateLimiters  = 10000
	DefaultStreamWriteLimit = 10 * time.Second
)

// Option configures a [Handler]. Options validate their argument:
// [NewHandler] returns the error of the first option that refuses it.
type Option func(*config) error

// Authorizer decides whether a request may evaluate flags. credential is
// the X-API-Key header, or else the token of an "Authorization: Bearer"
// header; it is never empty. A nil error allows the request; any error
// refuses it with 403, and the error is logged, never sent.
type Authorizer func(r *http.Request, credential string) error

type config struct {
	logger         *slog.Logger
	authorize      Authorizer
	rateLimit      rate.Limit
	rateBurst      int
	maxLimiters    int
	now            func() time.Time
	maxBody        int64
	maxDepth       int
	flagKeys       func() []string
	events         openfeature.IEventing
	revisionPoll   time.Duration
	keepAlive      time.Duration
	retry          time.Duration
	maxSubscribers int
	eventsURI      string
	writeLimit     time.Duration
}

func defaultConfig() config {
	return config{
		logger:         slog.New(slog.DiscardHandler),
		maxLimiters:    DefaultMaxRateLimiters,
		now:            time.Now,
		maxBody:        DefaultMaxBodyBytes,
		maxDepth:       DefaultMaxContextDepth,
		revisionPoll:   DefaultRevisionPoll,
		keepAlive:      DefaultKeepAlive,
		retry:          DefaultRetry,
		maxSubscribers: DefaultMaxSubscribers,
		writeLimit:     DefaultStreamWriteLimit,
	}
}

// WithLogger sets where the handler logs refused credentials, failed
// writes and provider errors that answer 500. The default discards the log.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("ofrep: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithAuthorizer makes every route (the event stream included) require a
// credential that fn accepts: a request without one is answered 401, one
// that fn refuses 403, both with an empty body. Without this option the
// handler is open, as flagd's OFREP service is: evaluation only reads, and
// a service usually mounts it on an internal listener. Mount it behind an
// authorizer wherever the flag definitions or the contexts are secret.
func WithAuthorizer(fn Authorizer) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("ofrep: WithAuthorizer: nil authorizer")
		}
		c.authorize = fn
		return nil
	}
}

// WithRateLimit limits each client to limit requests per second, with
// bursts of up to burst, answering 429 with Retry-After (whole seconds)
// past it. A client is its credential when an authorizer accepted it, and
// otherwise its remote address (the host of http.Request.RemoteAddr: put a
// proxy's real-client header into RemoteAddr before this handler if there
// is one); requests refused 401 or 403 count against the address. Limiters
// are kept for at most [WithMaxRateLimiters] clients. The default is no
// limit.
func WithRateLimit(limit rate.Limit, burst int) Option {
	return func(c *config) error {
		if limit <= 0 || burst < 1 {
			return fmt.Errorf("ofrep: WithRateLimit: limit %v and burst %d must be positive", limit, burst)
		}
		c.rateLimit, c.rateBurst = limit, burst
		return nil
	}
}

// WithMaxRateLimiters bounds how many clients' limiters [WithRateLimit]
// keeps. A limiter whose bucket has refilled is dropped first (it is the
// same as a new one); if none has, an arbitrary one is. The default is
// 10,000.
func WithMaxRateLimiters(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ofrep: WithMaxRateLimiters: %d is not positive", n)
		}
		c.maxLimiters = n
		return nil
	}
}

// WithClock sets the clock of the rate limiter. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("ofrep: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithMaxBodyBytes limits request bodies to n bytes; a longer one is
// answered 413. The default is 1 MiB.
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ofrep: WithMaxBodyBytes: %d is not positive", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithMaxContextDepth limits how deeply objects and arrays may nest in an
// evaluation context (the context object itself is depth 1); a deeper one
// is answered 400 INVALID_CONTEXT. The default is 10.
func WithMaxContextDepth(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ofrep: WithMaxContextDepth: %d is not positive", n)
		}
		c.maxDepth = n
		return nil
	}
}

// WithFlagKeys gives the keys of the flags a bulk evaluation answers, for
// a provider that cannot list its flags itself (one without an EvaluateAll
// method like [flags.Provider.EvaluateAll]; with one, this option is not
// used). keys is called once per bulk request; keys the provider does not
// know are left out of the answer. Without this option, bulk evaluation of
// such a provider answers 501.
func WithFlagKeys(keys func() []string) Option {
	return func(c *config) error {
		if keys == nil {
			return errors.New("ofrep: WithFlagKeys: nil function")
		}
		c.flagKeys = keys
		return nil
	}
}

// WithEvents makes the event stream follow the provider's
// CONFIGURATION_CHANGED events, as the OpenFeature API or client that the
// provider is registered with reports them (an *openfeature.Client, or the
// API's IEventing; an API-level handler hears every provider of that API).
// It is how the handler learns of changes from a provider without
// revisions. A provider with a Revision() int64 method, as [flags.Provider]
// has, is also watched by its revision (see [WithRevisionPoll]); both
// together send one event per revision. The default follows the revision
// only.
func WithEvents(events openfeature.IEventing) Option {
	return func(c *config) error {
		if events == nil {
			return errors.New("ofrep: WithEvents: nil eventing")
		}
		c.events = events
		return nil
	}
}

// WithRevisionPoll sets how often, while a client listens to the event
// stream, the handler reads the revision of a provider that has one (an
// atomic read, no I/O). It adds at most this to the time a change takes to
// reach a client. The default is 20 ms.
func WithRevisionPoll(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithRevisionPoll: %v is not positive", d)
		}
		c.revisionPoll = d
		return nil
	}
}

// WithKeepAlive sets how often an idle event stream sends a comment line,
// so that proxies and clients see it alive. The default is 15 s.
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithKeepAlive: %v is not positive", d)
		}
		c.keepAlive = d
		return nil
	}
}

// WithRetry sets the reconnection delay the event stream suggests to its
// clients (the SSE retry field). The default is 1 s.
func WithRetry(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithRetry: %v is not positive", d)
		}
		c.retry = d
		return nil
	}
}

// WithMaxSubscribers bounds how many event streams are open at once; a
// client past the bound is answered 503 with Retry-After. The default is
// 1,000.
func WithMaxSubscribers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ofrep: WithMaxSubscribers: %d is not positive", n)
		}
		c.maxSubscribers = n
		return nil
	}
}

// WithEventsURI sets the requestUri that bulk responses give for the event
// stream (path and query, starting with "/"). The default is the request's
// own path up to /ofrep/v1/evaluate/flags, followed by /ofrep/v1/events:
// right wherever the handler is mounted, http.StripPrefix included, unless
// a proxy rewrites the path.
func WithEventsURI(uri string) Option {
	return func(c *config) error {
		if !strings.HasPrefix(uri, "/") {
			return fmt.Errorf("ofrep: WithEventsURI: %q does not start with /", uri)
		}
		c.eventsURI = uri
		return nil
	}
}

// WithStreamWriteTimeout bounds each write to an event stream: a client
// that stops reading is dropped after it, and [Handler.Close] waits at most
// this long for such a client. The default is 10 s.
func WithStreamWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithStreamWriteTimeout: %v is not positive", d)
		}
		c.writeLimit = d
		return nil
	}
}
