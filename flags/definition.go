package flags

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// State says whether a flag is evaluated at all.
type State string

// The two states of a flag. A disabled flag evaluates to the caller's default
// value with reason DISABLED.
const (
	Enabled  State = "ENABLED"
	Disabled State = "DISABLED"
)

// Kind is the one JSON type that all variants of a flag share.
type Kind int

// The kinds of flags. A number flag answers Float evaluations, and Int
// evaluations whenever the chosen variant is a whole number.
const (
	KindBool Kind = iota + 1
	KindString
	KindNumber
	KindObject
)

// String returns the kind as the flagd format names its JSON type.
func (k Kind) String() string {
	switch k {
	case KindBool:
		return "boolean"
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindObject:
		return "object"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Weight is one variant's share of a fractional split. Weights are relative:
// {on 1, off 999} sends one user in a thousand to "on".
type Weight struct {
	Variant string
	Weight  int
}

// ErrInvalid is wrapped by every error that reports invalid flag
// definitions: a [*ValidationError] listing each problem, which a
// [*DocumentError] also unwraps to when the whole document is refused.
var ErrInvalid = errors.New("invalid flag definitions")

// ErrNotFound is returned by writes that name a flag the definitions do not
// hold.
var ErrNotFound = errors.New("flag not found")

// Problem is one thing wrong with flag definitions. Flag is empty for
// problems of the document itself; Field is the JSON field, dotted for nested
// ones ("variants.on", "targeting").
type Problem struct {
	Flag    string
	Field   string
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Flag != "" {
		fmt.Fprintf(&b, "flag %q: ", p.Flag)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, "%s: ", p.Field)
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in flag definitions, ordered by
// flag key and field. It wraps [ErrInvalid].
//
// Returned alone, next to a [Set], it reports flags kept out of that set:
// each invalid flag is left out while the valid ones load, as flagd loads
// them. Returned inside a [*DocumentError], with no Set, it lists why the
// whole document was refused.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return prefix + ErrInvalid.Error() + ": " + strings.Join(lines, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Keys returns, sorted, the keys of the flags the problems name; problems of
// the document itself name none.
func (e *ValidationError) Keys() []string {
	var keys []string
	for _, p := range e.Problems {
		if p.Flag != "" && !slices.Contains(keys, p.Flag) {
			keys = append(keys, p.Flag)
		}
	}
	slices.Sort(keys)
	return keys
}

// DocumentError refuses a whole document of flag definitions: it does not
// parse (JSON or YAML), it is not an object, its "flags" field is missing or
// not an object, its "$evaluators" field is not an object, its set-level
// "metadata" is invalid, or it holds a top-level field the format does not
// know. No flag of such a document loads: a source passes the error on and a
// [Provider] keeps serving the last good definitions. Problems lists every
// problem found, those of the document and of its flags alike; the error
// unwraps to that [*ValidationError], and so to [ErrInvalid].
type DocumentError struct {
	ValidationError
}

func (e *DocumentError) Unwrap() error { return &e.ValidationError }

// Set is a parsed, validated and immutable set of flag definitions: what a
// [Source] delivers and a [Provider] evaluates. Build one with [Parse] or
// [ParseYAML]. The zero Set holds no flags.
//
// A set may also know flags of its document that are invalid ([Set.Problems]):
// they are not among its [Set.Keys], and a [Provider] answers PARSE_ERROR for
// them, unless it keeps serving the last good definition it had.
type Set struct {
	flags map[string]*flag
	// invalid holds the flags of the document that did not validate, by
	// key. A key may be in flags too: a Provider keeps serving a flag's
	// last good definition when a reload makes it invalid.
	invalid  map[string]invalidFlag
	metadata map[string]any
	// evaluators keeps the shared rules, so that the set can be written back
	// in the flagd format with its $ref references intact.
	evaluators map[string]any
	// revision is the number a versioned source gave these definitions
	// ([Set.WithRevision]); 0 when it gave none.
	revision int64
	scratch  sync.Pool // of *evalScratch
}

// Revision returns the revision that the source gave the set with
// [Set.WithRevision], such as a flag store's revision number; 0 when it
// gave none, as a file's definitions have none.
func (s *Set) Revision() int64 {
	if s == nil {
		return 0
	}
	return s.revision
}

// WithRevision returns a copy of s that carries revision rev: what a
// versioned [Source] delivers, so that a [Provider] can report which
// revision it serves ([Provider.Revision]). s itself is not changed.
func (s *Set) WithRevision(rev int64) *Set {
	if s == nil {
		s = &Set{}
	}
	return &Set{
		flags:      s.flags,
		invalid:    s.invalid,
		metadata:   s.metadata,
		evaluators: s.evaluators,
		revision:   rev,
	}
}

// Keys returns the keys of the flags in the set, sorted.
func (s *Set) Keys() []string {
	if s == nil {
		return nil
	}
	keys := make([]string, 0, len(s.flags))
	for k := range s.flags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Problems returns the problems of the invalid flags of the set's document,
// ordered by flag key and field; nil when every flag is valid. Those flags
// are not among [Set.Keys], except where a [Provider] serves a flag's last
// good definition in their stead.
func (s *Set) Problems() []Problem {
	if s == nil || len(s.invalid) == 0 {
		return nil
	}
	var ps []Problem
	for _, k := range slices.Sorted(maps.Keys(s.invalid)) {
		ps = append(ps, s.invalid[k].problems...)
	}
	return ps
}

// Kind returns the kind of the flag named key, and false when the set has no
// such flag.
func (s *Set) Kind(key string) (Kind, bool) {
	f := s.lookup(key)
	if f == nil {
		return 0, false
	}
	return f.kind, true
}

// State returns the state of the flag named key, and false when the set has
// no such flag.
func (s *Set) State(key string) (State, bool) {
	f := s.lookup(key)
	if f == nil {
		return "", false
	}
	return f.state, true
}

// Metadata returns the set-level metadata. The map is shared: do not change
// it.
func (s *Set) Metadata() map[string]any {
	if s == nil {
		return nil
	}
	return s.metadata
}

func (s *Set) lookup(key string) *flag {
	if s == nil {
		return nil
	}
	return s.flags[key]
}

// invalidFlag is a flag of the document that did not validate.
type invalidFlag struct {
	problems []Problem // sorted by field
	// raw is the definition as decoded, written back by MarshalJSON so that
	// a write to another flag leaves this one as it was.
	raw any
}

// flag is one flag definition, prepared for evaluation.
type flag struct {
	key            string
	state          State
	kind           Kind
	variants       map[string]any // bool, string, float64, int64 or map[string]any
	defaultVariant string         // "" when the definition has none
	// targeting is the rule with every $ref resolved, decoded once so that
	// no evaluation re-parses JSON; nil when the flag has no targeting.
	targeting any
	// rawTargeting is the rule as written, $ref references kept.
	rawTargeting any
	// split is set when the whole rule is one fractional with literal
	// arguments: it is then evaluated without the JsonLogic interpreter.
	split *fractionalRule
	// compiled is the rule compiled for evaluation (see compileTargeting);
	// nil when split answers or the rule is left to the interpreter.
	compiled ruleNode
	// compiledReadsFlagd is set when the compiled rule may read $flagd:
	// other rules spare the clock read that builds it.
	compiledReadsFlagd bool
	// metadata is the set's metadata overlaid with the flag's own, built once
	// so that every evaluation hands out the same map.
	metadata     map[string]any
	flagMetadata map[string]any // the flag's own, for writing back
	// fingerprint identifies the definition as evaluated, to tell which flags
	// a new set changes.
	fingerprint string
	flagd       atomic.Pointer[flagdStamp]
}
