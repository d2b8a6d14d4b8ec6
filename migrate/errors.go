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
