package version

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidManifest: a manifest is malformed. Wrapped by [*FieldError].
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrIncompatible: a policy refused the peers it found. Wrapped by
	// [*IncompatibleError].
	ErrIncompatible = errors.New("incompatible peers")
	// ErrSchemaOutOfRange: the database's schema version is outside the
	// manifest's schema range. Wrapped by [*SchemaError].
	ErrSchemaOutOfRange = errors.New("schema version out of range")
	// ErrUnreachable: a peer did not answer (see [Fetch]).
	ErrUnreachable = errors.New("peer unreachable")
	// ErrClosed: the monitor was closed.
	ErrClosed = errors.New("closed")
)

// FieldError reports one bad field of a manifest, naming the field and the
// value found there.
type FieldError struct {
	Field  string // "service", "version", "requires.payments", "schema", ...
	Value  string // the bad value as found (Error quotes at most a few hundred bytes of it)
	Reason string // what is wrong with it, for a person
	Err    error  // the parser's error, when there is one
}

// Error names the field and quotes its value; a value or parser message
// longer than a few hundred bytes is cut and marked with its length.
func (e *FieldError) Error() string {
	msg := fmt.Sprintf("manifest field %q: %q %s", clip(e.Field), clip(e.Value), e.Reason)
	if e.Err != nil {
		msg += ": " + clip(e.Err.Error())
	}
	return msg
}

// Unwrap returns [ErrInvalidManifest] and the parser's error.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidManifest}
	}
	return []error{ErrInvalidManifest, e.Err}
}

// IncompatibleError is returned when a [Policy] refuses a negotiation. It
// carries the whole report, so that a caller can print every verdict.
type IncompatibleError struct {
	Policy Policy
	Report Report
	// Problems says, one line each, why the policy refused.
	Problems []string
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("%s %s refused by the %s policy: %s",
		e.Report.Self.Service, e.Report.Self.Version, e.Policy, strings.Join(e.Problems, "; "))
}

// Unwrap returns [ErrIncompatible].
func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// SchemaError reports a database schema version outside a manifest's range.
type SchemaError struct {
	Service string
	Version string // the service's version
	Schema  int64  // the database's current goose version
	Range   string // the manifest's schema constraint
	Reasons []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s %s needs a schema version in %q but the database is at %d: %s",
		e.Service, e.Version, e.Range, e.Schema, strings.Join(e.Reasons, "; "))
}

// Unwrap returns [ErrSchemaOutOfRange].
func (e *SchemaError) Unwrap() error { return ErrSchemaOutOfRange }
