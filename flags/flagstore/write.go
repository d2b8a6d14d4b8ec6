package flagstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/dbtx"
)

// Apply makes the change: its edits, in order, in one transaction that
// raises the store's revision by one however many flags it changes, and
// records who made it, why and what each flag was before and after. It is
// all or nothing: when any edit is refused, or the transaction fails,
// nothing is written.
//
// Every flag an edit touches must validate as a loaded flag does; else a
// [*flags.ValidationError] names the flag and field. Flags the change does
// not touch are written back as they were, even an invalid one changed by
// hand. Apply returns an error wrapping [ErrInvalidChange] for a malformed
// change, [flags.ErrNotFound] for an edit of a flag the store does not
// hold, and [ErrConflict] (a [*ConflictError]) when Change.Base is set and
// the store is no longer at it. A change that changes nothing writes and
// records nothing and returns the current revision.
//
// On PostgreSQL the transaction notifies [Channel] ([WithChannel]) with the new revision,
// which watchers with a [Notifier] receive at commit.
func (s *Store) Apply(ctx context.Context, c Change) (Result, error) {
	if err := c.check(false); err != nil {
		return Result{}, err
	}
	return s.write(ctx, c, func(cur *contents) (*contents, error) {
		next := cur.clone()
		for _, e := range c.Edits {
			if err := e.apply(next); err != nil {
				return nil, err
			}
		}
		return next, nil
	})
}

// Import replaces the whole set with the flagd document data (a flag file,
// as [Store.Export] writes it): flags it does not hold are deleted, its
// $evaluators and metadata replace the store's. It is written as one
// change, with c's actor, reason, release id and base; c takes no edits.
// Unlike a load, an import is all or nothing: a document with any invalid
// flag is refused ([*flags.ValidationError] or [*flags.DocumentError]),
// and nothing is written.
func (s *Store) Import(ctx context.Context, data []byte, c Change) (Result, error) {
	if err := c.check(true); err != nil {
		return Result{}, err
	}
	imported, err := fromDocument(data)
	if err != nil {
		return Result{}, fmt.Errorf("flagstore: import: %w", err)
	}
	return s.write(ctx, c, func(*contents) (*contents, error) { return imported.clone(), nil })
}

// Author is who writes, and why, through the [flags.Writer] methods of a
// [Store], which take no [Change].
type Author struct {
	Actor, Reason, ReleaseID string
}

type authorKey struct{}

// WithAuthor returns a context that carries a: what [Store.SetState] and
// [Store.SetWeights] record as the change's actor, reason and release.
func WithAuthor(ctx context.Context, a Author) context.Context {
	return context.WithValue(ctx, authorKey{}, a)
}

func authorFrom(ctx context.Context) (Author, error) {
	a, ok := ctx.Value(authorKey{}).(Author)
	if !ok {
		return Author{}, fmt.Errorf("flagstore: %w", ErrNoAuthor)
	}
	return a, nil
}

// SetState implements [flags.Writer]: it enables or disables the flag
// named key, as one change whose author the context carries
// ([WithAuthor]); without one it returns [ErrNoAuthor].
func (s *Store) SetState(ctx context.Context, key string, state flags.State) error {
	return s.applyAs(ctx, SetState(key, state))
}

// SetWeights implements [flags.Writer], as SetState does.
func (s *Store) SetWeights(ctx context.Context, key string, weights []flags.Weight) error {
	return s.applyAs(ctx, SetWeights(key, weights...))
}

func (s *Store) applyAs(ctx context.Context, e Edit) error {
	a, err := authorFrom(ctx)
	if err != nil {
		return err
	}
	_, err = s.Apply(ctx, Change{Actor: a.Actor, Reason: a.Reason, ReleaseID: a.ReleaseID, Edits: []Edit{e}})
	return err
}

// write runs one change: edit turns the current contents into the next.
func (s *Store) write(ctx context.Context, c Change, edit func(*contents) (*contents, error)) (Result, error) {
	if err := s.ensure(ctx); err != nil {
		return Result{}, err
	}
	// SQLite's write lock can be busy beyond the busy timeout (a deferred
	// transaction that read first gets SQLITE_BUSY at once): tried again.
	var res Result
	err := dbtx.RetryBusy(ctx, s.d, func() error {
		var err error
		res, err = s.writeOnce(ctx, c, edit)
		return err
	})
	return res, err
}

func (s *Store) writeOnce(ctx context.Context, c Change, edit func(*contents) (*contents, error)) (res Result, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("flagstore: begin write: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	now := s.cfg.now().UnixMilli()
	// Raising the revision first takes the row lock (the write lock on
	// SQLite) before anything is read, so that writers queue here and each
	// reads what the one before it committed.
	if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE `+tableRevision+` SET revision = revision + 1, updated_at = ? WHERE id = 1`), now); err != nil {
		return Result{}, fmt.Errorf("flagstore: lock the revision: %w", err)
	}
	cur, err := s.read(ctx, tx)
	if err != nil {
		return Result{}, err
	}
	rev := cur.revision
	cur.revision = rev - 1
	if c.Base != nil && *c.Base != cur.revision {
		return Result{}, &ConflictError{Base: *c.Base, Current: cur.revision}
	}
	next, err := edit(cur)
	if err != nil {
		return Result{}, err
	}
	next.revision = rev
	keys, evChanged, mdChanged := diff(cur, next)
	if err := validate(next, c.Edits, keys); err != nil {
		return Result{}, err
	}
	if len(keys) == 0 && !evChanged && !mdChanged {
		return Result{Revision: cur.revision}, nil
	}
	if err := s.writeRows(ctx, tx, next, keys, now); err != nil {
		return Result{}, err
	}
	if evChanged || mdChanged {
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE `+tableRevision+` SET evaluators = ?, metadata = ? WHERE id = 1`),
			string(next.evaluators), string(next.metadata)); err != nil {
			return Result{}, fmt.Errorf("flagstore: write the shared rules: %w", err)
		}
	}
	if keys == nil {
		keys = []string{} // a change of the shared rules alone: its record names no flag, as [] rather than null
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return Result{}, fmt.Errorf("flagstore: encode the changed keys: %w", err)
	}
	before, after := auditDocument(cur, keys), auditDocument(next, keys)
	if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO `+tableChanges+
		` (revision, changed_at, actor, reason, release_id, flag_keys, before_doc, after_doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		rev, now, c.Actor, c.Reason, c.ReleaseID, string(keysJSON), string(before), string(after)); err != nil {
		return Result{}, fmt.Errorf("flagstore: record the change: %w", err)
	}
	if s.d == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, s.cfg.channel, strconv.FormatInt(rev, 10)); err != nil {
			return Result{}, fmt.Errorf("flagstore: notify %s: %w", s.cfg.channel, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("flagstore: commit revision %d: %w", rev, err)
	}
	committed = true
	return Result{Revision: rev, Keys: keys}, nil
}

// diff lists, sorted, the keys whose definitions differ between a and b,
// and whether the shared rules and the set metadata did.
func diff(a, b *contents) (keys []string, evaluators, metadata bool) {
	for k, def := range b.flags {
		if old, ok := a.flags[k]; !ok || !bytes.Equal(old, def) {
			keys = append(keys, k)
		}
	}
	for k := range a.flags {
		if _, ok := b.flags[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, !bytes.Equal(compact(a.evaluators), compact(b.evaluators)), !bytes.Equal(compact(a.metadata), compact(b.metadata))
}

// validate refuses next when its document is refused, or when a flag the
// change touched (an edit's key, or one whose definition changed) is
// invalid. A flag it did not touch may stay invalid: it was so before.
func validate(next *contents, edits []Edit, changed []string) error {
	_, err := flags.Parse(next.document(nil))
	if err == nil {
		return nil
	}
	var docErr *flags.DocumentError
	if errors.As(err, &docErr) {
		return fmt.Errorf("flagstore: %w", err)
	}
	var verr *flags.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("flagstore: %w", err)
	}
	touched := map[string]bool{}
	for _, k := range changed {
		touched[k] = true
	}
	for _, e := range edits {
		touched[e.Key] = true
	}
	var ps []flags.Problem
	for _, p := range verr.Problems {
		if touched[p.Flag] {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return fmt.Errorf("flagstore: %w", &flags.ValidationError{Problems: ps})
}

// writeRows writes the rows of the changed keys: upserts for those next
// holds, deletes for the others.
func (s *Store) writeRows(ctx context.Context, tx *sql.Tx, next *contents, keys []string, now int64) error {
	upsert := s.upsert()
	for _, k := range keys {
		def, ok := next.flags[k]
		var err error
		if ok {
			_, err = tx.ExecContext(ctx, upsert, k, string(def), next.revision, now)
		} else {
			_, err = tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM `+tableFlags+` WHERE flag_key = ?`), k)
		}
		if err != nil {
			return fmt.Errorf("flagstore: write flag %q: %w", k, err)
		}
	}
	return nil
}

func (s *Store) upsert() string {
	insert := `INSERT INTO ` + tableFlags + ` (flag_key, definition, revision, updated_at) VALUES (?, ?, ?, ?)`
	switch s.d {
	case dialect.MySQL:
		return insert + ` ON DUPLICATE KEY UPDATE definition = VALUES(definition), revision = VALUES(revision), updated_at = VALUES(updated_at)`
	case dialect.Postgres:
		return s.d.Rebind(insert + ` ON CONFLICT (flag_key) DO UPDATE SET definition = excluded.definition, revision = excluded.revision, updated_at = excluded.updated_at`)
	}
	return insert + ` ON CONFLICT (flag_key) DO UPDATE SET definition = excluded.definition, revision = excluded.revision, updated_at = excluded.updated_at`
}

// auditDocument is what the change record keeps of c: the flagd document
// of the changed keys (those c does not hold are absent), with the shared
// rules and the set metadata c had, so that the document parses alone and
// says exactly what the set was.
func auditDocument(c *contents, keys []string) []byte {
	return c.document(keys)
}
