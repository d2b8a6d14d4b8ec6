package migrate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/annotation"
)

// Errors callers branch on with errors.Is.
var (
	// ErrAnnotation: New found a malformed `-- rollsafe:` annotation in a
	// SQL migration. The error names the file and the line.
	ErrAnnotation = annotation.ErrSyntax
	// ErrNoMigrations: New found neither SQL files nor Go migrations.
	ErrNoMigrations = errors.New("no migrations found")
	// ErrIrreversible: Down or DownTo would have rolled back a migration
	// marked `-- rollsafe:irreversible`. The error is an *IrreversibleError
	// naming it; nothing was rolled back.
	ErrIrreversible = errors.New("migration is marked irreversible")
	// ErrUnknownVersion: UpTo, DownTo or Repair was given a version that no
	// migration has. Nothing was applied or rolled back.
	ErrUnknownVersion = errors.New("no migration has that version")
	// ErrNeedsRepair: Up, UpTo, Down or DownTo would run a migration whose
	// last run failed or was interrupted where its statements cannot be
	// undone (see Failed and Interrupted). The error is a *RepairError
	// naming it; nothing was run.
	ErrNeedsRepair = errors.New("migration needs repair")
	// ErrChanged: with WithStrict, an applied migration's file is not the
	// one that was applied. The error is a *ChangedError; nothing was run.
	ErrChanged = errors.New("applied migration changed on disk")
	// ErrPending: Ready found migrations that are not applied yet.
	ErrPending = errors.New("migrations pending")
	// ErrLockUnavailable: the database lock could not be taken for a reason
	// other than the context ending (a pool of one connection, an in-memory
	// SQLite database shared by several pools, a failing lock query).
	ErrLockUnavailable = errors.New("migration lock unavailable")
)

// IrreversibleError is returned by Down and DownTo when a migration marked
// `-- rollsafe:irreversible` lies in the range to roll back. It wraps
// ErrIrreversible. Nothing was rolled back.
type IrreversibleError struct {
	// Migration is the first migration, in rollback order, that is marked.
	Migration Migration
	// Target is the version that was asked for.
	Target int64
}

func (e *IrreversibleError) Error() string {
	return fmt.Sprintf("migrate: down to version %d stopped at %s: %v (reason: %q); nothing was rolled back",
		e.Target, e.Migration.Name(), ErrIrreversible, e.Migration.Irreversible)
}

func (e *IrreversibleError) Unwrap() error { return ErrIrreversible }

// PartialError is returned when a migration fails. It says which migrations
// of the same call were applied before it, which one failed, why, and which of
// its statements had run. It wraps the underlying error, which is goose's
// *goose.PartialError wrapping the driver's error.
type PartialError struct {
	Dialect dialect.Dialect
	// Direction is "up" or "down".
	Direction string
	// Applied are the migrations this call completed before the failure, in
	// the order they ran. They stay applied.
	Applied []Result
	// Failed is the migration that failed; never nil.
	Failed *Result
	// Started are the statements of the failed migration that were sent to
	// the database, in order. The last one is the statement that failed,
	// unless the failure came after all of them (recording the version).
	// Empty for a Go migration.
	Started []string
	// Transactional reports that the failed migration ran in a transaction.
	// On PostgreSQL and SQLite nothing of it remains. On MySQL, DDL statements
	// commit by themselves even inside a transaction.
	Transactional bool
	// Recorded reports that part of the migration may stay applied and that
	// the failure was recorded: Status shows the migration as Failed, and
	// Up and Down refuse to run it again until Repair.
	Recorded bool
	// Err is why it failed.
	Err error
}

// Statement returns the statement that failed, or "" when it is not known
// (a Go migration).
func (e *PartialError) Statement() string {
	if len(e.Started) == 0 {
		return ""
	}
	return e.Started[len(e.Started)-1]
}

// Ran returns the statements of the failed migration that completed before
// the failing one.
func (e *PartialError) Ran() []string {
	if len(e.Started) == 0 {
		return nil
	}
	return e.Started[:len(e.Started)-1]
}

// RolledBack reports whether nothing of the failed migration can remain: it
// ran in a transaction on a database whose DDL is transactional.
func (e *PartialError) RolledBack() bool {
	return e.Transactional && e.Dialect != dialect.MySQL
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %s %s failed: %v", e.Direction, e.Failed.Name(), cause(e.Err))
	if s := e.Statement(); s != "" {
		fmt.Fprintf(&b, " (in statement %d: %s)", len(e.Started), abbreviate(s))
	}
	switch {
	case e.RolledBack():
		b.WriteString("; its transaction was rolled back")
	case len(e.Ran()) > 0:
		why := "it ran without a transaction"
		if e.Transactional {
			why = "MySQL commits DDL, and what ran before it, by itself"
		}
		if n := len(e.Ran()); n == 1 {
			fmt.Fprintf(&b, "; %s, so 1 statement stays applied:", why)
		} else {
			fmt.Fprintf(&b, "; %s, so these %d statements stay applied:", why, n)
		}
		for i, s := range e.Ran() {
			fmt.Fprintf(&b, " [%d] %s", i+1, abbreviate(s))
		}
	case !e.Transactional:
		b.WriteString("; it ran without a transaction and no statement completed before the failure")
	}
	if e.Recorded {
		fmt.Fprintf(&b, "; it is recorded as failed and will not run again until repaired: %s", repairHint(e.Failed.Migration, e.Direction))
	}
	if len(e.Applied) == 0 {
		b.WriteString("; none applied before it")
	} else {
		names := make([]string, len(e.Applied))
		for i, r := range e.Applied {
			names[i] = r.Name()
		}
		fmt.Fprintf(&b, "; applied before it: %s", strings.Join(names, ", "))
	}
	return b.String()
}

func (e *PartialError) Unwrap() error { return e.Err }

// cause strips goose's wrapping, whose text repeats what PartialError says.
func cause(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || !isGoosePartial(err) {
			return err
		}
		err = u.Unwrap()
	}
}

// abbreviate puts a statement on one line of at most 80 characters.
func abbreviate(s string) string {
	s = strings.TrimRight(strings.Join(strings.Fields(s), " "), ";")
	if r := []rune(s); len(r) > 80 {
		return string(r[:77]) + "..."
	}
	return s
}

func asPartial(err error) (*PartialError, bool) {
	var pe *PartialError
	ok := errors.As(err, &pe)
	return pe, ok
}

// repairHint says what an operator does about a failed or interrupted
// migration.
func repairHint(m Migration, direction string) string {
	done := "fully applied"
	if direction == "down" {
		done = "fully rolled back"
	}
	return fmt.Sprintf("make the schema match %s %s or not run at all, by hand, then mark which with "+
		"`rollsafe migrate repair --version %d --as applied|pending DIR` (Runner.Repair)", m.Name(), done, m.Version)
}

// RepairError is returned by Up, UpTo, Down and DownTo when a migration they
// would run has a failed or interrupted run on record (see Failed and
// Interrupted). It wraps ErrNeedsRepair. Nothing was run.
type RepairError struct {
	Migration Migration
	// State is Failed or Interrupted.
	State   State
	Attempt Attempt
}

func (e *RepairError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %s %v: its %s ", e.Migration.Name(), ErrNeedsRepair, e.Attempt.Direction)
	if e.State == Interrupted {
		b.WriteString("was interrupted (its runner died)")
	} else {
		fmt.Fprintf(&b, "failed (%s)", e.Attempt.Err)
	}
	if n := len(e.Attempt.Statements); n > 0 {
		fmt.Fprintf(&b, " after starting %s:", plural(n, "statement", "statements"))
		for i, s := range e.Attempt.Statements {
			fmt.Fprintf(&b, " [%d] %s", i+1, abbreviate(s))
		}
		b.WriteString(", which may stay applied")
	}
	fmt.Fprintf(&b, "; nothing was run. To go on, %s", repairHint(e.Migration, e.Attempt.Direction))
	return b.String()
}

func (e *RepairError) Unwrap() error { return ErrNeedsRepair }

// ChangedError is returned by Up, UpTo, Down and DownTo with WithStrict when
// applied migrations' files are not the ones that were applied. It wraps
// ErrChanged. Nothing was run.
type ChangedError struct {
	// Changed are the applied migrations whose files changed, by version.
	Changed []MigrationStatus
}

func (e *ChangedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %v: ", ErrChanged)
	for i, c := range e.Changed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(changedText(c))
	}
	b.WriteString("; nothing was run (the database was migrated from other files, or a shipped migration was edited)")
	return b.String()
}

func (e *ChangedError) Unwrap() error { return ErrChanged }

func changedText(c MigrationStatus) string {
	if c.AppliedSource != c.Name() {
		return fmt.Sprintf("version %d was applied from %s (%s), the directory has %s (%s)",
			c.Version, c.AppliedSource, c.AppliedSum, c.Name(), c.Sum)
	}
	return fmt.Sprintf("%s was applied with %s, the file now has %s", c.Name(), c.AppliedSum, c.Sum)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
