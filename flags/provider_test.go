package flags_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/rollsafe/rollsafe/flags"
)

// eventWait bounds every wait for an event, so that a missing event fails the
// test instead of hanging it; events normally arrive in microseconds.
const eventWait = 20 * time.Second

type pvEvent struct {
	typ      openfeature.EventType
	changes  []string
	message  string
	metadata map[string]any
}

// pvHarness is an isolated OpenFeature API with a provider registered and
// every provider event recorded.
type pvHarness struct {
	api     *openfeature.EvaluationAPI
	client  *openfeature.Client
	events  chan pvEvent
	pending []pvEvent // arrived while waiting for another type
}

func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// newHarness registers p; setErr is what SetProviderAndWait returned.
func newHarness(t *testing.T, p *flags.Provider) (h *pvHarness, setErr error) {
	t.Helper()
	h = &pvHarness{api: isolated.NewAPI(), events: make(chan pvEvent, 100)}
	for _, typ := range []openfeature.EventType{openfeature.ProviderReady, openfeature.ProviderConfigChange, openfeature.ProviderStale, openfeature.ProviderError} {
		cb := func(d openfeature.EventDetails) {
			h.events <- pvEvent{typ: typ, changes: d.FlagChanges, message: d.Message, metadata: d.EventMetadata}
		}
		h.api.AddHandler(typ, &cb)
	}
	t.Cleanup(func() { require.NoError(t, h.api.Shutdown(context.Background())) })
	setErr = h.api.SetProviderAndWait(context.Background(), p)
	h.client = h.api.NewClient()
	return h, setErr
}

// next waits for the next event of type typ. The SDK runs each handler on a
// goroutine of its own, so events of different types may arrive out of order.
func (h *pvHarness) next(t *testing.T, typ openfeature.EventType) pvEvent {
	t.Helper()
	for i, ev := range h.pending {
		if ev.typ == typ {
			h.pending = append(h.pending[:i], h.pending[i+1:]...)
			return ev
		}
	}
	deadline := time.After(eventWait)
	for {
		select {
		case ev := <-h.events:
			if ev.typ == typ {
				return ev
			}
			h.pending = append(h.pending, ev)
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestProviderEventsFromMemorySource(t *testing.T) {
	noLeaks(t)
	src := flags.NewMemorySource(pvSet(t))
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx := context.Background()
	none := openfeature.EvaluationContext{}
	h.next(t, openfeature.ProviderReady) // sent by the SDK after Init
	assert.Equal(t, openfeature.ReadyState, h.client.State())

	// A write changes one flag and says which.
	require.NoError(t, src.SetState(ctx, "static-on", flags.Disabled))
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"static-on"}, ev.changes)
	d, err := h.client.BooleanValueDetails(ctx, "static-on", false, none)
	require.NoError(t, err)
	assert.Equal(t, openfeature.DisabledReason, d.Reason)

	// A refused change: STALE, and the last good definitions keep serving.
	err = src.ReplaceJSON(ctx, []byte(`{"flags": {"static-on": {"state": "ENABLED"}}}`))
	require.ErrorIs(t, err, flags.ErrInvalid)
	ev = h.next(t, openfeature.ProviderStale)
	assert.Contains(t, ev.message, `flag "static-on": variants: missing`)
	assert.Equal(t, openfeature.StaleState, h.client.State())
	d, err = h.client.BooleanValueDetails(ctx, "static-on", true, none)
	require.NoError(t, err)
	assert.Equal(t, openfeature.DisabledReason, d.Reason)
	assert.Equal(t, true, d.Value)
	c, err := h.client.StringValueDetails(ctx, "color", "", openfeature.NewEvaluationContext("u", map[string]any{"email": "a@example.com"}))
	require.NoError(t, err)
	assert.Equal(t, "green", c.Variant)

	// Good definitions again: READY, then the change.
	require.NoError(t, src.ReplaceJSON(ctx, []byte(`{"flags": {
		"static-on": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
		"added": {"state": "ENABLED", "variants": {"a": "A"}, "defaultVariant": "a"}}}`)))
	h.next(t, openfeature.ProviderReady)
	ev = h.next(t, openfeature.ProviderConfigChange)
	assert.Contains(t, ev.changes, "static-on")
	assert.Contains(t, ev.changes, "added")
	assert.Contains(t, ev.changes, "color", "removed flags count as changed")
	assert.Equal(t, openfeature.ReadyState, h.client.State())
	v, err := h.client.BooleanValue(ctx, "static-on", true, none)
	require.NoError(t, err)
	assert.False(t, v)
}

func TestProviderWeightsWrite(t *testing.T) {
	noLeaks(t)
	src := flags.NewMemorySource(pvSet(t))
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, src.SetWeights(ctx, "checkout-ramp", []flags.Weight{{Variant: "new", Weight: 100}, {Variant: "old", Weight: 0}}))
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"checkout-ramp"}, ev.changes)
	for _, user := range []string{"a", "b", "c", "d", "e"} {
		d, err := h.client.BooleanValueDetails(ctx, "checkout-ramp", false, openfeature.NewEvaluationContext(user, nil))
		require.NoError(t, err)
		assert.True(t, d.Value)
		assert.Equal(t, openfeature.SplitReason, d.Reason)
	}
	// The bucketing expression stays.
	require.NoError(t, src.SetWeights(ctx, "by-company", []flags.Weight{{Variant: "b", Weight: 1}}))
	d, err := h.client.StringValueDetails(ctx, "by-company", "", openfeature.NewEvaluationContext("u", map[string]any{"company": "acme"}))
	require.NoError(t, err)
	assert.Equal(t, "B", d.Value)
}

func TestWriterRefusesBadWrites(t *testing.T) {
	src := flags.NewMemorySource(pvSet(t))
	ctx := context.Background()
	before := src.Set()
	tests := []struct {
		name  string
		write func() error
		want  string
		is    error
	}{
		{"state of unknown flag", func() error { return src.SetState(ctx, "nope", flags.Disabled) }, "nope", flags.ErrNotFound},
		{"bad state", func() error { return src.SetState(ctx, "static-on", "OFF") }, `"OFF" is not ENABLED or DISABLED`, nil},
		{"weights of unknown flag", func() error { return src.SetWeights(ctx, "nope", []flags.Weight{{"a", 1}}) }, "nope", flags.ErrNotFound},
		{"no split", func() error { return src.SetWeights(ctx, "static-on", []flags.Weight{{"on", 1}}) }, "no fractional split", nil},
		{"unknown variant", func() error {
			return src.SetWeights(ctx, "checkout-ramp", []flags.Weight{{"neww", 1}})
		}, `fractional names variant "neww"`, flags.ErrInvalid},
		{"negative", func() error { return src.SetWeights(ctx, "checkout-ramp", []flags.Weight{{"new", -1}}) }, "negative", nil},
		{"empty", func() error { return src.SetWeights(ctx, "checkout-ramp", nil) }, "no weights", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			require.ErrorContains(t, err, tc.want)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Same(t, before, src.Set(), "a refused write changes nothing")
		})
	}
}

func TestProviderCountsLoadsAndRefusals(t *testing.T) {
	noLeaks(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	src := flags.NewMemorySource(pvSet(t))
	p, err := flags.NewProvider(src, flags.WithMeterProvider(mp))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	require.Error(t, src.ReplaceJSON(context.Background(), []byte(`{`)))
	h.next(t, openfeature.ProviderStale)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "rollsafe.flags.definitions.loads" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := dp.Attributes.Value(attribute.Key("outcome"))
				counts[outcome.AsString()] += dp.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{"loaded": 1, "refused": 1}, counts)
}

// brokenSource delivers its set, then reports that it can no longer follow
// changes: a store that went away.
type brokenSource struct {
	set  *flags.Set
	fail chan struct{}
}

func (b *brokenSource) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	changed(b.set, nil)
	select {
	case <-ctx.Done():
		return nil
	case <-b.fail:
		return errors.New("store connection lost")
	}
}

func TestProviderErrorWhenTheSourceStops(t *testing.T) {
	noLeaks(t)
	src := &brokenSource{set: pvSet(t), fail: make(chan struct{})}
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	close(src.fail)
	ev := h.next(t, openfeature.ProviderError)
	assert.Contains(t, ev.message, "store connection lost")
	assert.Equal(t, openfeature.ErrorState, h.client.State())
	// The last definitions keep answering.
	v, err := h.client.BooleanValue(context.Background(), "static-on", false, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.True(t, v)
}

func TestProviderInitFailsWhenTheSourceFailsAtOnce(t *testing.T) {
	noLeaks(t)
	p, err := flags.NewProvider(failingSource{})
	require.NoError(t, err)
	_, err = newHarness(t, p)
	require.ErrorContains(t, err, "cannot reach the store")
	d := p.BooleanEvaluation(context.Background(), "x", false, openfeature.FlattenedContext{})
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ResolutionDetail().ErrorCode)
}

type failingSource struct{}

func (failingSource) Watch(context.Context, func(*flags.Set, error)) error {
	return errors.New("cannot reach the store")
}

func TestProviderConcurrentEvaluationAndWrites(t *testing.T) {
	noLeaks(t)
	src := flags.NewMemorySource(pvSet(t))
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs sync.Map
	for g := range 4 {
		wg.Go(func() {
			evalCtx := openfeature.NewEvaluationContext("user", map[string]any{"n": g})
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.client.BooleanValue(ctx, "checkout-ramp", false, evalCtx); err != nil {
					errs.Store(err.Error(), true)
				}
				// Rules through the interpreter share their parsed tree.
				if _, err := h.client.IntValue(ctx, "split-for-beta", 0, openfeature.NewEvaluationContext("u", map[string]any{"beta": g%2 == 0})); err != nil {
					errs.Store(err.Error(), true)
				}
				if _, err := h.client.StringValue(ctx, "color", "", openfeature.NewEvaluationContext("u", map[string]any{"email": "x@example.com"})); err != nil {
					errs.Store(err.Error(), true)
				}
			}
		})
	}
	for i := range 50 {
		w := i % 101
		require.NoError(t, src.SetWeights(ctx, "checkout-ramp", []flags.Weight{{"new", w}, {"old", 100 - w}}))
	}
	close(stop)
	wg.Wait()
	errs.Range(func(k, _ any) bool { t.Errorf("evaluation failed during writes: %v", k); return true })
}

// gatedSource delivers its set only once the gate opens: a slow store.
type gatedSource struct {
	set  *flags.Set
	gate chan struct{}
}

func (g *gatedSource) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.gate:
	}
	changed(g.set, nil)
	<-ctx.Done()
	return nil
}

func TestProviderReadyAfterInitGaveUp(t *testing.T) {
	noLeaks(t)
	src := &gatedSource{set: pvSet(t), gate: make(chan struct{})}
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	t.Cleanup(p.Shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.InitWithContext(ctx, openfeature.EvaluationContext{})
	require.ErrorIs(t, err, context.Canceled)

	close(src.gate)
	select {
	case ev := <-p.EventChannel():
		assert.Equal(t, openfeature.ProviderReady, ev.EventType)
	case <-time.After(eventWait):
		t.Fatal("no READY event after the first definitions arrived late")
	}
	d := p.BooleanEvaluation(context.Background(), "static-on", false, openfeature.FlattenedContext{})
	assert.True(t, d.Value)
}
