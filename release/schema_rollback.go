package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rollsafe/rollsafe/migrate"
)

// SchemaRunner is the migration runner a schema rollback drives:
// *migrate.Runner satisfies it.
type SchemaRunner interface {
	Status(ctx context.Context) ([]migrate.MigrationStatus, error)
	DownTo(ctx context.Context, version int64) ([]migrate.Result, error)
}

var _ SchemaRunner = (*migrate.Runner)(nil)

// ErrNoSchemaFloor: the plan has no schema floor, so nothing says how far
// down the schema may go; no schema rollback is made.
var ErrNoSchemaFloor = errors.New("the plan has no schemaFloor")

// SchemaRollback is what [RollbackSchema] did and did not do.
type SchemaRollback struct {
	// Floor is the plan's schema floor.
	Floor int64 `json:"floor"`
	// From and To are the schema version before and after.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// RolledBack are the migrations rolled back, most recent first.
	RolledBack []RolledBackMigration `json:"rolledBack"`
	// Kept are the applied migrations left in place above the floor, and
	// why (an irreversible migration, and everything below it). The floor
	// and the migrations under it always stay: the previous release runs
	// on them.
	Kept []KeptMigration `json:"kept"`
}

// RolledBackMigration is a migration a schema rollback rolled back.
type RolledBackMigration struct {
	Version  int64         `json:"version"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"durationNs"`
}

// KeptMigration is an applied migration a schema rollback left in place.
type KeptMigration struct {
	Version int64  `json:"version"`
	Name    string `json:"name"`
	Why     string `json:"why"`
}

// RollbackSchema rolls the schema back toward the plan's floor: every
// applied migration above floor, most recent first, down to but not past
// the first one marked irreversible, which stays, with everything under
// it. It never goes below floor. A floor of 0 is refused
// ([ErrNoSchemaFloor]): it would mean "everything", which no plan should
// say by omission. A migration that is Failed or Interrupted in the range
// stops it before anything is rolled back (the runner's error; repair it
// first).
func RollbackSchema(ctx context.Context, runner SchemaRunner, floor int64) (SchemaRollback, error) {
	out := SchemaRollback{Floor: floor, RolledBack: []RolledBackMigration{}, Kept: []KeptMigration{}}
	if floor <= 0 {
		return out, fmt.Errorf("release: schema rollback: %w: set it to the version the previous release runs on", ErrNoSchemaFloor)
	}
	sts, err := runner.Status(ctx)
	if err != nil {
		return out, fmt.Errorf("release: schema rollback: %w", err)
	}
	var above []migrate.MigrationStatus
	for _, s := range sts {
		if s.State == migrate.Pending {
			continue
		}
		out.From = max(out.From, s.Version)
		if s.Version > floor {
			above = append(above, s)
		}
	}
	slices.SortFunc(above, func(a, b migrate.MigrationStatus) int { return cmp.Compare(b.Version, a.Version) })
	target := floor
	for i, s := range above {
		if s.Irreversible == "" {
			continue
		}
		target = s.Version
		out.Kept = append(out.Kept, KeptMigration{s.Version, s.Name(), "marked irreversible: " + s.Irreversible})
		for _, below := range above[i+1:] {
			out.Kept = append(out.Kept, KeptMigration{below.Version, below.Name(),
				fmt.Sprintf("under the irreversible %s, which stays", s.Name())})
		}
		break
	}
	out.To = out.From
	if target >= out.From {
		return out, nil
	}
	res, err := runner.DownTo(ctx, target)
	for _, m := range res {
		out.RolledBack = append(out.RolledBack, RolledBackMigration{Version: m.Version, Name: m.Name(), Duration: m.Duration})
	}
	out.To = target
	if err != nil {
		// Part of the range may be rolled back: say where the schema is.
		if now, serr := runner.Status(ctx); serr == nil {
			out.To = highestApplied(now)
		}
		return out, fmt.Errorf("release: schema rollback to %d: %w", target, err)
	}
	return out, nil
}

func highestApplied(sts []migrate.MigrationStatus) int64 {
	var v int64
	for _, s := range sts {
		if s.State != migrate.Pending {
			v = max(v, s.Version)
		}
	}
	return v
}
