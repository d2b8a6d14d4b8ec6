package flagstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rollsafe/rollsafe/flags"
)

// Errors that callers branch on; the methods that return them say when.
var (
	// ErrConflict: the change was based on a revision that is no longer
	// the store's (someone wrote in between). Read again and retry, or
	// give up. The error is a [*ConflictError].
	ErrConflict = errors.New("the flags changed since the revision the change was based on")
	// ErrInvalidChange: the change itself is malformed (no actor, no
	// reason, no edit, an empty key, a value too long).
	ErrInvalidChange = errors.New("invalid change")
	// ErrUnknownRevision: the store has not reached that revision.
	ErrUnknownRevision = errors.New("no such revision")
	// ErrNoAuthor: a write through the [flags.Writer] methods found no
	// author in its context ([WithAuthor]).
	ErrNoAuthor = errors.New("no author in the context: wrap it with flagstore.WithAuthor")
)

// ConflictError is the [ErrConflict] of a change based on revision Base
// when the store was at Current.
type ConflictError struct {
	Base, Current int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("flagstore: the change was based on revision %d, the store is at %d: %v", e.Base, e.Current, ErrConflict)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Change is one write to the store: its edits are applied in order, in one
// transaction, under one new revision, all or none.
type Change struct {
	// Actor is who makes the change (a person, a release controller);
	// required.
	Actor string
	// Reason says why, for the audit trail; required.
	Reason string
	// ReleaseID ties the change to a release; optional.
	ReleaseID string
	// Base, when set, is the revision the change was read at: the change is
	// refused with [ErrConflict] if the store has moved on since. nil
	// writes whatever the store's revision (new(int64(rev)) sets it).
	Base *int64
	// Edits are applied in order; a later edit of a key sees the earlier
	// ones. At least one.
	Edits []Edit
}

// Op is what an [Edit] does.
type Op int

const (
	// OpState sets a flag's state (Edit.State).
	OpState Op = iota + 1
	// OpWeights replaces the weights of a flag's fractional split
	// (Edit.Weights), keeping its bucketing expression.
	OpWeights
	// OpPut creates or replaces a flag's whole definition
	// (Edit.Definition, flagd JSON of one flag).
	OpPut
	// OpDelete removes a flag.
	OpDelete
)

var opNames = [...]string{OpState: "state", OpWeights: "weights", OpPut: "put", OpDelete: "delete"}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Edit is one edit of one flag. Build it with [SetState], [SetWeights],
// [Put] or [Delete].
type Edit struct {
	Op         Op
	Key        string
	State      flags.State     // OpState
	Weights    []flags.Weight  // OpWeights
	Definition json.RawMessage // OpPut
}

// SetState is the edit that enables or disables the flag named key.
func SetState(key string, state flags.State) Edit { return Edit{Op: OpState, Key: key, State: state} }

// SetWeights is the edit that sets the weights of the flag's fractional
// split; see [flags.Set.WithWeights].
func SetWeights(key string, weights ...flags.Weight) Edit {
	return Edit{Op: OpWeights, Key: key, Weights: weights}
}

// Put is the edit that creates the flag named key, or replaces its whole
// definition, with definition: the JSON of one flag in the flagd format.
func Put(key string, definition json.RawMessage) Edit {
	return Edit{Op: OpPut, Key: key, Definition: definition}
}

// Delete is the edit that removes the flag named key.
func Delete(key string) Edit { return Edit{Op: OpDelete, Key: key} }

// Result is what a write did.
type Result struct {
	// Revision is the store's revision after the write: the new one, or
	// the current one when the change changed nothing (then nothing was
	// written or recorded).
	Revision int64 `json:"revision"`
	// Keys are the flags whose definitions changed, sorted.
	Keys []string `json:"keys"`
}

// check refuses a malformed change before it reaches the database.
func (c *Change) check(wholeSet bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("flagstore: %w: "+format, append([]any{ErrInvalidChange}, args...)...)
	}
	switch {
	case strings.TrimSpace(c.Actor) == "":
		return bad("no actor: every change says who makes it")
	case strings.TrimSpace(c.Reason) == "":
		return bad("no reason: every change says why")
	case len(c.Actor) > MaxActorLen:
		return bad("actor is %d bytes, more than %d", len(c.Actor), MaxActorLen)
	case len(c.Reason) > MaxReasonLen:
		return bad("reason is %d bytes, more than %d", len(c.Reason), MaxReasonLen)
	case len(c.ReleaseID) > MaxReleaseIDLen:
		return bad("release id is %d bytes, more than %d", len(c.ReleaseID), MaxReleaseIDLen)
	case !utf8.ValidString(c.Actor) || !utf8.ValidString(c.Reason) || !utf8.ValidString(c.ReleaseID):
		return bad("actor, reason and release id must be UTF-8")
	case c.Base != nil && *c.Base < 0:
		return bad("base revision %d is negative", *c.Base)
	case wholeSet && len(c.Edits) > 0:
		return bad("an import replaces the whole set and takes no edits")
	case !wholeSet && len(c.Edits) == 0:
		return bad("no edits")
	}
	for i, e := range c.Edits {
		if err := checkKey(e.Key); err != nil {
			return bad("edit %d: %v", i+1, err)
		}
		switch e.Op {
		case OpState, OpWeights, OpDelete:
		case OpPut:
			if !json.Valid(e.Definition) {
				return bad("edit %d: the definition of flag %q is not JSON", i+1, e.Key)
			}
		default:
			return bad("edit %d of flag %q: unknown op %v", i+1, e.Key, e.Op)
		}
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty flag key")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("flag key %q is %d bytes, more than %d", clip(key, 40), len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("flag key %q is not UTF-8", key)
	}
	return nil
}

// apply applies one edit to c, validating the flag it touches exactly as a
// load would.
func (e Edit) apply(c *contents) error {
	switch e.Op {
	case OpDelete:
		if _, ok := c.flags[e.Key]; !ok {
			return fmt.Errorf("flagstore: delete flag %q: %w", e.Key, flags.ErrNotFound)
		}
		delete(c.flags, e.Key)
		return nil
	case OpPut:
		c.flags[e.Key] = compact(e.Definition)
		return nil
	}
	// The flag alone, with the shared rules it may refer to: parsing the
	// whole set for each edit would make a change of n flags cost n².
	// validate checks the whole set once, after the last edit.
	set, err := flags.Parse(c.document([]string{e.Key}))
	if set == nil {
		return err
	}
	var next *flags.Set
	if e.Op == OpState {
		next, err = set.WithState(e.Key, e.State)
	} else {
		next, err = set.WithWeights(e.Key, e.Weights)
	}
	if err != nil {
		return err
	}
	def, err := definitionIn(next, e.Key)
	if err != nil {
		return err
	}
	c.flags[e.Key] = def
	return nil
}
