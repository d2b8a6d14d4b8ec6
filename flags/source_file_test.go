package flags_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/flags"
)

func rampFile(weightNew int) string {
	return `{"flags": {"ramp": {"state": "ENABLED", "variants": {"new": "NEW", "old": "OLD"},
		"defaultVariant": "old", "targeting": {"fractional": [["new", ` + strconv.Itoa(weightNew) + `], ["old", ` + strconv.Itoa(100-weightNew) + `]]}}}}`
}

// fileHarness serves path through a FileSource and a Provider, with
// evaluators running until the test stops them.
type fileHarness struct {
	*pvHarness
	path string
}

func newFileHarness(t *testing.T, content string) (*fileHarness, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.json")
	if content != "" {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	src, err := flags.NewFileSource(path, flags.WithDebounce(20*time.Millisecond))
	require.NoError(t, err)
	p, err := flags.NewProvider(src)
	require.NoError(t, err)
	h, err := newHarness(t, p)
	return &fileHarness{pvHarness: h, path: path}, err
}

// evaluators evaluates "ramp" for many users on several goroutines and counts
// answers by value and errors, until stop is called.
type evaluators struct {
	counts sync.Map // value -> *atomic.Int64
	errs   atomic.Int64
	stop   func()
}

func (e *evaluators) count(v string) int64 {
	c, ok := e.counts.Load(v)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

func startEvaluators(t *testing.T, client *openfeature.Client) *evaluators {
	e := &evaluators{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				user := openfeature.NewEvaluationContext("user-"+strconv.Itoa(g)+strconv.Itoa(i%1000), nil)
				v, err := client.StringValue(context.Background(), "ramp", "DEFAULT", user)
				if err != nil {
					e.errs.Add(1)
				}
				c, _ := e.counts.LoadOrStore(v, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
			}
		})
	}
	var once sync.Once
	e.stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(e.stop)
	return e
}

func TestFileSourceAtomicRename(t *testing.T) {
	noLeaks(t)
	h, err := newFileHarness(t, rampFile(0))
	require.NoError(t, err)
	ev := startEvaluators(t, h.client)

	// A refused file arrives by rename: nothing changes.
	tmp := filepath.Join(filepath.Dir(h.path), ".flags.json.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(`{"flags": {"ramp": {"state": "ENABLED", "variants": {"new": "NEW", "old": 1}}}}`), 0o644))
	require.NoError(t, os.Rename(tmp, h.path))
	stale := h.next(t, openfeature.ProviderStale)
	assert.Contains(t, stale.message, `flag "ramp": variants.old`)
	assert.Zero(t, ev.count("NEW"), "a refused file changed an evaluation")

	// A good file by rename: every user moves to new.
	require.NoError(t, os.WriteFile(tmp, []byte(rampFile(100)), 0o644))
	require.NoError(t, os.Rename(tmp, h.path))
	h.next(t, openfeature.ProviderReady)
	changed := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"ramp"}, changed.changes)
	v, err := h.client.StringValue(context.Background(), "ramp", "DEFAULT", openfeature.NewEvaluationContext("someone", nil))
	require.NoError(t, err)
	assert.Equal(t, "NEW", v)

	ev.stop()
	assert.Zero(t, ev.errs.Load(), "evaluations failed during reloads")
	assert.Zero(t, ev.count("DEFAULT"))
	assert.Positive(t, ev.count("OLD"))
}

func TestFileSourceInPlacePartialWrite(t *testing.T) {
	noLeaks(t)
	h, err := newFileHarness(t, rampFile(0))
	require.NoError(t, err)
	ev := startEvaluators(t, h.client)

	next := []byte(rampFile(100))
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = f.Write(next[:len(next)/2])
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	// Half a file is refused; the old definitions keep answering.
	stale := h.next(t, openfeature.ProviderStale)
	assert.Contains(t, stale.message, "malformed JSON")
	assert.Equal(t, openfeature.StaleState, h.client.State())
	assert.Zero(t, ev.count("NEW"), "a half-written file changed an evaluation")

	_, err = f.Write(next[len(next)/2:])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	h.next(t, openfeature.ProviderReady)
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, openfeature.ReadyState, h.client.State())
	v, err := h.client.StringValue(context.Background(), "ramp", "DEFAULT", openfeature.NewEvaluationContext("someone", nil))
	require.NoError(t, err)
	assert.Equal(t, "NEW", v)

	ev.stop()
	assert.Zero(t, ev.errs.Load())
	assert.Zero(t, ev.count("DEFAULT"))
}

func TestFileSourceInvalidFirstFileThenFixed(t *testing.T) {
	noLeaks(t)
	h, err := newFileHarness(t, `{"flags": {"ramp": {"state": "ENABLED", "variants": {}}}}`)
	require.ErrorContains(t, err, `flag "ramp": variants: must name at least one variant`)
	assert.Equal(t, openfeature.ErrorState, h.client.State())
	d, err := h.client.StringValueDetails(context.Background(), "ramp", "DEFAULT", openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.Equal(t, openfeature.ParseErrorCode, d.ErrorCode)
	assert.Equal(t, "DEFAULT", d.Value)

	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(0)), 0o644))
	h.next(t, openfeature.ProviderReady)
	assert.Equal(t, openfeature.ReadyState, h.client.State())
	v, err := h.client.StringValue(context.Background(), "ramp", "DEFAULT", openfeature.NewEvaluationContext("u", nil))
	require.NoError(t, err)
	assert.Equal(t, "OLD", v)
}

func TestFileSourceMissingFile(t *testing.T) {
	noLeaks(t)
	h, err := newFileHarness(t, "")
	require.ErrorIs(t, err, fs.ErrNotExist)
	d, err := h.client.StringValueDetails(context.Background(), "ramp", "DEFAULT", openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.Equal(t, openfeature.ProviderNotReadyCode, d.ErrorCode)

	// The file appears: the provider recovers.
	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(100)), 0o644))
	h.next(t, openfeature.ProviderReady)
	v, err := h.client.StringValue(context.Background(), "ramp", "DEFAULT", openfeature.NewEvaluationContext("u", nil))
	require.NoError(t, err)
	assert.Equal(t, "NEW", v)
}

func TestFileSourceLoad(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, content string
		err                 error
	}{
		{"json", "a.json", rampFile(50), nil},
		{"yaml", "a.yaml", "flags:\n  ramp:\n    state: ENABLED\n    variants: {a: 1}\n", nil},
		{"invalid", "b.json", `{"flags": 1}`, flags.ErrInvalid},
		{"missing", "none.json", "", fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if tc.content != "" {
				require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
			}
			src, err := flags.NewFileSource(path)
			require.NoError(t, err)
			assert.Equal(t, path, src.Path())
			set, err := src.Load(context.Background())
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Nil(t, set)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []string{"ramp"}, set.Keys())
		})
	}
}

func TestNewFileSourceRefusesBadArguments(t *testing.T) {
	_, err := flags.NewFileSource("")
	assert.ErrorContains(t, err, "empty path")
	_, err = flags.NewFileSource("f.json", flags.WithDebounce(0))
	assert.ErrorContains(t, err, "not positive")
	_, err = flags.NewFileSource("f.json", flags.WithFileLogger(nil))
	assert.ErrorContains(t, err, "nil logger")
	src, err := flags.NewFileSource("f.json", flags.WithDebounce(time.Second), nil)
	assert.EqualError(t, err, "flags: NewFileSource f.json: nil option")
	assert.Nil(t, src)
}

func TestFileSourceWatchFailsWithoutDirectory(t *testing.T) {
	src, err := flags.NewFileSource(filepath.Join(t.TempDir(), "no", "such", "flags.json"))
	require.NoError(t, err)
	err = src.Watch(context.Background(), func(*flags.Set, error) {})
	assert.ErrorContains(t, err, "watch directory")
}
