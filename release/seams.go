package release

import (
	"context"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
)

// FlagWriter is the flag store a release drives: it reads the current
// definitions and applies a change of several flags atomically, under one
// revision. *flagstore.Store satisfies it.
type FlagWriter interface {
	// Current returns the set the store holds now, with its revision.
	Current(ctx context.Context) (*flags.Set, error)
	// Apply makes every edit of c in one transaction, or none.
	Apply(ctx context.Context, c flagstore.Change) (flagstore.Result, error)
}

var _ FlagWriter = (*flagstore.Store)(nil)

// Instances lists the live instances of the fleet: what versions run
// before a release widens. *fleet.Registry satisfies it.
type Instances interface {
	List(ctx context.Context) ([]fleet.Instance, error)
}

var _ Instances = (*fleet.Registry)(nil)

// StatsSource is a guarded code path whose calls a [Recorder] samples:
// *flags.Switch[T] satisfies it for any T.
type StatsSource interface {
	Flag() string
	Stats() flags.SwitchStats
}

var _ StatsSource = (*flags.Switch[int])(nil)
