package flags_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
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

	// A refused file (its unknown top-level field refuses it whole) arrives
	// by rename: nothing changes.
	tmp := filepath.Join(filepath.Dir(h.path), ".flags.json.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(`{"flags": {"ramp": {"state": "ENABLED", "variants": {"new": "NEW", "old": 1}}}, "flag": {}}`), 0o644))
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
	// The unknown top-level field refuses the document whole; the flag's
	// own problem is listed beside it.
	h, err := newFileHarness(t, `{"flags": {"ramp": {"state": "ENABLED", "variants": {}}}, "flag": {}}`)
	require.ErrorContains(t, err, `flag: unknown field`)
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

// newFileHarnessAt serves path (which must exist) through a FileSource with
// the given debounce and a Provider.
func newFileHarnessAt(t *testing.T, path string, debounce time.Duration) *fileHarness {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := flags.NewFileSource(path, flags.WithDebounce(debounce), flags.WithFileLogger(lg))
	require.NoError(t, err)
	p, err := flags.NewProvider(src, flags.WithLogger(lg))
	require.NoError(t, err)
	h, err := newHarness(t, p)
	require.NoError(t, err)
	return &fileHarness{pvHarness: h, path: path}
}

// serveRamp writes rampFile(0) to dir/flags.json, making dir if need be,
// and serves it as newFileHarnessAt does.
func serveRamp(t *testing.T, dir string, debounce time.Duration) *fileHarness {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(rampFile(0)), 0o644))
	return newFileHarnessAt(t, path, debounce)
}

// keepWriting calls write every few milliseconds until the test ends, so
// that a watch never sees a quiet moment.
func keepWriting(t *testing.T, write func() error) {
	t.Helper()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if err := write(); err != nil {
				t.Errorf("keep writing: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

func rampValue(t *testing.T, h *fileHarness) string {
	t.Helper()
	v, err := h.client.StringValue(context.Background(), "ramp", "DEFAULT", openfeature.NewEvaluationContext("someone", nil))
	require.NoError(t, err)
	return v
}

// A log file beside the flag file, appended without pause, once held every
// reload off for as long as it was written: the debounce restarted on each
// event in the directory.
func TestFileSourceIgnoresOtherFilesOfTheDirectory(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	h := serveRamp(t, dir, 200*time.Millisecond)
	log, err := os.OpenFile(filepath.Join(dir, "service.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	t.Cleanup(func() { log.Close() })
	keepWriting(t, func() error { _, err := log.WriteString("a log line\n"); return err })

	// The kill-switch edit loads while the log is still being written.
	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(100)), 0o644))
	changed := h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, []string{"ramp"}, changed.changes)
	assert.Equal(t, "NEW", rampValue(t, h))
}

// A flag file touched without pause is still read: the wait after the first
// change is capped.
func TestFileSourceReadsAFileThatKeepsChanging(t *testing.T) {
	noLeaks(t)
	h := serveRamp(t, t.TempDir(), 100*time.Millisecond)
	keepWriting(t, func() error { now := time.Now(); return os.Chtimes(h.path, now, now) })

	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(100)), 0o644))
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "NEW", rampValue(t, h))
}

// A Kubernetes ConfigMap volume: flags.json -> ..data/flags.json, ..data ->
// a timestamped directory; an update writes a new directory and renames a
// new ..data link over the old one. No event names flags.json.
func TestFileSourceFollowsASwappedLink(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	version := func(name, content string) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "flags.json"), []byte(content), 0o644))
	}
	version("..2026_01_01_00_00_00.1", rampFile(0))
	require.NoError(t, os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")))
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.Symlink(filepath.Join("..data", "flags.json"), path))
	h := newFileHarnessAt(t, path, 20*time.Millisecond)
	// Writes beside it do not matter.
	keepWriting(t, func() error { return os.WriteFile(filepath.Join(dir, "noise"), []byte("x"), 0o644) })
	assert.Equal(t, "OLD", rampValue(t, h))

	swap := func(name string) {
		require.NoError(t, os.Symlink(name, filepath.Join(dir, "..data_tmp")))
		require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	}
	version("..2026_01_01_00_00_01.2", rampFile(100))
	swap("..2026_01_01_00_00_01.2")
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")))
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "NEW", rampValue(t, h))

	// And again: the watch follows the new target.
	version("..2026_01_01_00_00_02.3", rampFile(0))
	swap("..2026_01_01_00_00_02.3")
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_01.2")))
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "OLD", rampValue(t, h))
}

// A link to a file in another directory: edits of the file it points to are
// seen.
func TestFileSourceFollowsALinkToAnotherDirectory(t *testing.T) {
	noLeaks(t)
	real := filepath.Join(t.TempDir(), "real.json")
	require.NoError(t, os.WriteFile(real, []byte(rampFile(0)), 0o644))
	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.Symlink(real, path))
	h := newFileHarnessAt(t, path, 20*time.Millisecond)

	require.NoError(t, os.WriteFile(real, []byte(rampFile(100)), 0o644))
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "NEW", rampValue(t, h))
}

// A flag directory removed and made again once lost the watch for good: one
// STALE, then nothing.
func TestFileSourceDirectoryRemovedAndRecreated(t *testing.T) {
	noLeaks(t)
	dir := filepath.Join(t.TempDir(), "conf")
	h := serveRamp(t, dir, 20*time.Millisecond)

	require.NoError(t, os.RemoveAll(dir))
	stale := h.next(t, openfeature.ProviderStale)
	assert.Contains(t, stale.message, "no such file")
	assert.Equal(t, "OLD", rampValue(t, h), "the last good definitions keep serving")

	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(100)), 0o644))
	h.next(t, openfeature.ProviderReady)
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "NEW", rampValue(t, h))

	// Later edits load too.
	require.NoError(t, os.WriteFile(h.path, []byte(rampFile(0)), 0o644))
	h.next(t, openfeature.ProviderConfigChange)
	assert.Equal(t, "OLD", rampValue(t, h))
}

// When the directory and its parent are both gone, nothing can tell of their
// return: the provider says ERROR.
func TestFileSourceDirectoryAndParentRemoved(t *testing.T) {
	noLeaks(t)
	top := filepath.Join(t.TempDir(), "top")
	h := serveRamp(t, filepath.Join(top, "conf"), 20*time.Millisecond)

	require.NoError(t, os.RemoveAll(top))
	failed := h.next(t, openfeature.ProviderError)
	assert.Contains(t, failed.message, "is gone")
	assert.Equal(t, "OLD", rampValue(t, h), "the last good definitions keep serving")
}

// A directory made again, file and all, in the moment between the read that
// missed the file and the watch's return to the directory (the callback runs
// on the watching goroutine): the file is read all the same. The parent's
// event for the directory's return may be lost, since fsnotify drops the
// events of a watch removed before it read them; the source reads the file
// whenever the directory's watch is back.
func TestFileSourceDirectoryBackBeforeItsWatch(t *testing.T) {
	noLeaks(t)
	dir := filepath.Join(t.TempDir(), "conf")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(rampFile(0)), 0o644))
	src, err := flags.NewFileSource(path, flags.WithDebounce(20*time.Millisecond))
	require.NoError(t, err)

	type delivery struct {
		set *flags.Set
		err error
	}
	got := make(chan delivery, 10)
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() {
		watched <- src.Watch(ctx, func(set *flags.Set, err error) {
			if errors.Is(err, fs.ErrNotExist) {
				require.NoError(t, os.Mkdir(dir, 0o755))
				require.NoError(t, os.WriteFile(path, []byte(rampFile(100)), 0o644))
			}
			got <- delivery{set, err}
		})
	}()
	t.Cleanup(func() { cancel(); require.NoError(t, <-watched) })
	next := func() delivery {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-time.After(eventWait):
			t.Fatal("nothing delivered")
			return delivery{}
		}
	}
	first := next()
	require.NoError(t, first.err)

	require.NoError(t, os.RemoveAll(dir))
	missed := next()
	require.ErrorIs(t, missed.err, fs.ErrNotExist)
	back := next()
	require.NoError(t, back.err)
	data, err := back.set.MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `["new",100]`)
}
