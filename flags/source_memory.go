package flags

import (
	"context"
	"sync"
)

// MemorySource holds flag definitions in memory: for tests, examples, and
// programs that build their definitions themselves. It is a [Writer]. Every
// change reaches each watching [Provider]; changes made faster than a
// watcher takes them are merged, the last one winning. Its methods are safe
// for concurrent use.
type MemorySource struct {
	mu      sync.Mutex
	set     *Set
	refused error         // the last refused change, until the next good one
	version uint64        // counts changes, refused ones included
	wake    chan struct{} // closed and replaced on every change
}

var _ Writer = (*MemorySource)(nil)

// NewMemorySource returns a source holding set. A nil set holds no flags.
func NewMemorySource(set *Set) *MemorySource {
	if set == nil {
		set = &Set{}
	}
	return &MemorySource{set: set, wake: make(chan struct{})}
}

// Set returns the definitions the source holds now.
func (m *MemorySource) Set() *Set {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set
}

// Replace swaps the source's definitions for set (nil: no flags).
func (m *MemorySource) Replace(_ context.Context, set *Set) error {
	if set == nil {
		set = &Set{}
	}
	m.publish(set, nil)
	return nil
}

// ReplaceJSON parses data as [Parse] does and swaps the source's definitions
// for the result. Definitions that do not parse are refused: the error is
// returned and passed to every watcher, and the previous definitions stay.
func (m *MemorySource) ReplaceJSON(_ context.Context, data []byte) error {
	set, err := Parse(data)
	if err != nil {
		m.publish(nil, err)
		return err
	}
	m.publish(set, nil)
	return nil
}

// SetState enables or disables the flag named key.
func (m *MemorySource) SetState(_ context.Context, key string, state State) error {
	return m.update(func(s *Set) (*Set, error) { return s.withState(key, state) })
}

// SetWeights replaces the variants and weights of the fractional split of the
// flag named key; see [Writer].
func (m *MemorySource) SetWeights(_ context.Context, key string, weights []Weight) error {
	return m.update(func(s *Set) (*Set, error) { return s.withWeights(key, weights) })
}

// update applies change under the lock, so that two writers never lose one
// another's change.
func (m *MemorySource) update(change func(*Set) (*Set, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := change(m.set)
	if err != nil {
		return err
	}
	m.publishLocked(next, nil)
	return nil
}

func (m *MemorySource) publish(set *Set, refused error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publishLocked(set, refused)
}

func (m *MemorySource) publishLocked(set *Set, refused error) {
	if set != nil {
		m.set = set
	}
	m.refused = refused
	m.version++
	close(m.wake)
	m.wake = make(chan struct{})
}

// Watch implements [Source].
func (m *MemorySource) Watch(ctx context.Context, changed func(*Set, error)) error {
	var delivered *Set
	var seenRefusal uint64
	for {
		m.mu.Lock()
		set, refused, version, wake := m.set, m.refused, m.version, m.wake
		m.mu.Unlock()
		if set != delivered {
			delivered = set
			changed(set, nil)
		}
		// A refusal is newer than the set it left in place: a good change
		// clears it.
		if refused != nil && version != seenRefusal {
			seenRefusal = version
			changed(nil, refused)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
	}
}
