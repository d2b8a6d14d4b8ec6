package ofrep

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
)

// Defaults of a [Provider]; each option's doc says which it changes.
const (
	// DefaultRequestTimeout bounds a single-flag evaluation request. It is
	// short because dynamic-context evaluations sit on the caller's request
	// path (flagd's providers use 500 ms too; the OFREP guideline's 10 s
	// suits a background fetch, not a request in flight).
	DefaultRequestTimeout = 500 * time.Millisecond
	// DefaultFetchTimeout bounds a bulk fetch of cached mode and the
	// opening of its event stream: off the request path, so it may wait
	// as long as the OFREP guideline suggests.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultMaxResponseSize caps every response body the provider reads.
	DefaultMaxResponseSize = 1 << 20
	// DefaultPollInterval is how often cached mode refetches when the
	// server offers no event stream that the provider knows.
	DefaultPollInterval = 30 * time.Second
	// DefaultStreamIdleTimeout is how long an event stream may send
	// nothing at all, not even a keep-alive comment, before the provider
	// drops it and connects again (rollsafe's handler sends a keep-alive
	// every 15 s).
	DefaultStreamIdleTimeout = 60 * time.Second
	// DefaultRetryAfter is how long the provider sends nothing after a 429
	// that carries no usable Retry-After.
	DefaultRetryAfter = time.Second
	// MaxRetryAfter caps how long a Retry-After can silence the provider,
	// so that a wrong header cannot switch flags off for hours.
	MaxRetryAfter = 10 * time.Minute
	// DefaultBackoffMin and DefaultBackoffMax bound the delay before cached
	// mode retries a failed fetch or reconnects its event stream: it
	// doubles from min to max, each delay drawn between half and all of it.
	DefaultBackoffMin = 500 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
)

// ProviderOption configures a [Provider]. Options validate their argument:
// [NewProvider] returns the error of the first option that refuses it.
type ProviderOption func(*providerConfig) error

type providerConfig struct {
	client         *http.Client
	ownClient      bool // made by NewProvider: Shutdown closes its idle connections
	header         http.Header
	timeout        time.Duration
	timeoutSet     bool
	fetchTimeout   time.Duration
	maxBody        int64
	cached         *openfeature.EvaluationContext
	poll           time.Duration // 0: DefaultPollInterval without a stream, none beside one
	streamIdle     time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	logger         *slog.Logger
	fromEnv        bool
	explicitHeader map[string]bool // canonical names set by options, which the environment never overrides
}

// WithHTTPClient sets the client that sends every request. Its Timeout
// must be zero or longer than any event stream should live: the provider
// bounds each request itself ([WithRequestTimeout], [WithFetchTimeout]),
// and an event stream is one long response. The default is a client of its
// own over a clone of http.DefaultTransport keeping up to 64 idle
// connections to the server, so that evaluations reuse connections; its
// idle connections are closed by Shutdown.
func WithHTTPClient(c *http.Client) ProviderOption {
	return func(cfg *providerConfig) error {
		if c == nil {
			return errors.New("ofrep: WithHTTPClient: nil client")
		}
		cfg.client, cfg.ownClient = c, false
		return nil
	}
}

// WithHeader adds a header to every request (evaluations, bulk fetches and
// the event stream); several calls with one name add several values. Names
// and values are checked: no empty name, no control characters.
func WithHeader(name, value string) ProviderOption {
	return func(cfg *providerConfig) error {
		if err := checkHeader(name, value); err != nil {
			return fmt.Errorf("ofrep: WithHeader: %w", err)
		}
		cfg.header.Add(name, value)
		cfg.explicitHeader[http.CanonicalHeaderKey(name)] = true
		return nil
	}
}

// WithBearerToken sends "Authorization: Bearer token" with every request,
// the OFREP spec's BearerAuth. An empty token is refused.
func WithBearerToken(token string) ProviderOption {
	return func(cfg *providerConfig) error {
		if token == "" {
			return errors.New("ofrep: WithBearerToken: empty token")
		}
		if err := checkHeader("Authorization", token); err != nil {
			return fmt.Errorf("ofrep: WithBearerToken: %w", err)
		}
		cfg.header.Set("Authorization", "Bearer "+token)
		cfg.explicitHeader["Authorization"] = true
		return nil
	}
}

// WithAPIKey sends "X-API-Key: key" with every request, the OFREP spec's
// ApiKeyAuth. An empty key is refused.
func WithAPIKey(key string) ProviderOption {
	return func(cfg *providerConfig) error {
		if key == "" {
			return errors.New("ofrep: WithAPIKey: empty key")
		}
		if err := checkHeader("X-API-Key", key); err != nil {
			return fmt.Errorf("ofrep: WithAPIKey: %w", err)
		}
		cfg.header.Set("X-API-Key", key)
		cfg.explicitHeader["X-Api-Key"] = true
		return nil
	}
}

// WithRequestTimeout bounds each single-flag evaluation request, from
// sending it to reading the whole answer; the caller's context can end it
// sooner. The default is [DefaultRequestTimeout] (500 ms). d must be
// positive.
func WithRequestTimeout(d time.Duration) ProviderOption {
	return func(cfg *providerConfig) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithRequestTimeout: %v is not positive", d)
		}
		cfg.timeout, cfg.timeoutSet = d, true
		return nil
	}
}

// WithFetchTimeout bounds each bulk fetch of cached mode, and the opening
// of its event stream (the stream itself lives on). The default is
// [DefaultFetchTimeout] (10 s). d must be positive.
func WithFetchTimeout(d time.Duration) ProviderOption {
	return func(cfg *providerConfig) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithFetchTimeout: %v is not positive", d)
		}
		cfg.fetchTimeout = d
		return nil
	}
}

// WithMaxResponseSize caps every response body the provider reads, in
// bytes, and each event of an event stream: a larger one is an error, and
// the provider stops reading it at the cap. The default is
// [DefaultMaxResponseSize] (1 MiB). n must be positive.
func WithMaxResponseSize(n int64) ProviderOption {
	return func(cfg *providerConfig) error {
		if n <= 0 {
			return fmt.Errorf("ofrep: WithMaxResponseSize: %d is not positive", n)
		}
		cfg.maxBody = n
		return nil
	}
}

// WithCachedContext turns on cached mode for evalCtx, the context a
// service evaluates again and again (its own identity, say): the provider
// fetches every flag for it in one bulk request, answers evaluations from
// memory, and refetches when the server's event stream says so, when
// polling says so ([WithPollInterval]), or after the stream comes back.
// See [Provider] for what an evaluation with another context does. The
// default is dynamic-context mode: one request per evaluation.
func WithCachedContext(evalCtx openfeature.EvaluationContext) ProviderOption {
	return func(cfg *providerConfig) error {
		cfg.cached = &evalCtx
		return nil
	}
}

// WithPollInterval makes cached mode refetch every d, beside the event
// stream if the server offers one (a revalidation with If-None-Match costs
// the server little). Without it, cached mode polls every
// [DefaultPollInterval] (30 s) only when the server offers no event stream
// of a type the provider knows. d must be positive; dynamic mode ignores
// it.
func WithPollInterval(d time.Duration) ProviderOption {
	return func(cfg *providerConfig) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithPollInterval: %v is not positive", d)
		}
		cfg.poll = d
		return nil
	}
}

// WithStreamIdleTimeout sets how long the event stream may stay silent
// (no event, no comment) before the provider drops it and connects again.
// The default is [DefaultStreamIdleTimeout] (60 s). d must be positive.
func WithStreamIdleTimeout(d time.Duration) ProviderOption {
	return func(cfg *providerConfig) error {
		if d <= 0 {
			return fmt.Errorf("ofrep: WithStreamIdleTimeout: %v is not positive", d)
		}
		cfg.streamIdle = d
		return nil
	}
}

// WithReconnectBackoff bounds the delays before cached mode retries a
// failed fetch or reconnects its event stream: the first is about min,
// each next one doubles, up to max; each is drawn at random between half
// and all of its value, so that a fleet does not reconnect in step. A
// stream's retry field, when larger, replaces min. The defaults are
// [DefaultBackoffMin] (500 ms) and [DefaultBackoffMax] (30 s). Both must be
// positive, and min no larger than max.
func WithReconnectBackoff(min, max time.Duration) ProviderOption {
	return func(cfg *providerConfig) error {
		if min <= 0 || max <= 0 || min > max {
			return fmt.Errorf("ofrep: WithReconnectBackoff: need 0 < min <= max, got %v and %v", min, max)
		}
		cfg.backoffMin, cfg.backoffMax = min, max
		return nil
	}
}

// WithProviderLogger sets where the provider logs fetches that failed,
// streams that dropped and events it could not deliver. It never logs an
// event stream's URL beyond its origin, since the URL may carry a token.
// The default discards the log.
func WithProviderLogger(l *slog.Logger) ProviderOption {
	return func(cfg *providerConfig) error {
		if l == nil {
			return errors.New("ofrep: WithProviderLogger: nil logger")
		}
		cfg.logger = l
		return nil
	}
}

// FromEnv reads the provider's settings from the environment, as the
// OpenFeature OFREP providers of other languages do, when NewProvider
// runs:
//
//   - OFREP_ENDPOINT: the base URL, used when NewProvider's baseURL is
//     empty (a baseURL given in code wins).
//   - OFREP_HEADERS: headers for every request, "Name1=Value1,Name2=Value2";
//     names and values may be URL-encoded (a comma inside a value must be,
//     as %2C); a header that an option sets in code wins.
//   - OFREP_TIMEOUT: the single-flag request timeout, a Go duration
//     ("750ms") or a whole number of milliseconds ("750"); OFREP_TIMEOUT_MS
//     (milliseconds, the name the OFREP ADR gives) is read when
//     OFREP_TIMEOUT is unset. [WithRequestTimeout] given in code wins.
//
// Unset or empty variables change nothing; a malformed one makes
// NewProvider fail, naming it. Nothing reads the environment without this
// option.
func FromEnv() ProviderOption {
	return func(cfg *providerConfig) error {
		cfg.fromEnv = true
		return nil
	}
}

// applyEnv runs after every option, so that settings made in code win
// whatever the order of the options.
func (cfg *providerConfig) applyEnv(baseURL string) (string, error) {
	if baseURL == "" {
		baseURL = strings.TrimSpace(os.Getenv("OFREP_ENDPOINT"))
	}
	if v := os.Getenv("OFREP_HEADERS"); strings.TrimSpace(v) != "" {
		h, err := parseEnvHeaders(v)
		if err != nil {
			return "", fmt.Errorf("ofrep: OFREP_HEADERS: %w", err)
		}
		for name, values := range h {
			if cfg.explicitHeader[name] {
				continue
			}
			cfg.header[name] = values
		}
	}
	if cfg.timeoutSet {
		return baseURL, nil
	}
	name, v := "OFREP_TIMEOUT", strings.TrimSpace(os.Getenv("OFREP_TIMEOUT"))
	if v == "" {
		name, v = "OFREP_TIMEOUT_MS", strings.TrimSpace(os.Getenv("OFREP_TIMEOUT_MS"))
		if v != "" {
			v += "ms"
		}
	}
	if v != "" {
		d, err := parseEnvTimeout(v)
		if err != nil {
			return "", fmt.Errorf("ofrep: %s: %w", name, err)
		}
		cfg.timeout = d
	}
	return baseURL, nil
}

func parseEnvTimeout(v string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms <= 0 || ms > int64(time.Hour/time.Millisecond) {
			return 0, fmt.Errorf("%d ms is not between 1 ms and an hour", ms)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration nor a number of milliseconds", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%v is not positive", d)
	}
	return d, nil
}

func parseEnvHeaders(v string) (http.Header, error) {
	h := http.Header{}
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rawName, rawValue, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d has no '='", i+1)
		}
		name, err := url.PathUnescape(strings.TrimSpace(rawName))
		if err != nil {
			return nil, fmt.Errorf("entry %d: name: %w", i+1, err)
		}
		value, err := url.PathUnescape(strings.TrimSpace(rawValue))
		if err != nil {
			return nil, fmt.Errorf("entry %d: value of %s: %w", i+1, name, err)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if err := checkHeader(name, value); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		h.Add(name, value)
	}
	return h, nil
}

// checkHeader refuses what net/http would refuse, or worse send, later.
func checkHeader(name, value string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return fmt.Errorf("header name %q: invalid character %q", name, r)
		}
	}
	for _, r := range value {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return fmt.Errorf("header %s: value holds a control character", name)
		}
	}
	return nil
}
