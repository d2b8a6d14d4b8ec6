package flags_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rollsafe/rollsafe/flags"
)

// twoGoodOneBad holds two valid flags and one whose default variant names no
// variant.
const twoGoodOneBad = `{"flags": {
  "banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "a"},
  "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on"]}},
  "kill-search": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "of"}
}}`

// revisionSource is a store of the user's own: each revision pushed is parsed
// and delivered as a Source should, its valid flags served and its invalid
// ones carried in the set; a document refused whole is passed as an error.
type revisionSource struct {
	revs chan revision
}

type revision struct {
	data []byte
	done chan struct{}
}

func newRevisionSource() *revisionSource {
	return &revisionSource{revs: make(chan revision)}
}

func (s *revisionSource) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.revs:
			set, err := flags.Parse(r.data)
			if set == nil {
				changed(nil, err)
			} else {
				changed(set, nil)
			}
			close(r.done)
		}
	}
}

// push delivers a revision and returns once the provider has received it.
func (s *revisionSource) push(t *testing.T, data string) {
	t.Helper()
	r := revision{data: []byte(data), done: make(chan struct{})}
	s.revs <- r
	<-r.done
}

// invalidGauge returns the rollsafe.flags.definitions.invalid gauge by key.
func invalidGauge(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "rollsafe.flags.definitions.invalid" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				key, _ := dp.Attributes.Value(attribute.Key("feature_flag.key"))
				out[key.AsString()] = dp.Value
			}
		}
	}
	return out
}

// logLines decodes the JSON log lines with the given message.
func logLines(t *testing.T, buf *bytes.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestParseKeepsAnInvalidFlagOut(t *testing.T) {
	set, err := flags.Parse([]byte(twoGoodOneBad))
	require.NotNil(t, set)
	assert.Equal(t, []string{"banner", "new-checkout"}, set.Keys())
	var ve *flags.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.ErrorIs(t, err, flags.ErrInvalid)
	var de *flags.DocumentError
	assert.False(t, errors.As(err, &de), "an invalid flag does not refuse the document")
	want := []flags.Problem{{Flag: "kill-search", Field: "defaultVariant", Message: `"of" is not one of the variants (off, on)`}}
	assert.Equal(t, want, ve.Problems)
	assert.Equal(t, want, set.Problems())
	assert.Equal(t, []string{"kill-search"}, ve.Keys())
	_, ok := set.Kind("kill-search")
	assert.False(t, ok)
}

func TestParseRefusesAnUnparsableDocumentWhole(t *testing.T) {
	for name, doc := range map[string]string{
		"malformed":         `{"flags": {"banner": {"state": "ENABLED", "variants": {"a": "x"}}`,
		"flags not object":  `{"flags": [1]}`,
		"evaluators":        `{"$evaluators": 1, "flags": {"banner": {"state": "ENABLED", "variants": {"a": "x"}}}}`,
		"set metadata":      `{"metadata": {"team": [1]}, "flags": {"banner": {"state": "ENABLED", "variants": {"a": "x"}}}}`,
		"unknown top-level": `{"flag": {}, "flags": {"banner": {"state": "ENABLED", "variants": {"a": "x"}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			set, err := flags.Parse([]byte(doc))
			assert.Nil(t, set)
			var de *flags.DocumentError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, flags.ErrInvalid)
			var ve *flags.ValidationError
			require.ErrorAs(t, err, &ve, "a DocumentError lists its problems as a ValidationError")
			assert.NotEmpty(t, ve.Problems)
		})
	}
}

// TestProviderServesValidFlagsBesideAnInvalidOne loads a file with two valid
// flags and one invalid one through the OpenFeature SDK: the two are served,
// the third answers PARSE_ERROR with the caller's default, and the load
// reports it by key and field in the log and the gauge.
func TestProviderServesValidFlagsBesideAnInvalidOne(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(twoGoodOneBad), 0o644))
	src, err := flags.NewFileSource(path)
	require.NoError(t, err)
	var logs bytes.Buffer
	reader := sdkmetric.NewManualReader()
	p, err := flags.NewProvider(src,
		flags.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		flags.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err, "an invalid flag does not refuse the file")
	h.next(t, openfeature.ProviderReady)
	assert.Equal(t, openfeature.ReadyState, h.client.State())
	ctx := context.Background()

	s, err := h.client.StringValue(ctx, "banner", "none", openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.Equal(t, "Welcome", s)
	b, err := h.client.BooleanValue(ctx, "new-checkout", false, openfeature.NewEvaluationContext("u", map[string]any{"email": "ann@example.com"}))
	require.NoError(t, err)
	assert.True(t, b)

	d, err := h.client.BooleanValueDetails(ctx, "kill-search", true, openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.True(t, d.Value, "the caller's default")
	assert.Equal(t, openfeature.ParseErrorCode, d.ErrorCode)
	assert.Equal(t, openfeature.ErrorReason, d.Reason)
	assert.Equal(t, `flag "kill-search" has an invalid definition: defaultVariant: "of" is not one of the variants (off, on)`, d.ErrorMessage)

	lines := logLines(t, &logs, "flag definition invalid")
	require.Len(t, lines, 1)
	assert.Equal(t, "kill-search", lines[0]["flag"])
	assert.Equal(t, []any{"defaultVariant"}, lines[0]["fields"])
	assert.Equal(t, map[string]int64{"kill-search": 1}, invalidGauge(t, reader))
}

// TestProviderKeepsTheLastGoodDefinition: a reload that makes a valid flag
// invalid keeps serving its last good definition (a kill switch stays off),
// while the reload's other changes apply; the change event names the invalid
// flag. A flag invalid from the start answers PARSE_ERROR throughout.
func TestProviderKeepsTheLastGoodDefinition(t *testing.T) {
	noLeaks(t)
	src := newRevisionSource()
	var logs bytes.Buffer
	reader := sdkmetric.NewManualReader()
	p, err := flags.NewProvider(src,
		flags.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		flags.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	require.NoError(t, err)
	ctx := context.Background()
	inited := make(chan error, 1)
	go func() { inited <- p.InitWithContext(ctx, openfeature.EvaluationContext{}) }()
	src.push(t, `{"flags": {
		"kill-search": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
		"banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "a"},
		"broken": {"state": "ENABLED", "variants": {}}
	}}`)
	require.NoError(t, <-inited)
	h, err := newHarness(t, p) // Init already ran: the SDK sends READY at once
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	none := openfeature.EvaluationContext{}

	killed := func() {
		t.Helper()
		d, err := h.client.BooleanValueDetails(ctx, "kill-search", true, none)
		require.NoError(t, err)
		assert.Equal(t, openfeature.DisabledReason, d.Reason, "the kill switch stays off")
	}
	broken := func() {
		t.Helper()
		d, err := h.client.StringValueDetails(ctx, "broken", "dflt", none)
		require.Error(t, err)
		assert.Equal(t, openfeature.ParseErrorCode, d.ErrorCode)
		assert.Equal(t, "dflt", d.Value)
		assert.Contains(t, d.ErrorMessage, "variants: must name at least one variant")
	}
	killed()
	broken()
	assert.Equal(t, map[string]int64{"broken": 1}, invalidGauge(t, reader))

	// The reload breaks the kill switch (a typo in its state) and changes
	// the banner.
	logs.Reset()
	src.push(t, `{"flags": {
		"kill-search": {"state": "DISABLD", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
		"banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "b"},
		"broken": {"state": "ENABLED", "variants": {}}
	}}`)
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"banner"}, ev.changes, "the kept flag did not change")
	assert.Equal(t, map[string]any{"invalidFlags": "broken,kill-search", "lastGoodFlags": "kill-search"}, ev.metadata)
	assert.Equal(t, openfeature.ReadyState, h.client.State())
	killed()
	broken()
	s, err := h.client.StringValue(ctx, "banner", "", none)
	require.NoError(t, err)
	assert.Equal(t, "Hello", s, "the reload's valid changes apply")
	lines := logLines(t, &logs, "flag definition invalid")
	require.Len(t, lines, 2)
	assert.Equal(t, "kill-search", lines[1]["flag"])
	assert.Equal(t, "its last good definition", lines[1]["serving"])
	assert.Equal(t, "broken", lines[0]["flag"])
	assert.Contains(t, lines[0]["serving"], "PARSE_ERROR")
	assert.Equal(t, map[string]int64{"broken": 1, "kill-search": 1}, invalidGauge(t, reader))

	// Still invalid in the next reload: still the last good definition.
	src.push(t, `{"flags": {
		"kill-search": {"state": "DISABLD", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
		"banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "a"}
	}}`)
	ev = h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"banner"}, ev.changes)
	assert.Equal(t, map[string]any{"invalidFlags": "kill-search", "lastGoodFlags": "kill-search"}, ev.metadata)
	killed()

	// A document refused whole changes nothing, the kept flag included.
	src.push(t, `{"flags": {`)
	h.next(t, openfeature.ProviderStale)
	killed()

	// Mended: the new definition serves and the report clears.
	src.push(t, `{"flags": {
		"kill-search": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
		"banner": {"state": "ENABLED", "variants": {"a": "Welcome", "b": "Hello"}, "defaultVariant": "a"}
	}}`)
	h.next(t, openfeature.ProviderReady)
	ev = h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"kill-search"}, ev.changes)
	assert.Nil(t, ev.metadata)
	v, err := h.client.BooleanValue(ctx, "kill-search", false, none)
	require.NoError(t, err)
	assert.True(t, v)
	assert.Equal(t, map[string]int64{"broken": 0, "kill-search": 0}, invalidGauge(t, reader))
}

// TestProviderReportsAChangeOfInvalidFlagsOnly: a reload whose valid flags
// are unchanged but which breaks a flag still sends CONFIGURATION_CHANGED,
// with no flag changed and the invalid flag in the metadata.
func TestProviderReportsAChangeOfInvalidFlagsOnly(t *testing.T) {
	noLeaks(t)
	src := newRevisionSource()
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	inited := make(chan error, 1)
	go func() { inited <- p.InitWithContext(context.Background(), openfeature.EvaluationContext{}) }()
	src.push(t, `{"flags": {"a": {"state": "ENABLED", "variants": {"x": 1}}}}`)
	require.NoError(t, <-inited)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)

	src.push(t, `{"flags": {"a": {"state": "ENABLED", "variants": {"x": 1}}, "b": {"state": "ENABLED"}}}`)
	ev := h.next(t, openfeature.ProviderConfigChange)
	assert.Empty(t, ev.changes)
	assert.Equal(t, map[string]any{"invalidFlags": "b", "lastGoodFlags": ""}, ev.metadata)
}

func TestWritersRefuseInvalidDefinitions(t *testing.T) {
	ctx := context.Background()
	partial, err := flags.Parse([]byte(twoGoodOneBad))
	require.Error(t, err)
	require.NotNil(t, partial)

	mem := flags.NewMemorySource(nil)
	before := mem.Set()
	err = mem.Replace(ctx, partial)
	require.ErrorIs(t, err, flags.ErrInvalid)
	assert.ErrorContains(t, err, `flag "kill-search": defaultVariant`)
	assert.Same(t, before, mem.Set(), "a refused write changes nothing")
	err = mem.ReplaceJSON(ctx, []byte(twoGoodOneBad))
	require.ErrorIs(t, err, flags.ErrInvalid)
	assert.Same(t, before, mem.Set())

	// A source that holds an invalid flag (as loaded) refuses writes to it,
	// and writes to the others leave it as it was.
	mem = flags.NewMemorySource(partial)
	err = mem.SetState(ctx, "kill-search", flags.Disabled)
	require.ErrorIs(t, err, flags.ErrInvalid)
	assert.ErrorContains(t, err, `an invalid flag cannot be changed, only replaced: invalid flag definitions: flag "kill-search": defaultVariant`)
	require.NoError(t, mem.SetState(ctx, "banner", flags.Disabled))
	state, _ := mem.Set().State("banner")
	assert.Equal(t, flags.Disabled, state)
	assert.Equal(t, partial.Problems(), mem.Set().Problems())

	// Writes that would make a valid flag invalid are refused.
	before = mem.Set()
	err = mem.SetWeights(ctx, "new-checkout", []flags.Weight{{Variant: "nope", Weight: 1}})
	require.Error(t, err)
	assert.Same(t, before, mem.Set())
}

// flagdTestkitInvalid are the testbed's flags that are invalid: the one whose
// $ref names no evaluator, which the testbed expects to answer PARSE_ERROR.
// cmd/rollsafe's flags validate test holds the same list.
var flagdTestkitInvalid = []string{"ref-to-nonexistent-evaluator-flag"}

// flagdTestkit is flagd's testbed flag file (see the NOTICE of the testbed).
const flagdTestkit = "testdata/flagd-testbed/evaluator/flags/testkit-flags.json"

// TestProviderServesTheFlagdTestkitFile loads flagd's testbed flag file
// (testdata/flagd-testbed, see its NOTICE) as one
// file: its invalid flags answer PARSE_ERROR, every other flag is served.
func TestProviderServesTheFlagdTestkitFile(t *testing.T) {
	noLeaks(t)
	data, err := os.ReadFile(flagdTestkit)
	require.NoError(t, err)
	set, err := flags.Parse(data)
	require.NotNil(t, set, "the file loads: %v", err)
	var ve *flags.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, flagdTestkitInvalid, ve.Keys())

	src, err := flags.NewFileSource(flagdTestkit)
	require.NoError(t, err)
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	ctx := context.Background()
	user := openfeature.NewEvaluationContext("user-1", map[string]any{"email": "a@b.c", "version": "1.2.3"})
	for _, key := range flagdTestkitInvalid {
		d, err := h.client.ObjectValueDetails(ctx, key, "dflt", user)
		require.Error(t, err, key)
		assert.Equal(t, openfeature.ParseErrorCode, d.ErrorCode, key)
		assert.Equal(t, "dflt", d.Value, key)
	}
	require.Len(t, set.Keys(), 59)
	for _, key := range set.Keys() {
		d, _ := h.client.ObjectValueDetails(ctx, key, "dflt", user)
		assert.NotEqual(t, openfeature.ParseErrorCode, d.ErrorCode, key)
		assert.NotEqual(t, openfeature.FlagNotFoundCode, d.ErrorCode, key)
	}
}

// parsedSource hands the provider what Parse returned, error and all.
type parsedSource struct{ data []byte }

func (s parsedSource) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	changed(flags.Parse(s.data))
	<-ctx.Done()
	return nil
}

// TestProviderServesASetDeliveredWithItsError: a source that passes Parse's
// answer on as it is, the ValidationError beside the set, still has its
// valid flags served.
func TestProviderServesASetDeliveredWithItsError(t *testing.T) {
	noLeaks(t)
	p, err := flags.NewProvider(parsedSource{[]byte(twoGoodOneBad)})
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	h.next(t, openfeature.ProviderReady)
	s, err := h.client.StringValue(context.Background(), "banner", "none", openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.Equal(t, "Welcome", s)
	d, err := h.client.BooleanValueDetails(context.Background(), "kill-search", true, openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.Equal(t, openfeature.ParseErrorCode, d.ErrorCode)
}
