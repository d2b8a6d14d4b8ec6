package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rollsafe/rollsafe/internal/tick"
	"github.com/rollsafe/rollsafe/version"
)

// Membership is an instance's entry in a [Registry], kept alive by a
// heartbeat goroutine until [Membership.Leave]. Each heartbeat carries the
// Status last set with [Membership.SetReady] and
// [Membership.SetFlagsRevision]; until then the instance reads as not ready,
// with no flag-set revision.
type Membership struct {
	r       *Registry
	id      string
	address string
	m       version.Manifest

	mu     sync.Mutex
	status Status

	// beat serializes heartbeats with Leave, so that no heartbeat in flight
	// registers the entry again after Leave removed it.
	beat sync.Mutex
	left bool

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	// wake asks the heartbeat goroutine for a heartbeat now (buffered: one
	// pending request is enough).
	wake chan struct{}
}

// Join registers the instance at address with manifest m and heartbeats it
// every heartbeat interval ([WithHeartbeat]) on a goroutine that runs until
// Leave. A heartbeat that finds the entry gone (pruned after a long pause)
// registers it again. Heartbeat failures are logged, never fatal: the entry
// simply goes stale. An empty m.Version is resolved from the build info.
func (r *Registry) Join(ctx context.Context, address string, m version.Manifest) (*Membership, error) {
	if m.Version == "" {
		var err error
		if m, err = version.Resolve(m); err != nil {
			return nil, fmt.Errorf("fleet: join: %w", err)
		}
	}
	id, err := r.Register(ctx, address, m)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	ms := &Membership{r: r, id: id, address: address, m: m, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go func() {
		defer close(ms.done)
		tick.EveryOrWake(loopCtx, r.cfg.heartbeat, ms.wake, ms.heartbeat)
	}()
	return ms, nil
}

// ID returns the registry entry's id.
func (ms *Membership) ID() string { return ms.id }

// SetReady sets the readiness that the following heartbeats carry; detail
// says why, for a person (a failing check's error, say), and may be empty.
// It does no I/O: the next heartbeat, or [Membership.Heartbeat], sends it.
func (ms *Membership) SetReady(ready bool, detail string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.status.Ready, ms.status.Detail = ready, detail
}

// SetFlagsRevision sets the flag-set revision that the following heartbeats
// carry: the revision of the flag definitions this instance now serves
// (flags.Provider.Revision; flags.WithRevisionListener calls it on every
// change). It does no I/O itself, but a revision different from the last
// one wakes the heartbeat goroutine, which sends it at once rather than at
// the next interval: an operator waiting for every instance to serve a
// change (rollsafe flags kill --wait) learns of it within a round trip.
func (ms *Membership) SetFlagsRevision(rev int64) {
	ms.mu.Lock()
	changed := ms.status.FlagsRevision == nil || *ms.status.FlagsRevision != rev
	ms.status.FlagsRevision = &rev
	ms.mu.Unlock()
	if changed {
		select {
		case ms.wake <- struct{}{}:
		default: // a heartbeat is already due; it reads the latest status
		}
	}
}

// Status returns the status the next heartbeat will carry.
func (ms *Membership) Status() Status {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	s := ms.status
	if s.FlagsRevision != nil {
		rev := *s.FlagsRevision
		s.FlagsRevision = &rev
	}
	return s
}

// Heartbeat sends a heartbeat now, with the current status, instead of
// waiting for the next one (after a change of readiness or flag set that
// others should see at once). An entry found gone is registered again,
// unless Leave removed it: after Leave, Heartbeat returns [ErrLeft] and
// writes nothing.
func (ms *Membership) Heartbeat(ctx context.Context) error {
	ms.beat.Lock()
	defer ms.beat.Unlock()
	if ms.left {
		return fmt.Errorf("fleet: heartbeat %s: %w", cut(ms.id, 80), ErrLeft)
	}
	s := ms.Status()
	err := ms.r.Heartbeat(ctx, ms.id, s)
	if errors.Is(err, ErrNotRegistered) {
		err = ms.r.upsert(ctx, ms.id, ms.address, ms.m, s)
	}
	return err
}

func (ms *Membership) heartbeat(ctx context.Context) {
	if err := ms.Heartbeat(ctx); err != nil && ctx.Err() == nil {
		ms.r.cfg.logger.Warn("fleet: heartbeat failed", "id", ms.id, "err", err)
	}
}

// Leave stops the heartbeats, waits for the goroutine to end and removes the
// entry. Calling it again only removes the entry again.
func (ms *Membership) Leave(ctx context.Context) error {
	ms.once.Do(func() {
		ms.cancel()
		<-ms.done
	})
	ms.beat.Lock()
	defer ms.beat.Unlock()
	ms.left = true
	return ms.r.Deregister(ctx, ms.id)
}
