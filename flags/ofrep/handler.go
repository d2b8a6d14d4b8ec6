package ofrep

import (
	"context"
	"errors"
	"net/http"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/rollsafe/rollsafe/flags"
)

// Routes the handler serves, below wherever it is mounted.
const (
	PathEvaluateFlag  = "/ofrep/v1/evaluate/flags/{key}"
	PathEvaluateFlags = "/ofrep/v1/evaluate/flags"
	PathEvents        = "/ofrep/v1/events"
)

// evaluator answers a flag whatever its type, as [flags.Provider.Evaluate].
type evaluator interface {
	Evaluate(ctx context.Context, key string, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail
}

// bulkEvaluator answers every flag it has, as [flags.Provider.EvaluateAll].
type bulkEvaluator interface {
	EvaluateAll(ctx context.Context, flat openfeature.FlattenedContext) (revision int64, evals []flags.Evaluation, err error)
}

// revisioner numbers the flag sets a provider serves, as
// [flags.Provider.Revision]: 0 when its source does not.
type revisioner interface {
	Revision() int64
}

var (
	_ evaluator     = (*flags.Provider)(nil)
	_ bulkEvaluator = (*flags.Provider)(nil)
	_ revisioner    = (*flags.Provider)(nil)
)

// Handler serves an OpenFeature provider over OFREP. It is an
// http.Handler; [Handler.Close] ends its event streams. Use [NewHandler].
type Handler struct {
	provider openfeature.FeatureProvider
	eval     evaluator     // nil: evaluate by type, see evaluateAnyType
	all      bulkEvaluator // nil: bulk needs cfg.flagKeys
	rev      revisioner    // nil: no revision
	cfg      config
	mux      *http.ServeMux
	limits   *limiters // nil without a rate limit
	hub      *hub
	onChange openfeature.EventCallback // registered with cfg.events
}

// NewHandler returns a handler serving provider at the OFREP routes
// ([PathEvaluateFlag], [PathEvaluateFlags], [PathEvents]). The provider
// must be registered with an OpenFeature API by the caller (so that it is
// initialised): the handler calls its evaluation methods directly, without
// the API's hooks. Call [Handler.Close] when done with it.
func NewHandler(provider openfeature.FeatureProvider, opts ...Option) (*Handler, error) {
	if provider == nil {
		return nil, errors.New("ofrep: NewHandler: nil provider")
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("ofrep: NewHandler: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	h := &Handler{provider: provider, cfg: cfg}
	h.eval, _ = provider.(evaluator)
	h.all, _ = provider.(bulkEvaluator)
	h.rev, _ = provider.(revisioner)
	if cfg.rateLimit > 0 {
		h.limits = newLimiters(cfg.rateLimit, cfg.rateBurst, cfg.maxLimiters)
	}
	h.hub = newHub(h)

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST "+PathEvaluateFlag, h.serveFlag)
	h.mux.HandleFunc("POST "+PathEvaluateFlags, h.serveBulk)
	h.mux.HandleFunc("GET "+PathEvents, h.serveEvents)

	if cfg.events != nil {
		fn := func(openfeature.EventDetails) { h.hub.configurationChanged() }
		h.onChange = &fn
		cfg.events.AddHandler(openfeature.ProviderConfigChange, h.onChange)
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Close ends every event stream, waits until their goroutines have
// returned (at most the stream write timeout for a client that stopped
// reading), and stops following the provider's events. Event streams
// opened afterwards are answered 503; evaluations go on. Close may be
// called more than once.
func (h *Handler) Close() error {
	if h.hub.close() && h.onChange != nil {
		h.cfg.events.RemoveHandler(openfeature.ProviderConfigChange, h.onChange)
	}
	h.hub.wait()
	return nil
}
