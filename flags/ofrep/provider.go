package ofrep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-feature/go-sdk/openfeature"
)

// ProviderName is the name a [Provider] gives OpenFeature.
const ProviderName = "rollsafe-ofrep"

// eventBuffer is how many events wait for the OpenFeature SDK, which drains
// the channel continuously once the provider is registered; a full buffer
// drops the event (and logs it) rather than hold up a fetch.
const eventBuffer = 64

// Errors that Init returns wrapped, and that the resolution errors of
// evaluations carry (errors.Is works on both).
var (
	// ErrUnauthorized: the server answered 401 or 403. The provider sends
	// no further request until Init runs again.
	ErrUnauthorized = errors.New("ofrep: the server refused the credentials")
	// ErrRateLimited: the server answered 429, or an earlier 429's
	// Retry-After has not passed yet (then no request was sent).
	ErrRateLimited = errors.New("ofrep: rate limited by the server")
	// ErrResponseTooLarge: a response body, or an event of the stream,
	// was larger than [WithMaxResponseSize] allows.
	ErrResponseTooLarge = errors.New("ofrep: response too large")
)

// Provider is an OpenFeature provider that reads flags from a server of the
// OpenFeature Remote Evaluation Protocol (OFREP v0.3.0): flagd,
// go-feature-flag's relay proxy, or another rollsafe service's [Handler].
// Register it with the OpenFeature API of your choice; rollsafe never
// registers it for you. Use [NewProvider]; the zero Provider is not usable.
//
// # Dynamic-context mode (the default)
//
// Each evaluation is one POST /ofrep/v1/evaluate/flags/{key} carrying the
// flattened evaluation context, bounded by [WithRequestTimeout] (default
// 500 ms) and the caller's context, over a shared keep-alive client. Init
// sends nothing and the provider is READY at once; the server is first
// asked by the first evaluation.
//
// # Cached mode ([WithCachedContext])
//
// Init fetches every flag for the fixed context in one POST
// /ofrep/v1/evaluate/flags; evaluations are answered from memory with the
// server's reason (not CACHED: the reason says why the value is what it
// is, DISABLED or SPLIT, and telemetry keeps it). Refetches send
// If-None-Match with the last ETag (a 304 keeps the cache). The provider
// follows the first eventStreams entry of type "sse" (its url, or its
// endpoint resolved against the base URL's origin; other types are
// ignored) and refetches on each refetchEvaluation event, passing its etag
// and lastModified as the flagConfigEtag and flagConfigLastModified query
// parameters; it refetches too each time the stream connects, since events
// may have been missed. Without a stream it polls ([WithPollInterval]).
//
// An evaluation whose flattened context is empty, or equal to the cached
// one, is answered from memory; any other context is evaluated by a
// single-flag request, as in dynamic mode, so that a caller never gets an
// answer for somebody else's context.
//
// Events in cached mode:
//
//   - READY: sent by the SDK after a successful Init; sent by the provider
//     when the last fetch succeeded and the stream (if any) is connected,
//     after a STALE, or after an Init that failed.
//   - STALE: a fetch failed, or the event stream could not be reconnected:
//     the cache keeps serving, but changes may be missed.
//   - CONFIGURATION_CHANGED: a fetch changed some answers; FlagChanges
//     lists the keys whose value, variant, reason, error or metadata
//     changed, or that appeared or disappeared.
//
// # Failures
//
// Every failure answers the caller's default value with an error, never a
// panic: a network error, a timeout, a 5xx, a malformed or oversized
// ([WithMaxResponseSize], default 1 MiB) body are GENERAL (PARSE_ERROR for
// a malformed success body); OFREP's error codes map onto OpenFeature's
// (FLAG_NOT_FOUND, PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT,
// GENERAL, and any other code the SDK knows); a value of another type than
// the call asks for is TYPE_MISMATCH (a whole number answers a Float call,
// and a whole float an Int call; an Object call takes a JSON object or
// array). A success without a value (OFREP's codeDefault) answers the
// caller's default with the server's reason and no error.
//
// A 429 stops every request until its Retry-After (seconds, an HTTP date
// or an RFC 3339 time; [DefaultRetryAfter] when absent, at most
// [MaxRetryAfter]); meanwhile evaluations that need the server answer the
// default with GENERAL, and cached mode keeps serving its cache. A 401 or
// 403 is fatal: the provider sends an ERROR event with code
// PROVIDER_FATAL (Init returns an openfeature.ProviderInitError with that
// code), which puts the SDK's client in its FATAL state, sends no further
// request until Init runs again, and answers every evaluation, cached ones
// too, with the default and PROVIDER_FATAL.
type Provider struct {
	cfg        providerConfig
	evalPrefix string   // base URL + "/ofrep/v1/evaluate/flags"
	origin     *url.URL // scheme and host of the base URL
	events     chan openfeature.Event
	gate       gate

	// Cached mode only.
	cachedFlat openfeature.FlattenedContext
	bulkBody   []byte
	snap       atomic.Pointer[snapshot]
	noSnap     atomic.Pointer[error] // why there is no snapshot yet

	mu     sync.Mutex // serialises Init and Shutdown
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
)

// NewProvider returns a provider reading the OFREP server at baseURL, the
// URL under which /ofrep/v1/... is served ("http://flagd:8016", or with a
// path prefix, "https://api.example.com/flags"). baseURL may be empty
// with [FromEnv] and OFREP_ENDPOINT set. It sends nothing until the first
// evaluation, or until Init in cached mode.
func NewProvider(baseURL string, opts ...ProviderOption) (*Provider, error) {
	cfg := providerConfig{
		header:         http.Header{},
		explicitHeader: map[string]bool{},
		timeout:        DefaultRequestTimeout,
		fetchTimeout:   DefaultFetchTimeout,
		maxBody:        DefaultMaxResponseSize,
		streamIdle:     DefaultStreamIdleTimeout,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		logger:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("ofrep: NewProvider: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.fromEnv {
		var err error
		if baseURL, err = cfg.applyEnv(baseURL); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if cfg.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		cfg.client, cfg.ownClient = &http.Client{Transport: tr}, true
	}
	p := &Provider{
		cfg:        cfg,
		evalPrefix: strings.TrimSuffix(base.String(), "/") + "/ofrep/v1/evaluate/flags",
		origin:     &url.URL{Scheme: base.Scheme, Host: base.Host},
		events:     make(chan openfeature.Event, eventBuffer),
	}
	if cfg.cached != nil {
		p.cachedFlat = flatten(*cfg.cached)
		if p.bulkBody, err = requestBody(p.cachedFlat); err != nil {
			return nil, fmt.Errorf("ofrep: WithCachedContext: %w", err)
		}
	}
	return p, nil
}

func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("ofrep: NewProvider: empty base URL (and no OFREP_ENDPOINT through FromEnv)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("ofrep: NewProvider: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("ofrep: NewProvider: base URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ofrep: NewProvider: base URL %q has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ofrep: NewProvider: base URL %q: no query or fragment allowed", u.Redacted())
	}
	return u, nil
}

// flatten is the SDK's flattening of an evaluation context, so that the
// cached context compares equal to what evaluations receive.
func flatten(ec openfeature.EvaluationContext) openfeature.FlattenedContext {
	flat := openfeature.FlattenedContext(ec.Attributes())
	if flat == nil {
		flat = openfeature.FlattenedContext{}
	}
	if tk := ec.TargetingKey(); tk != "" {
		flat[openfeature.TargetingKey] = tk
	}
	return flat
}

// Metadata implements openfeature.FeatureProvider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: ProviderName}
}

// Hooks implements openfeature.FeatureProvider: the provider has none.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel implements openfeature.EventHandler.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// Init implements openfeature.StateHandler; see [Provider.InitWithContext].
func (p *Provider) Init(evalCtx openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext readies the provider. It forgets a fatal refusal and a
// pending Retry-After. In dynamic mode it sends nothing. In cached mode it
// fetches every flag, waiting until ctx is done or [WithFetchTimeout]
// passes, and starts following changes; when that fetch fails it returns
// the error (a 401 or 403 as an openfeature.ProviderInitError with code
// PROVIDER_FATAL, and nothing more is tried), and for any other failure
// keeps retrying in the background, sending READY once a fetch succeeds.
// Calling it on a running provider that is not fatal does nothing.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		if p.gate.fatalErr() == nil {
			return nil
		}
		p.stopLocked()
	}
	p.gate.reset()
	if p.cfg.cached == nil {
		p.cancel, p.done = func() {}, closedChan
		return nil
	}
	p.noSnap.Store(nil)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.cancel, p.done = cancel, done
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	_, err := p.fetch(fetchCtx, nil)
	if err != nil && errors.Is(err, ErrUnauthorized) {
		// Fatal: evaluations answer PROVIDER_FATAL, and nothing runs, so
		// that the next Init tries again.
		p.gate.becomeFatal(err)
		close(done)
		p.cancel, p.done = nil, nil
		return &openfeature.ProviderInitError{ErrorCode: openfeature.ProviderFatalCode, Message: err.Error()}
	}
	go func() {
		defer close(done)
		p.run(runCtx, err == nil)
	}()
	if err != nil {
		return fmt.Errorf("ofrep: first bulk evaluation: %w", err)
	}
	return nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Shutdown implements openfeature.StateHandler; see
// [Provider.ShutdownWithContext].
func (p *Provider) Shutdown() {
	_ = p.ShutdownWithContext(context.Background())
}

// ShutdownWithContext stops following changes and waits, until ctx is
// done, for every goroutine the provider started to end; it closes the
// idle connections of the provider's own HTTP client (not of one given by
// [WithHTTPClient]). Cached-mode evaluations then answer
// PROVIDER_NOT_READY; dynamic-mode evaluations still send requests.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("ofrep: waiting for the provider to stop: %w", ctx.Err())
	}
	p.stopLocked()
	return nil
}

func (p *Provider) stopLocked() {
	p.cancel()
	<-p.done
	p.cancel, p.done = nil, nil
	p.snap.Store(nil)
	p.noSnap.Store(nil)
	if p.cfg.ownClient {
		p.cfg.client.CloseIdleConnections()
	}
}

// BooleanEvaluation implements openfeature.FeatureProvider.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	r := p.resolve(ctx, flag, flat)
	v, ok := r.value.(bool)
	r = r.typed(flag, ok, "a boolean")
	if !ok {
		v = defaultValue
	}
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// StringEvaluation implements openfeature.FeatureProvider.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, defaultValue string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	r := p.resolve(ctx, flag, flat)
	v, ok := r.value.(string)
	r = r.typed(flag, ok, "a string")
	if !ok {
		v = defaultValue
	}
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// FloatEvaluation implements openfeature.FeatureProvider. Whole numbers
// answer too.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, defaultValue float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	r := p.resolve(ctx, flag, flat)
	v, ok := asFloat(r.value)
	r = r.typed(flag, ok, "a number")
	if !ok {
		v = defaultValue
	}
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// IntEvaluation implements openfeature.FeatureProvider. A number that is
// not whole is a TYPE_MISMATCH.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, defaultValue int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	r := p.resolve(ctx, flag, flat)
	v, ok := asInt(r.value)
	r = r.typed(flag, ok, "a whole number")
	if !ok {
		v = defaultValue
	}
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// ObjectEvaluation implements openfeature.FeatureProvider: the value is a
// map[string]any (a JSON object) or a []any (an array), numbers in it
// int64 when whole and written without a fraction or exponent, float64
// otherwise. In cached mode it is shared between evaluations: do not
// change it.
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, defaultValue any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	r := p.resolve(ctx, flag, flat)
	var ok bool
	switch r.value.(type) {
	case map[string]any, []any:
		ok = true
	}
	r = r.typed(flag, ok, "an object")
	v := defaultValue
	if ok {
		v = r.value
	}
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: r.detail()}
}

// resolve answers from the cache when the context is the cached one, and
// asks the server otherwise.
func (p *Provider) resolve(ctx context.Context, key string, flat openfeature.FlattenedContext) result {
	if p.cachedFlat != nil && (len(flat) == 0 || sameContext(flat, p.cachedFlat)) {
		return p.fromCache(key)
	}
	return p.evaluateRemote(ctx, key, flat)
}

// emit hands an event to the SDK without ever blocking.
func (p *Provider) emit(t openfeature.EventType, msg string, changed []string, code openfeature.ErrorCode) {
	ev := openfeature.Event{
		ProviderName: ProviderName,
		EventType:    t,
		ProviderEventDetails: openfeature.ProviderEventDetails{
			Message:     msg,
			FlagChanges: changed,
			ErrorCode:   code,
		},
	}
	select {
	case p.events <- ev:
	default:
		p.cfg.logger.Warn("ofrep provider event dropped: nobody reads the event channel", "event", string(t))
	}
}
