// Package flagstore keeps a fleet's flag definitions in the database the
// service already has: one place to switch a flag, a change that reaches
// every instance within a poll interval (within milliseconds on PostgreSQL,
// with package pglisten), and an audit trail of who changed what and why.
//
// A [Store] is a [flags.Source]: give it to [flags.NewProvider] as you
// would a file, and the provider serves what the store holds.
//
//	store, err := flagstore.New(db, dialect.Postgres,
//		flagstore.WithNotifier(listener),           // pglisten.New(dsn)
//		flagstore.WithCacheFile("/var/lib/svc/flags.cache.json"))
//	provider, err := flags.NewProvider(store,
//		flags.WithRevisionListener(membership.SetFlagsRevision))
//
// # Writing
//
// [Store.Apply] makes a [Change]: several edits ([SetState], [SetWeights],
// [Put], [Delete]) in one transaction, under one new revision, all or
// nothing, each recorded with its actor and reason (both required) and,
// optionally, a release id. A change may name the revision it was read at
// (Change.Base): if another writer came in between, it is refused with
// [ErrConflict] instead of overwriting. Every definition is validated on
// write exactly as a [flags.Provider] validates it on load, so an invalid
// definition never reaches the table through rollsafe. [Store.Import] and
// [Store.Export] read and write whole flagd files.
//
// # Revisions and the change feed
//
// The whole set has one revision: 0 for an empty store, one more for each
// change however many flags it changes. Watching instances learn of a new
// revision by reading one row (rollsafe_flag_revision) every 250 ms,
// jittered ([WithPollInterval]), or, on PostgreSQL, at once: each write
// sends NOTIFY rollsafe_flags with the revision inside its transaction, and
// a [Notifier] (pglisten) wakes the watch, with a 5 s safety poll beside it.
// A reader serves revisions in order and never goes back to an older one.
// An instance reports the revision it serves through
// [flags.Provider.Revision], and fleet heartbeats carry it, so that an
// operator can wait until every instance serves a change.
//
// # Tables
//
// rollsafe_flags (flag_key, definition as flagd JSON, revision,
// updated_at), rollsafe_flag_changes (append-only: revision, changed_at,
// actor, reason, release_id, flag_keys, before_doc, after_doc) and
// rollsafe_flag_revision (one row: the revision, the shared $evaluators and
// the set metadata). The store creates them itself, idempotently, under a
// lock (an advisory lock on PostgreSQL, GET_LOCK on MySQL, the write lock
// on SQLite). Times are Unix milliseconds.
//
// On SQLite give the DSN a busy timeout (_pragma=busy_timeout(5000)):
// writers from several connections then queue instead of failing; a write
// that still finds the database locked is retried a few times.
//
// # Admin over HTTP
//
// [NewHandler] serves the store's flags and history, and kill, revive,
// weights and replace, as JSON; every write goes through an authorizer
// that names the actor.
package flagstore
