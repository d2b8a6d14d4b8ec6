package release

import (
	"errors"
	"fmt"
)

// Errors the Controller's methods return, wrapped; test them with
// errors.Is.
var (
	// ErrNotFound: no release has that id.
	ErrNotFound = errors.New("release not found")
	// ErrNotActive: the release is over (promoted or rolled back); only
	// Start begins it again.
	ErrNotActive = errors.New("release is not active")
	// ErrConflict: the release, or one of its flags, is in a release that
	// is running ([*FlagInUseError] says which).
	ErrConflict = errors.New("release conflicts with a running release")
	// ErrNotAllowed: the actor may not do that (a promote by someone the
	// plan's approval does not list).
	ErrNotAllowed = errors.New("not allowed")
	// ErrNoActor: a change without an actor or without a reason; the
	// ledger records who and why for every change.
	ErrNoActor = errors.New("actor and reason are required")
	// ErrFlag: a flag of the plan is not in the store, lacks the plan's
	// variants, or has targeting a release cannot move.
	ErrFlag = errors.New("flag cannot be moved by a release")
	// ErrRollbackPending: the rollback is decided and recorded
	// (RollingBack), and its write to the flag store failed; the driver
	// writes it at its next look.
	ErrRollbackPending = errors.New("rollback decided, not yet written")
	// errStale: the release row changed under the writer (another
	// instance drove it or a person acted); read it again.
	errStale = errors.New("release changed meanwhile")
)

// FlagInUseError says which running release holds a flag a new release
// wants. It unwraps to [ErrConflict].
type FlagInUseError struct {
	Flag, Release string
}

func (e *FlagInUseError) Error() string {
	return fmt.Sprintf("flag %q is moved by release %q, which is running", e.Flag, e.Release)
}

// Unwrap returns ErrConflict.
func (e *FlagInUseError) Unwrap() error { return ErrConflict }
