package flags_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const swFlag = "new-checkout"

// swFlags is a flag set with swFlag on or off, and a string flag for type
// mismatches.
func swFlags(on bool) map[string]memprovider.InMemoryFlag {
	variant := "off"
	if on {
		variant = "on"
	}
	return map[string]memprovider.InMemoryFlag{
		swFlag: {
			Key: swFlag, State: memprovider.Enabled, DefaultVariant: variant,
			Variants: map[string]any{"on": true, "off": false},
		},
		"banner-text": {
			Key: "banner-text", State: memprovider.Enabled, DefaultVariant: "a",
			Variants: map[string]any{"a": "hello"},
		},
	}
}

// swClient returns a client of an isolated OpenFeature API serving swFlags
// through the SDK's in-memory provider; the API is shut down at cleanup.
func swClient(t testing.TB, on bool) (*openfeature.Client, *memprovider.InMemoryProvider) {
	t.Helper()
	p := memprovider.NewInMemoryProvider(swFlags(on))
	api := isolated.NewAPI()
	t.Cleanup(func() { require.NoError(t, api.Shutdown(context.Background())) })
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	return api.NewClient(), p
}

// gatedProvider is the in-memory provider with an Init that waits for its
// gate, or fails with initErr: it holds a client in NOT_READY or FATAL.
type gatedProvider struct {
	*memprovider.InMemoryProvider
	gate    chan struct{}
	initErr error
}

func (g *gatedProvider) Init(openfeature.EvaluationContext) error {
	<-g.gate
	return g.initErr
}

func (g *gatedProvider) Shutdown() {}

// strPaths returns a new and an old path that return "new" and "old" (or
// newErr) and count their calls.
type strPaths struct {
	mu       sync.Mutex
	newCalls int
	oldCalls int
	newErr   error
}

func (p *strPaths) newPath(context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.newCalls++
	if p.newErr != nil {
		return "", p.newErr
	}
	return "new", nil
}

func (p *strPaths) oldPath(context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.oldCalls++
	return "old", nil
}

func (p *strPaths) setNewErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.newErr = err
}

func (p *strPaths) counts() (newCalls, oldCalls int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.newCalls, p.oldCalls
}

var errBoom = errors.New("boom")

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func swLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// collect reads every metric of reader, keyed by metric name.
func collect(t testing.TB, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sumWhere adds the data points of an int64 sum whose attributes include
// all of want; it returns -1 when there is none.
func sumWhere(t testing.TB, m metricdata.Metrics, want ...attribute.KeyValue) int64 {
	t.Helper()
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "metric %s is %T, not an int64 sum", m.Name, m.Data)
	total, found := int64(0), false
	for _, dp := range sum.DataPoints {
		if hasAll(dp.Attributes, want) {
			total += dp.Value
			found = true
		}
	}
	if !found {
		return -1
	}
	return total
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}
