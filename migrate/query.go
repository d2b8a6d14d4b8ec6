package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
)

// The read-only methods below never take the database lock: a readiness
// probe must answer while another instance migrates. Each creates the version
// table when it does not exist yet, as goose does (Status creates
// rollsafe_migrations too).

// Status returns every migration with its state, ascending by version: what
// goose's table says is applied, and, from the Runner's own table
// (rollsafe_migrations), migrations whose last run failed or was interrupted
// (Failed, Interrupted, with the statements that had started) and applied
// migrations whose file changed since (Changed, also logged as a warning).
func (r *Runner) Status(ctx context.Context) ([]MigrationStatus, error) {
	st, err := r.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	applied := make(map[int64]time.Time, len(st))
	for _, s := range st {
		if s.State == goose.StateApplied {
			applied[s.Source.Version] = s.AppliedAt
		}
	}
	if err := r.ensureRecords(ctx, r.db); err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	recs, err := r.readRecords(ctx, r.db)
	if err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	out := r.statuses(applied, recs)
	for _, s := range out {
		if s.Changed {
			r.cfg.log.WarnContext(ctx, "applied migration changed on disk", "version", s.Version, "source", s.Name(),
				"applied_source", s.AppliedSource, "applied_sum", s.AppliedSum, "sum", s.Sum)
		}
	}
	return out, nil
}

// Version returns the highest version applied, 0 when none is. Its shape
// fits a func(context.Context) (int64, error) wherever the schema version is
// asked for.
func (r *Runner) Version(ctx context.Context) (int64, error) {
	v, err := r.provider.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: version: %w", err)
	}
	return v, nil
}

// Pending returns the migrations not applied yet, ascending by version. It
// includes a migration older than the newest applied one that was never
// applied (Up refuses to apply such a migration out of order).
func (r *Runner) Pending(ctx context.Context) ([]Migration, error) {
	if err := r.ensureTable(ctx); err != nil {
		return nil, fmt.Errorf("migrate: pending: %w", err)
	}
	applied, err := r.store.ListMigrations(ctx, r.db)
	if err != nil {
		return nil, fmt.Errorf("migrate: pending: reading %s: %w", r.cfg.table, err)
	}
	done := make(map[int64]bool, len(applied))
	for _, a := range applied {
		done[a.Version] = true
	}
	var out []Migration
	for _, m := range r.migrations {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}

// Ready is a readiness check: nil once every migration is applied, an error
// wrapping ErrPending while some are not (naming how many and the first),
// and the database's error when it cannot be read. Register it as critical:
// code that expects the new schema must not take traffic before it exists.
func (r *Runner) Ready(ctx context.Context) error {
	pending, err := r.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("migrate: %w: %d, starting with %s", ErrPending, len(pending), pending[0].Name())
	}
	return nil
}

// ensureTable creates goose's version table when it is missing (goose does it
// once per Runner).
func (r *Runner) ensureTable(ctx context.Context) error {
	_, err := r.provider.GetDBVersion(ctx)
	return err
}
