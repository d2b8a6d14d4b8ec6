package flags

import (
	"context"
	"sync"
)

// MemorySource holds flag definitions in memory: for tests, examples, and
// programs that build their definitions themselves. It is a [Writer]. A
// change reaches every watching [Provider] before the method that made it
// returns, so the next evaluation sees it. Its methods are safe for
// concurrent use. Use [NewMemorySource]; the zero MemorySource is not usable.
type MemorySource struct {
	mu       sync.Mutex
	set      *Set
	refused  error  // the last refused change, until the next good one
	version  uint64 // counts changes, refused ones included
	watchers map[*memWatcher]struct{}
}

// memWatcher is one Watch call. Its lock makes deliveries to it one at a
// time, and each delivery reads the source's latest state, so that writers
// racing each other can never leave a watcher on an older set.
type memWatcher struct {
	mu          sync.Mutex
	changed     func(*Set, error)
	delivered   *Set
	seenRefusal uint64
	closed      bool
}

var _ Writer = (*MemorySource)(nil)

// NewMemorySource returns a source holding set. A nil set holds no flags. A
// set with invalid flags ([Set.Problems]) is served as a [FileSource] would
// serve it: those flags answer PARSE_ERROR, and writes to them are refused.
func NewMemorySource(set *Set) *MemorySource {
	if set == nil {
		set = &Set{}
	}
	return &MemorySource{set: set, watchers: map[*memWatcher]struct{}{}}
}

// Set returns the definitions the source holds now.
func (m *MemorySource) Set() *Set {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set
}

// Replace swaps the source's definitions for set (nil: no flags). A set with
// invalid flags ([Set.Problems]) is refused with a [*ValidationError]
// listing them, and changes nothing: an invalid definition is never written.
func (m *MemorySource) Replace(_ context.Context, set *Set) error {
	if set == nil {
		set = &Set{}
	}
	if ps := set.Problems(); ps != nil {
		return wrapf(&ValidationError{Problems: ps}, "replace flag definitions")
	}
	m.publish(func(*Set) (*Set, error) { return set, nil })
	return nil
}

// ReplaceJSON parses data as [Parse] does and swaps the source's definitions
// for the result. Definitions that do not parse or validate, a single
// invalid flag included, are refused: the error is returned and passed to
// every watcher, and the previous definitions stay. A write, unlike a load,
// is all or nothing.
func (m *MemorySource) ReplaceJSON(_ context.Context, data []byte) error {
	set, err := Parse(data)
	if err != nil {
		set = nil
	}
	m.publish(func(*Set) (*Set, error) { return set, err })
	return err
}

// SetState enables or disables the flag named key.
func (m *MemorySource) SetState(_ context.Context, key string, state State) error {
	return m.update(func(s *Set) (*Set, error) { return s.WithState(key, state) })
}

// SetWeights replaces the variants and weights of the fractional split of the
// flag named key; see [Writer].
func (m *MemorySource) SetWeights(_ context.Context, key string, weights []Weight) error {
	return m.update(func(s *Set) (*Set, error) { return s.WithWeights(key, weights) })
}

// update applies a write; a write that fails changes nothing and tells no
// watcher.
func (m *MemorySource) update(change func(*Set) (*Set, error)) error {
	var failed error
	m.publish(func(s *Set) (*Set, error) {
		next, err := change(s)
		if err != nil {
			failed = err
			return nil, nil
		}
		return next, nil
	})
	return failed
}

// publish applies change to the current set under the lock (so that two
// writers never lose one another's change), then delivers the result to every
// watcher outside it. change returns the new set, or the error that refuses
// a change; (nil, nil) changes nothing.
func (m *MemorySource) publish(change func(*Set) (*Set, error)) {
	m.mu.Lock()
	next, refused := change(m.set)
	if next == nil && refused == nil {
		m.mu.Unlock()
		return
	}
	if next != nil {
		m.set = next
	}
	m.refused = refused
	m.version++
	watchers := make([]*memWatcher, 0, len(m.watchers))
	for w := range m.watchers {
		watchers = append(watchers, w)
	}
	m.mu.Unlock()
	for _, w := range watchers {
		m.deliver(w)
	}
}

// deliver brings w up to date with the source.
func (m *MemorySource) deliver(w *memWatcher) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	m.mu.Lock()
	set, refused, version := m.set, m.refused, m.version
	m.mu.Unlock()
	if set != w.delivered {
		w.delivered = set
		w.changed(set, nil)
	}
	// A refusal is newer than the set it left in place: a good change
	// clears it.
	if refused != nil && version != w.seenRefusal {
		w.seenRefusal = version
		w.changed(nil, refused)
	}
}

// Watch implements [Source]. Changes are delivered on the goroutine that
// makes them.
func (m *MemorySource) Watch(ctx context.Context, changed func(*Set, error)) error {
	w := &memWatcher{changed: changed}
	m.mu.Lock()
	m.watchers[w] = struct{}{}
	m.mu.Unlock()
	m.deliver(w)
	<-ctx.Done()
	m.mu.Lock()
	delete(m.watchers, w)
	m.mu.Unlock()
	// Wait out a delivery in progress, and refuse later ones.
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}
