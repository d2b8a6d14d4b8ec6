package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ProviderName is the name a [Provider] gives OpenFeature.
const ProviderName = "rollsafe"

// eventBuffer is how many events wait for the OpenFeature SDK, which drains
// the channel continuously once the provider is registered. A full buffer
// drops the event (and logs it) rather than hold up a reload.
const eventBuffer = 64

// Provider is an OpenFeature provider over a [Source] of flag definitions in
// the flagd format. Register it with the OpenFeature API of your choice
// (openfeature.SetProviderAndWait, or an isolated API): rollsafe never
// registers it for you. Evaluation reads the current definitions through an
// atomic pointer and takes no lock.
//
// Init starts watching the source and returns when the first definitions have
// arrived; Shutdown stops watching. Events:
//
//   - READY: sent by the SDK after a successful Init, and by the provider when
//     good definitions arrive after a STALE or ERROR event.
//   - CONFIGURATION_CHANGED: new definitions replaced the old ones; FlagChanges
//     lists the keys added, removed or changed. It is also sent when only
//     the invalid flags changed.
//   - STALE: a change was refused whole (its document did not parse or was
//     refused, [DocumentError], or it could not be read); the last good
//     definitions keep serving. It is not ERROR
//     because in the SDK's state machine only READY leaves ERROR, and nothing
//     is broken: every evaluation still answers.
//   - ERROR: the source can no longer follow changes, or the first
//     definitions were refused (then Init returns the error too).
//
// If Init gives up waiting (its context ends) the watch goes on, and the
// provider sends READY itself when the first definitions arrive.
//
// Invalid flags do not refuse the definitions they came with: the valid flags
// load, and the provider stays READY. A flag that is invalid in the
// definitions it receives
//
//   - answers PARSE_ERROR (reason ERROR, the caller's default, a message
//     naming the field) when the provider never had a valid definition of it,
//     as flagd does;
//   - keeps its last good definition when the provider had one: a reload that
//     breaks a flag never turns a kill switch back to its code default.
//
// Each load logs one warning per invalid flag, records the
// rollsafe.flags.definitions.invalid gauge (1 per invalid key, attribute
// feature_flag.key; 0 once the key is valid again or gone), and the READY
// and CONFIGURATION_CHANGED events the provider sends carry EventMetadata
// "invalidFlags" (the invalid keys, comma-separated) and "lastGoodFlags"
// (those of them served from their last good definition). The READY that
// the SDK sends after Init carries no details: the log and the gauge report
// the first definitions' invalid flags. Those events also carry "revision"
// (int64) when the source numbers its sets, as a flag store does
// ([Provider.Revision]). Use [NewProvider]; the zero Provider
// is not usable.
type Provider struct {
	src     Source
	cfg     providerConfig
	set     atomic.Pointer[Set]
	noSet   atomic.Pointer[error] // why there is no set yet, while set is nil
	events  chan openfeature.Event
	loads   metric.Int64Counter
	invalid metric.Int64Gauge

	mu      sync.Mutex // serialises Init and Shutdown
	cancel  context.CancelFunc
	stopped chan struct{}

	// Only the watching goroutine touches degraded.
	degraded bool // a STALE or ERROR event was sent since the last good set

	// Init waits on first for the first definitions, unless it gave up
	// (waiting set to false); firstMu makes "is Init still waiting" and the
	// hand-over one step, so that no first answer is lost between them.
	firstMu sync.Mutex
	first   chan error
	waiting bool
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
)

// ProviderOption configures a [Provider]. Options validate their argument:
// [NewProvider] returns the error of the first option that refuses it.
type ProviderOption func(*providerConfig) error

type providerConfig struct {
	logger   *slog.Logger
	meter    metric.MeterProvider
	now      func() time.Time
	revision func(int64)
}

// WithLogger sets where the provider logs loaded and refused definitions. The
// default discards the log.
func WithLogger(l *slog.Logger) ProviderOption {
	return func(c *providerConfig) error {
		if l == nil {
			return errors.New("flags: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithMeterProvider sets the OpenTelemetry meter provider for the
// rollsafe.flags.definitions.loads counter (attribute outcome=loaded|refused;
// definitions with invalid flags count as loaded) and the
// rollsafe.flags.definitions.invalid gauge (attribute feature_flag.key: 1
// while the flag is invalid, 0 once it is not). The default is the global
// one, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) ProviderOption {
	return func(c *providerConfig) error {
		if mp == nil {
			return errors.New("flags: WithMeterProvider: nil meter provider")
		}
		c.meter = mp
		return nil
	}
}

// WithClock sets the clock that $flagd.timestamp reads. The default is
// time.Now.
func WithClock(now func() time.Time) ProviderOption {
	return func(c *providerConfig) error {
		if now == nil {
			return errors.New("flags: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithRevisionListener sets fn to be called with the revision of each set
// of definitions the provider starts serving ([Set.Revision]; 0 from a
// source without revisions), the first included, once it serves it: how an
// instance tells its fleet registry which flag-store revision it serves
// (fleet.Membership.SetFlagsRevision). fn runs on the goroutine that
// watches the source, outside the provider's locks; it must return soon,
// since the next change waits for it. The default calls nothing.
func WithRevisionListener(fn func(revision int64)) ProviderOption {
	return func(c *providerConfig) error {
		if fn == nil {
			return errors.New("flags: WithRevisionListener: nil function")
		}
		c.revision = fn
		return nil
	}
}

// NewProvider returns a provider over src. It reads nothing until Init.
func NewProvider(src Source, opts ...ProviderOption) (*Provider, error) {
	if src == nil {
		return nil, errors.New("flags: NewProvider: nil source")
	}
	cfg := providerConfig{
		logger: slog.New(slog.DiscardHandler),
		now:    time.Now,
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("flags: NewProvider: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.meter == nil {
		cfg.meter = otel.GetMeterProvider()
	}
	meter := cfg.meter.Meter("github.com/rollsafe/rollsafe/flags")
	loads, err := meter.Int64Counter(
		"rollsafe.flags.definitions.loads",
		metric.WithDescription("Flag definitions loaded or refused by a provider, by outcome."),
	)
	if err != nil {
		return nil, fmt.Errorf("flags: create metric: %w", err)
	}
	invalid, err := meter.Int64Gauge(
		"rollsafe.flags.definitions.invalid",
		metric.WithDescription("1 while the provider's definitions of the flag are invalid, 0 once they are valid again or gone."),
	)
	if err != nil {
		return nil, fmt.Errorf("flags: create metric: %w", err)
	}
	return &Provider{
		src:     src,
		cfg:     cfg,
		events:  make(chan openfeature.Event, eventBuffer),
		loads:   loads,
		invalid: invalid,
	}, nil
}

// Metadata implements openfeature.FeatureProvider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: ProviderName}
}

// Hooks implements openfeature.FeatureProvider: the provider has none.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// EventChannel implements openfeature.EventHandler.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// Revision returns the revision of the definitions the provider serves, as
// its source numbered them ([Set.Revision]): a flag store's revision, 0 for
// a file, and 0 before the first definitions arrive or after Shutdown.
func (p *Provider) Revision() int64 {
	return p.set.Load().Revision()
}

// Init implements openfeature.StateHandler; see [Provider.InitWithContext].
func (p *Provider) Init(evalCtx openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext starts watching the source and waits, until ctx is done,
// for its first definitions. It returns an error when they are refused (the
// provider keeps watching, and a later good change makes it READY) or when
// the source fails at once. Calling it on a running provider does nothing.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return nil
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	stopped := make(chan struct{})
	p.cancel, p.stopped, p.degraded = cancel, stopped, false
	p.firstMu.Lock()
	p.first, p.waiting = first, true
	p.firstMu.Unlock()
	go func() {
		defer close(stopped)
		err := p.src.Watch(watchCtx, p.changed)
		if err == nil || watchCtx.Err() != nil {
			return
		}
		err = wrapf(err, "source stopped following changes")
		p.cfg.logger.Error("flag source failed", "err", err)
		if !p.signalFirst(err) {
			p.emit(openfeature.ProviderError, err.Error(), nil, nil)
		}
	}()
	select {
	case err := <-first:
		return err
	case <-ctx.Done():
		p.firstMu.Lock()
		defer p.firstMu.Unlock()
		p.waiting = false
		select {
		case err := <-first: // arrived as the wait ended
			return err
		default:
		}
		// The watch goes on: when the first definitions arrive, the
		// provider sends READY itself.
		return fmt.Errorf("flags: waiting for the first flag definitions: %w", ctx.Err())
	}
}

// Shutdown implements openfeature.StateHandler; see
// [Provider.ShutdownWithContext].
func (p *Provider) Shutdown() {
	_ = p.ShutdownWithContext(context.Background())
}

// ShutdownWithContext stops watching the source and waits, until ctx is
// done, for the watch to end. Evaluations then answer PROVIDER_NOT_READY.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.stopped:
	case <-ctx.Done():
		return fmt.Errorf("flags: waiting for the flag source to stop: %w", ctx.Err())
	}
	p.cancel, p.stopped = nil, nil
	p.set.Store(nil)
	p.noSet.Store(nil)
	return nil
}

// changed receives the source's definitions; it runs on the watching
// goroutine only. A set is served even when an error comes with it, as
// Parse returns a set with invalid flags beside the error naming them.
func (p *Provider) changed(set *Set, err error) {
	ctx := context.Background()
	if set == nil && err == nil {
		err = errors.New("flags: the source delivered neither definitions nor an error")
	}
	if set == nil {
		p.loads.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "refused")))
		if p.set.Load() == nil {
			p.noSet.Store(&err)
			p.cfg.logger.Error("flag definitions refused; no earlier definitions to serve", "err", err)
			if !p.signalFirst(wrapf(err, "first flag definitions refused")) {
				p.degraded = true
				p.emit(openfeature.ProviderError, err.Error(), nil, nil)
			}
			return
		}
		p.cfg.logger.Warn("flag definitions refused; the last good definitions keep serving", "err", err)
		p.degraded = true
		p.emit(openfeature.ProviderStale, "flag definitions refused, last good definitions serving: "+strings.TrimPrefix(err.Error(), prefix), nil, nil)
		return
	}
	p.loads.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", "loaded")))
	old := p.set.Load()
	set = keepLastGood(old, set)
	p.set.Store(set)
	changedKeys := diffKeys(old, set)
	p.reportInvalid(ctx, old, set)
	p.cfg.logger.Info("flag definitions loaded", "flags", len(set.flags), "invalid", len(set.invalid), "changed", changedKeys, "revision", set.revision)
	if p.cfg.revision != nil {
		p.cfg.revision(set.revision)
	}
	if old == nil && p.signalFirst(nil) {
		return // the SDK sends READY when Init returns
	}
	meta := eventMetadata(set)
	if p.degraded || old == nil {
		p.degraded = false
		p.emit(openfeature.ProviderReady, "flag definitions loaded", nil, meta)
	}
	if old != nil && (len(changedKeys) > 0 || !slices.Equal(invalidKeys(old), invalidKeys(set))) {
		p.emit(openfeature.ProviderConfigChange, "flag definitions changed", changedKeys, meta)
	}
}

// keepLastGood returns next, with the definition old served for each flag
// that next holds invalid: a reload that breaks a flag keeps serving the
// flag as it was.
func keepLastGood(old, next *Set) *Set {
	var kept map[string]*flag
	for k := range next.invalid {
		if f := old.lookup(k); f != nil {
			if kept == nil {
				kept = map[string]*flag{}
			}
			kept[k] = f
		}
	}
	if kept == nil {
		return next
	}
	merged := &Set{
		flags:      make(map[string]*flag, len(next.flags)+len(kept)),
		invalid:    next.invalid,
		metadata:   next.metadata,
		evaluators: next.evaluators,
		revision:   next.revision,
	}
	maps.Copy(merged.flags, next.flags)
	maps.Copy(merged.flags, kept)
	return merged
}

// reportInvalid logs each invalid flag of next and records the gauge: 1 for
// each of them, 0 for those invalid in old that are no longer.
func (p *Provider) reportInvalid(ctx context.Context, old, next *Set) {
	for _, k := range invalidKeys(next) {
		serving := "nothing: evaluations answer PARSE_ERROR"
		if next.flags[k] != nil {
			serving = "its last good definition"
		}
		problems := next.invalid[k].problems
		fields := make([]string, len(problems))
		for i, pr := range problems {
			fields[i] = pr.Field
		}
		p.cfg.logger.Warn("flag definition invalid", "flag", k, "fields", fields, "problems", problemText(problems), "serving", serving)
		p.invalid.Record(ctx, 1, metric.WithAttributes(attribute.String("feature_flag.key", k)))
	}
	for _, k := range invalidKeys(old) {
		if _, still := next.invalid[k]; !still {
			p.invalid.Record(ctx, 0, metric.WithAttributes(attribute.String("feature_flag.key", k)))
		}
	}
}

// eventMetadata is the EventMetadata of the events that announce s: its
// revision ("revision", when the source numbers its sets) and its invalid
// flags; nil when there is neither.
func eventMetadata(s *Set) map[string]any {
	keys := invalidKeys(s)
	if len(keys) == 0 {
		if s.revision == 0 {
			return nil
		}
		return map[string]any{"revision": s.revision}
	}
	var lastGood []string
	for _, k := range keys {
		if s.flags[k] != nil {
			lastGood = append(lastGood, k)
		}
	}
	meta := map[string]any{
		"invalidFlags":  strings.Join(keys, ","),
		"lastGoodFlags": strings.Join(lastGood, ","),
	}
	if s.revision != 0 {
		meta["revision"] = s.revision
	}
	return meta
}

func invalidKeys(s *Set) []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.invalid))
}

func problemText(ps []Problem) string {
	lines := make([]string, len(ps))
	for i, pr := range ps {
		lines[i] = pr.String()
	}
	return strings.Join(lines, "; ")
}

// signalFirst ends Init's wait; false when Init is no longer waiting.
func (p *Provider) signalFirst(err error) bool {
	p.firstMu.Lock()
	defer p.firstMu.Unlock()
	if !p.waiting {
		return false
	}
	p.first <- err // buffered: never blocks
	p.waiting = false
	return true
}

func (p *Provider) emit(t openfeature.EventType, msg string, changed []string, meta map[string]any) {
	ev := openfeature.Event{
		ProviderName: ProviderName,
		EventType:    t,
		ProviderEventDetails: openfeature.ProviderEventDetails{
			Message:       msg,
			FlagChanges:   changed,
			EventMetadata: meta,
		},
	}
	if t == openfeature.ProviderError {
		ev.ErrorCode = openfeature.GeneralCode
	}
	select {
	case p.events <- ev:
	default:
		p.cfg.logger.Warn("flag provider event dropped: nobody reads the event channel", "event", string(t))
	}
}

// diffKeys lists, sorted, the keys whose definitions differ between two sets.
func diffKeys(old, next *Set) []string {
	var keys []string
	for _, k := range next.Keys() {
		o := old.lookup(k)
		if o == nil || o.fingerprint != next.flags[k].fingerprint {
			keys = append(keys, k)
		}
	}
	for _, k := range old.Keys() {
		if next.lookup(k) == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// invalidResult answers for a flag whose definition is invalid and that has
// no last good definition to serve: PARSE_ERROR, as flagd answers, with a
// message naming each field at fault.
func (s *Set) invalidResult(key string) (result, bool) {
	inv, ok := s.invalid[key]
	if !ok || s.flags[key] != nil {
		return result{}, false
	}
	parts := make([]string, len(inv.problems))
	for i, pr := range inv.problems {
		parts[i] = Problem{Field: pr.Field, Message: pr.Message}.String()
	}
	return failure(openfeature.NewParseErrorResolutionError(
		fmt.Sprintf("flag %q has an invalid definition: %s", key, strings.Join(parts, "; ")))), true
}
