package version

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Membership is an instance's entry in a [Registry], kept alive by a
// heartbeat goroutine until [Membership.Leave].
type Membership struct {
	r       *Registry
	id      string
	address string
	m       Manifest

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Join registers the instance at address with manifest m and heartbeats it
// every heartbeat interval ([WithHeartbeat]) on a goroutine that runs until
// Leave. A heartbeat that finds the entry gone (pruned after a long pause)
// registers it again. Heartbeat failures are logged, never fatal: the entry
// simply goes stale.
func (r *Registry) Join(ctx context.Context, address string, m Manifest) (*Membership, error) {
	if m.Version == "" {
		var err error
		if m, err = Resolve(m); err != nil {
			return nil, fmt.Errorf("version: registry: join: %w", err)
		}
	}
	id, err := r.Register(ctx, address, m)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	ms := &Membership{r: r, id: id, address: address, m: m, cancel: cancel, done: make(chan struct{})}
	go ms.loop(loopCtx)
	return ms, nil
}

// ID returns the registry entry's id.
func (ms *Membership) ID() string { return ms.id }

func (ms *Membership) loop(ctx context.Context) {
	defer close(ms.done)
	ticks := ms.r.ticks
	if ticks == nil {
		t := time.NewTicker(ms.r.interval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ticks:
			if !ok {
				return
			}
			ms.beat(ctx)
		}
	}
}

func (ms *Membership) beat(ctx context.Context) {
	err := ms.r.Heartbeat(ctx, ms.id)
	if errors.Is(err, ErrNotRegistered) {
		err = ms.r.upsert(ctx, ms.id, ms.address, ms.m)
	}
	if err != nil && ctx.Err() == nil {
		ms.r.logger.Warn("version: registry heartbeat failed", "id", ms.id, "err", err)
	}
}

// Leave stops the heartbeats, waits for the goroutine to end and removes the
// entry. Calling it again only removes the entry again.
func (ms *Membership) Leave(ctx context.Context) error {
	ms.once.Do(func() {
		ms.cancel()
		<-ms.done
	})
	return ms.r.Deregister(ctx, ms.id)
}
