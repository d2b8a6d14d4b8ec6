package flags

import "context"

// Source supplies flag definitions to a [Provider]: a file ([FileSource]),
// memory ([MemorySource]), or a store of your own, such as a database table
// that a fleet of instances shares.
type Source interface {
	// Watch calls changed with the source's current definitions, then again
	// after every change, until ctx is done; it then returns nil. A Set may
	// hold invalid flags ([Set.Problems], as [Parse] returns it): deliver it,
	// with or without Parse's error, and the receiver serves its valid flags. A change that cannot be used
	// at all (a document refused whole, [DocumentError]; a file that cannot
	// be read) is passed as a nil Set and the error that refused it: the
	// receiver keeps what it had. A source that numbers its changes, as a
	// flag store does, delivers each Set with [Set.WithRevision]. Watch
	// returns an error when it can no longer follow changes. changed is called from one goroutine at a
	// time; Watch must not return before its last call to changed has.
	Watch(ctx context.Context, changed func(*Set, error)) error
}

// Writer is a [Source] whose definitions can be changed from Go: what a
// rollout controller needs to switch a flag off or widen a split. Both
// methods change the definitions for every Provider watching the source and
// return [ErrNotFound] (wrapped) for an unknown key.
type Writer interface {
	Source
	// SetState enables or disables the flag named key.
	SetState(ctx context.Context, key string, state State) error
	// SetWeights replaces the variants and weights of the flag's fractional
	// split, keeping its bucketing expression. The flag's targeting must hold
	// exactly one fractional, outside any shared $evaluators rule; the
	// weights must name variants of the flag.
	SetWeights(ctx context.Context, key string, weights []Weight) error
}
