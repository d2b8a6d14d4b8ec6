// Package tick runs a function at a fixed interval until a context ends: the
// one ticker loop of rollsafe's background goroutines (the version monitor,
// the fleet membership heartbeat).
//
// It reads the runtime clock; tests drive it inside testing/synctest bubbles.
package tick

import (
	"context"
	"time"
)

// Every calls fn(ctx) once per interval d (which must be positive) until ctx
// ends, and returns then. A call that runs longer than d delays the next one;
// missed ticks are dropped, not queued.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	EveryOrWake(ctx, d, nil, fn)
}

// EveryOrWake is [Every] that also calls fn at once whenever wake receives
// (a nil wake never does). The interval is not restarted by such a call.
func EveryOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		case <-wake:
			fn(ctx)
		}
	}
}
