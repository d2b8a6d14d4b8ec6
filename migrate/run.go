package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pressly/goose/v3"
)

// Up applies every pending migration, in version order, under the database
// lock. It returns the migrations it applied (none when the database is up to
// date). When one fails, the error is a *PartialError and the results are
// those applied before it. Before running anything it refuses a Failed or
// Interrupted migration in its way (*RepairError, ErrNeedsRepair) and, with
// WithStrict, applied migrations whose files changed (*ChangedError,
// ErrChanged); without WithStrict those are logged as warnings.
func (r *Runner) Up(ctx context.Context) ([]Result, error) {
	return r.up(ctx, "up", math.MaxInt64)
}

// UpTo is Up that stops after version, applying it if it is pending.
// version must be the version of a migration the Runner knows: another is
// refused, before anything is applied, with an error wrapping
// ErrUnknownVersion.
func (r *Runner) UpTo(ctx context.Context, version int64) ([]Result, error) {
	op := fmt.Sprintf("up to %d", version)
	if err := r.knownVersion(op, version); err != nil {
		return nil, err
	}
	return r.up(ctx, op, version)
}

// knownVersion refuses a version that no migration has.
func (r *Runner) knownVersion(op string, version int64) error {
	if _, ok := r.migration(version); ok {
		return nil
	}
	first, last := r.migrations[0].Version, r.migrations[len(r.migrations)-1].Version
	return fmt.Errorf("migrate: %s: %w: %d (the migrations run from %d to %d)", op, ErrUnknownVersion, version, first, last)
}

// Down rolls back the most recently applied migration under the database
// lock, and returns it (nothing when no migration is applied). A migration
// marked `-- rollsafe:irreversible` is refused with an *IrreversibleError
// (ErrIrreversible) unless the Runner has WithAllowIrreversible. A failure is
// a *PartialError. Like Up, it refuses changed files with WithStrict, and a
// Failed or Interrupted down in its range (a failed up is no obstacle to a
// rollback).
func (r *Runner) Down(ctx context.Context) ([]Result, error) {
	return r.down(ctx, "down", -1)
}

// DownTo rolls back, most recent first, every applied migration above version
// (version itself stays applied; 0 rolls back everything). A version other
// than 0 that no migration has is refused with an error wrapping
// ErrUnknownVersion, before anything is rolled back. Before rolling
// anything back it checks the whole range: if a migration in it is marked
// `-- rollsafe:irreversible`, it rolls back nothing and returns an
// *IrreversibleError naming that migration, unless the Runner has
// WithAllowIrreversible.
func (r *Runner) DownTo(ctx context.Context, version int64) ([]Result, error) {
	op := fmt.Sprintf("down to %d", version)
	if version != 0 {
		if err := r.knownVersion(op, version); err != nil {
			return nil, err
		}
	}
	return r.down(ctx, op, version)
}

func (r *Runner) up(ctx context.Context, op string, target int64) (res []Result, err error) {
	ctx, end := r.tel.begin(ctx, "up", r.dialect)
	defer func() { end(res, err) }()
	err = r.withLock(ctx, op, func(ctx context.Context, lock *sql.Conn) error {
		q, inFlight := r.recorder(lock)
		sts, err := r.prepare(ctx, q, true)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", op, err)
		}
		if err := needsRepair(sts, func(v int64) bool { return v <= target }); err != nil {
			return err
		}
		ctx, log := withStatementLog(ctx)
		if inFlight {
			log.onStart = r.onStart(q, "up")
		}
		var out []*goose.MigrationResult
		var gerr error
		if target == math.MaxInt64 {
			out, gerr = r.provider.Up(ctx)
		} else {
			out, gerr = r.provider.UpTo(ctx, target)
		}
		if gerr != nil {
			res, err = r.failure(ctx, op, "up", gerr, log)
			r.recordResults(ctx, q, res)
			if pe, ok := asPartial(err); ok {
				r.recordFailure(ctx, q, pe)
			}
			return err
		}
		res = r.fromGooseAll(out)
		r.recordResults(ctx, q, res)
		r.logResults(ctx, res)
		return nil
	})
	return res, err
}

// down rolls back to target, or one step when target is -1.
func (r *Runner) down(ctx context.Context, op string, target int64) (res []Result, err error) {
	ctx, end := r.tel.begin(ctx, "down", r.dialect)
	defer func() { end(res, err) }()
	err = r.withLock(ctx, op, func(ctx context.Context, lock *sql.Conn) error {
		q, inFlight := r.recorder(lock)
		sts, err := r.prepare(ctx, q, true)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", op, err)
		}
		plan, next, err := r.rollbackPlan(ctx, target)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", op, err)
		}
		if len(plan) == 0 {
			return nil
		}
		// A failed up above the target is not in the way of a rollback
		// (it may be what the operator rolls back from); a failed down is.
		var downs []MigrationStatus
		for _, s := range sts {
			if s.Attempt != nil && s.Attempt.Direction == "down" {
				downs = append(downs, s)
			}
		}
		if err := needsRepair(downs, func(v int64) bool { return v > next }); err != nil {
			return err
		}
		if !r.cfg.allowIrreversible {
			for _, m := range plan {
				if m.Irreversible != "" {
					return &IrreversibleError{Migration: m, Target: next}
				}
			}
		}
		ctx, log := withStatementLog(ctx)
		if inFlight {
			log.onStart = r.onStart(q, "down")
		}
		var out []*goose.MigrationResult
		var gerr error
		if target < 0 {
			var one *goose.MigrationResult
			if one, gerr = r.provider.Down(ctx); gerr == nil {
				out = []*goose.MigrationResult{one}
			}
		} else {
			out, gerr = r.provider.DownTo(ctx, target)
		}
		if gerr != nil {
			res, err = r.failure(ctx, op, "down", gerr, log)
			r.recordResults(ctx, q, res)
			if pe, ok := asPartial(err); ok {
				r.recordFailure(ctx, q, pe)
			}
			return err
		}
		res = r.fromGooseAll(out)
		r.recordResults(ctx, q, res)
		r.logResults(ctx, res)
		return nil
	})
	return res, err
}

// rollbackPlan lists the migrations that goose will roll back, in the order
// it will, and the version the database will be at afterwards. target -1
// means one step. It mirrors goose: applied versions in the order they were
// applied, most recent first, down to (not including) target.
func (r *Runner) rollbackPlan(ctx context.Context, target int64) (plan []Migration, next int64, err error) {
	if err := r.ensureTable(ctx); err != nil {
		return nil, 0, err
	}
	applied, err := r.store.ListMigrations(ctx, r.db)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", r.cfg.table, err)
	}
	byOne := target < 0
	limit := max(target, 0)
	for _, a := range applied {
		if a.Version <= limit || (byOne && len(plan) == 1) {
			break
		}
		m, ok := r.migration(a.Version)
		if !ok {
			return nil, 0, fmt.Errorf("version %d is applied but no migration has it (was its file removed?)", a.Version)
		}
		plan = append(plan, m)
	}
	if !byOne {
		return plan, target, nil
	}
	if len(applied) > 1 {
		next = applied[1].Version
	}
	return plan, next, nil
}

// failure turns goose's error into the package's errors.
func (r *Runner) failure(ctx context.Context, op, direction string, err error, log *statementLog) ([]Result, error) {
	var pe *goose.PartialError
	if !errors.As(err, &pe) || pe.Failed == nil {
		return nil, fmt.Errorf("migrate: %s: %w", op, err)
	}
	failed := r.fromGoose(pe.Failed)
	noTx := failed.NoTxUp
	if direction == "down" {
		noTx = failed.NoTxDown
	}
	applied := r.fromGooseAll(pe.Applied)
	perr := &PartialError{
		Dialect:       r.dialect,
		Direction:     direction,
		Applied:       applied,
		Failed:        &failed,
		Started:       log.of(failed.Version),
		Transactional: !noTx,
		Err:           err,
	}
	r.cfg.log.ErrorContext(ctx, "migration failed", "version", failed.Version, "source", failed.Name(), "err", perr.Error())
	return applied, perr
}

func isGoosePartial(err error) bool {
	_, ok := err.(*goose.PartialError)
	return ok
}

func (r *Runner) logResults(ctx context.Context, res []Result) {
	for _, x := range res {
		r.cfg.log.InfoContext(ctx, "migration "+x.Direction, "version", x.Version, "source", x.Name(),
			"duration", x.Duration, "empty", x.Empty)
	}
}

// withLock runs fn while holding the database lock on a connection of its
// own, which fn receives (nil with WithoutLock). goose works on other
// connections of the pool, so the pool must allow at least two. Before fn
// runs, withLock waits until no statement of an earlier holder still runs
// (see newRunningLocker), and it lets goose's session take the running lock.
func (r *Runner) withLock(ctx context.Context, op string, fn func(context.Context, *sql.Conn) error) (err error) {
	if r.cfg.noLock {
		return fn(ctx, nil)
	}
	if limit, need := r.db.Stats().MaxOpenConnections, r.connsNeeded(); limit > 0 && limit < need {
		return fmt.Errorf("migrate: %s: %w: MaxOpenConns is %d, and the lock holds a connection while the migrations need %d more; allow %d or use WithoutLock",
			op, ErrLockUnavailable, limit, need-1, need)
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %s: connecting: %w", op, err)
	}
	l := newLocker(r.dialect, r.cfg.table)
	start := time.Now()
	r.cfg.log.DebugContext(ctx, "waiting for the migration lock", "op", op)
	if err := l.SessionLock(ctx, conn); err != nil {
		return errors.Join(fmt.Errorf("migrate: %s: %w", op, err), conn.Close())
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if uerr := l.SessionUnlock(uctx, conn); uerr != nil {
			// Closing the session releases the lock; returned to the
			// pool, the connection would keep it.
			err = errors.Join(err, fmt.Errorf("migrate: %s: %w", op, uerr), discardConn(conn))
		}
		if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, sql.ErrConnDone) {
			err = errors.Join(err, fmt.Errorf("migrate: %s: %w", op, cerr))
		}
	}()
	if err := r.waitForEarlierRunner(ctx, conn); err != nil {
		return fmt.Errorf("migrate: %s: %w", op, err)
	}
	waited := time.Since(start)
	r.tel.lockWaited(ctx, waited, r.dialect)
	r.cfg.log.DebugContext(ctx, "migration lock taken", "op", op, "waited", waited)
	return fn(context.WithValue(ctx, markKey{}, &mark{d: r.dialect, table: r.cfg.table}), conn)
}

// connsNeeded is how many connections a locked call uses at once: the lock's,
// goose's, and one more while a Go migration runs outside a transaction
// (goose gives it the pool, not its own connection).
func (r *Runner) connsNeeded() int {
	for _, m := range r.migrations {
		if m.Type == SourceGo && (m.NoTxUp || m.NoTxDown) {
			return 3
		}
	}
	return 2
}
