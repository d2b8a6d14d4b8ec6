package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3/database"

	"github.com/rollsafe/rollsafe/dialect"
)

// statuses merges what goose's table says is applied (with when) and the
// Runner's records into one status per known migration, ascending by
// version.
func (r *Runner) statuses(applied map[int64]time.Time, recs map[int64]record) []MigrationStatus {
	out := make([]MigrationStatus, 0, len(r.migrations))
	for _, m := range r.migrations {
		st := MigrationStatus{Migration: m, State: Pending}
		at, isApplied := applied[m.Version]
		if isApplied {
			st.State, st.AppliedAt = Applied, at
		}
		if rec, ok := recs[m.Version]; ok {
			unfinished := rec.state == recStarted || rec.state == recFailed
			open := (rec.direction == "up" && !isApplied) || (rec.direction == "down" && isApplied)
			switch {
			case unfinished && open:
				st.State = Failed
				if rec.state == recStarted {
					st.State = Interrupted
				}
				st.Attempt = &Attempt{Direction: rec.direction, Statements: rec.statements, Err: rec.err, At: rec.at}
			case isApplied && rec.direction == "up":
				// Applied, or an up whose end was not recorded although
				// goose recorded the version: the file it ran is known.
				st.AppliedSource, st.AppliedSum = rec.source, rec.sum
			}
		}
		st.Changed = st.State == Applied && st.AppliedSum != "" && m.Sum != "" && st.AppliedSum != m.Sum
		out = append(out, st)
	}
	return out
}

// prepare is the first step of a locked call: it makes sure both tables
// exist, tidies records that a runner dying at the wrong moment left stale,
// and returns every migration's status. With checkChanged, changed
// migrations are logged, and refused with WithStrict.
func (r *Runner) prepare(ctx context.Context, q querier, checkChanged bool) ([]MigrationStatus, error) {
	if err := r.ensureTable(ctx); err != nil {
		return nil, err
	}
	if err := r.ensureRecords(ctx, q); err != nil {
		return nil, err
	}
	list, err := r.store.ListMigrations(ctx, r.db)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.cfg.table, err)
	}
	applied := make(map[int64]time.Time, len(list))
	for _, a := range list {
		if a.IsApplied {
			applied[a.Version] = time.Time{}
		}
	}
	recs, err := r.readRecords(ctx, q)
	if err != nil {
		return nil, err
	}
	for v, rec := range recs {
		_, isApplied := applied[v]
		switch {
		case rec.direction == "up" && rec.state == recStarted && isApplied:
			// goose recorded the version; the runner died before its record.
			rec.state = recApplied
			err = r.writeRecord(ctx, q, rec)
		case !isApplied && (rec.direction == "down" || rec.state == recApplied):
			// Rolled back (by a runner that died before deleting the row,
			// or by another tool).
			delete(recs, v)
			err = r.deleteRecord(ctx, q, v)
		}
		if err != nil {
			return nil, err
		}
	}
	sts := r.statuses(applied, recs)
	if !checkChanged {
		return sts, nil
	}
	var changed []MigrationStatus
	for _, s := range sts {
		if s.Changed {
			changed = append(changed, s)
			r.cfg.log.WarnContext(ctx, "applied migration changed on disk", "version", s.Version, "source", s.Name(),
				"applied_source", s.AppliedSource, "applied_sum", s.AppliedSum, "sum", s.Sum)
		}
	}
	if len(changed) > 0 && r.cfg.strict {
		return nil, &ChangedError{Changed: changed}
	}
	return sts, nil
}

// needsRepair returns a *RepairError for the first Failed or Interrupted
// migration that in(version) selects, nil when there is none.
func needsRepair(sts []MigrationStatus, in func(int64) bool) error {
	for _, s := range sts {
		if (s.State == Failed || s.State == Interrupted) && in(s.Version) {
			return &RepairError{Migration: s.Migration, State: s.State, Attempt: *s.Attempt}
		}
	}
	return nil
}

// recorder returns where a locked call writes its records: the lock's
// connection on PostgreSQL and MySQL (idle while goose works, so that no
// other connection is needed), the pool otherwise (SQLite's lock connection
// holds a write transaction on another file). inFlight reports whether
// statements may be recorded while goose runs: the pool must then have a
// connection to spare beside goose's and the lock's.
func (r *Runner) recorder(lock *sql.Conn) (q querier, inFlight bool) {
	if lock != nil && r.dialect != dialect.SQLite {
		return lock, true
	}
	held := 1
	if lock != nil {
		held++
	}
	limit := r.db.Stats().MaxOpenConnections
	return r.db, limit <= 0 || limit > held
}

// onStart records, before each statement goose starts, the statements of a
// migration that runs where they cannot be undone.
func (r *Runner) onStart(q querier, direction string) func(context.Context, int64, []string) {
	return func(ctx context.Context, version int64, started []string) {
		m, ok := r.migration(version)
		if !ok || !r.inFlight(m, direction) {
			return
		}
		rec := record{version: version, source: m.Name(), sum: m.Sum, state: recStarted, direction: direction,
			statements: recordStatements(started)}
		if err := r.writeRecord(ctx, q, rec); err != nil {
			r.cfg.log.ErrorContext(ctx, "recording the migration's progress failed", "version", version, "err", err)
		}
	}
}

// recordResults records the migrations a call completed: an applied one with
// its file's sum, a rolled-back one by removing its row. A failure to record
// is logged: goose's table, which says what is applied, is written already.
func (r *Runner) recordResults(ctx context.Context, q querier, res []Result) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	for _, x := range res {
		var err error
		if x.Direction == "up" {
			err = r.writeRecord(ctx, q, record{version: x.Version, source: x.Name(), sum: x.Sum, state: recApplied, direction: "up"})
		} else {
			err = r.deleteRecord(ctx, q, x.Version)
		}
		if err != nil {
			r.cfg.log.ErrorContext(ctx, "recording a migration failed", "version", x.Version, "err", err)
		}
	}
}

// recordFailure records a failed migration that may have left part of
// itself applied, and forgets an attempt that left nothing.
func (r *Runner) recordFailure(ctx context.Context, q querier, pe *PartialError) {
	ctx, cancel := bookkeeping(ctx)
	defer cancel()
	m := pe.Failed.Migration
	var err error
	if pe.mayRemain() {
		err = r.writeRecord(ctx, q, record{version: m.Version, source: m.Name(), sum: m.Sum, state: recFailed,
			direction: pe.Direction, statements: recordStatements(pe.Started), err: cause(pe.Err).Error()})
		pe.Recorded = err == nil
	} else {
		err = r.deleteRecord(ctx, q, m.Version)
	}
	if err != nil {
		r.cfg.log.ErrorContext(ctx, "recording a failed migration failed", "version", m.Version, "err", err)
	}
}

// Repair resolves the failed or interrupted run of the migration with the
// given version (see Failed and Interrupted), under the database lock, after
// an operator has made the schema match one side of it by hand:
//
//   - as Applied: the migration's changes are all there (completed by
//     hand). An up is recorded as applied, in goose's table too; a down is
//     forgotten, the version staying applied.
//   - as Pending: none of them is (undone by hand). An up is forgotten, so
//     that Up runs the migration again; a down is recorded as done, the
//     version removed from goose's table.
//
// Repair changes only the two tables, never the schema. A version no
// migration has is refused with ErrUnknownVersion, and a migration that is
// neither Failed nor Interrupted with an error naming its state.
func (r *Runner) Repair(ctx context.Context, version int64, as State) error {
	op := fmt.Sprintf("repair %d", version)
	if as != Applied && as != Pending {
		return fmt.Errorf("migrate: %s: mark the migration %q or %q, not %q", op, Applied, Pending, as)
	}
	if err := r.knownVersion(op, version); err != nil {
		return err
	}
	return r.withLock(ctx, op, func(ctx context.Context, lock *sql.Conn) error {
		q, _ := r.recorder(lock)
		sts, err := r.prepare(ctx, q, false)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", op, err)
		}
		var st MigrationStatus
		for _, s := range sts {
			if s.Version == version {
				st = s
			}
		}
		if st.State != Failed && st.State != Interrupted {
			return fmt.Errorf("migrate: %s: %s is %s, not failed or interrupted: nothing to repair", op, st.Name(), st.State)
		}
		m := st.Migration
		up := st.Attempt.Direction == "up"
		switch {
		case as == Applied && up:
			if err := r.store.Insert(ctx, r.db, database.InsertRequest{Version: version}); err != nil {
				return fmt.Errorf("migrate: %s: recording version %d in %s: %w", op, version, r.cfg.table, err)
			}
			err = r.writeRecord(ctx, q, record{version: version, source: m.Name(), sum: m.Sum, state: recApplied, direction: "up"})
		case as == Applied:
			err = r.writeRecord(ctx, q, record{version: version, source: m.Name(), sum: m.Sum, state: recApplied, direction: "up"})
		case up:
			err = r.deleteRecord(ctx, q, version)
		default:
			if err := r.store.Delete(ctx, r.db, version); err != nil {
				return fmt.Errorf("migrate: %s: removing version %d from %s: %w", op, version, r.cfg.table, err)
			}
			err = r.deleteRecord(ctx, q, version)
		}
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", op, err)
		}
		r.cfg.log.InfoContext(ctx, "migration repaired", "version", version, "source", m.Name(), "as", string(as),
			"attempt", st.Attempt.Direction)
		return nil
	})
}
