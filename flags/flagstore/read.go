package flagstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/flags"
)

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// read returns the store's contents. One statement reads the revision row
// and every flag, so that what it returns is one revision's, on every
// dialect, without a transaction.
func (s *Store) read(ctx context.Context, q querier) (*contents, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.revision, r.evaluators, r.metadata, f.flag_key, f.definition
FROM `+tableRevision+` r LEFT JOIN `+tableFlags+` f ON 1 = 1
WHERE r.id = 1`)
	if err != nil {
		return nil, fmt.Errorf("flagstore: read the flags: %w", err)
	}
	defer rows.Close()
	var c *contents
	for rows.Next() {
		var (
			rev       int64
			ev, md    string
			key, defn sql.NullString
		)
		if err := rows.Scan(&rev, &ev, &md, &key, &defn); err != nil {
			return nil, fmt.Errorf("flagstore: read the flags: %w", err)
		}
		if c == nil {
			c = newContents()
			c.revision, c.evaluators, c.metadata = rev, json.RawMessage(ev), json.RawMessage(md)
		}
		if key.Valid {
			c.flags[key.String] = json.RawMessage(defn.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flagstore: read the flags: %w", err)
	}
	if c == nil {
		return nil, fmt.Errorf("flagstore: the revision row of %s is missing (deleted by hand?)", tableRevision)
	}
	return c, nil
}

// revision reads the revision row alone: what a watch polls.
func (s *Store) revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.db.QueryRowContext(ctx, `SELECT revision FROM `+tableRevision+` WHERE id = 1`).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("flagstore: the revision row of %s is missing (deleted by hand?)", tableRevision)
	}
	if err != nil {
		return 0, fmt.Errorf("flagstore: read the revision: %w", err)
	}
	return rev, nil
}

// Revision returns the store's current revision: 0 for a store never
// written, then one more for every change.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	return s.revision(ctx)
}

// Current returns the store's current flag set, carrying its revision
// ([flags.Set.Revision]), and the error naming its invalid flags if it
// holds any (rows changed by hand): they are left out of the set, as a
// watching [flags.Provider] leaves them out.
func (s *Store) Current(ctx context.Context) (*flags.Set, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	c, err := s.read(ctx, s.db)
	if err != nil {
		return nil, err
	}
	return c.set()
}

// Snapshot returns the flag set as it was at revision rev (0: empty), as
// the audit trail records it: the current set with every later change
// undone. A revision above the current one is [ErrUnknownRevision]. Rows
// changed by hand, outside rollsafe, are not in the trail; Snapshot sees
// them only from the next recorded change on.
func (s *Store) Snapshot(ctx context.Context, rev int64) (*flags.Set, error) {
	c, err := s.snapshot(ctx, rev)
	if err != nil {
		return nil, err
	}
	return c.set()
}

func (s *Store) snapshot(ctx context.Context, rev int64) (*contents, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	if rev < 0 {
		return nil, fmt.Errorf("flagstore: snapshot at revision %d: %w", rev, ErrUnknownRevision)
	}
	c, err := s.read(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if rev > c.revision {
		return nil, fmt.Errorf("flagstore: snapshot at revision %d: the store is at %d: %w", rev, c.revision, ErrUnknownRevision)
	}
	// Changes committed after the read have revisions above c's: the bound
	// keeps them out, so that no transaction is needed.
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT revision, flag_keys, before_doc FROM `+tableChanges+
		` WHERE revision > ? AND revision <= ? ORDER BY revision DESC`), rev, c.revision)
	if err != nil {
		return nil, fmt.Errorf("flagstore: snapshot: read the changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r            int64
			keys, before string
		)
		if err := rows.Scan(&r, &keys, &before); err != nil {
			return nil, fmt.Errorf("flagstore: snapshot: read the changes: %w", err)
		}
		if err := undo(c, r, keys, before); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flagstore: snapshot: read the changes: %w", err)
	}
	c.revision = rev
	return c, nil
}

// undo reverts in c the change recorded at revision rev.
func undo(c *contents, rev int64, keysJSON, beforeJSON string) error {
	var keys []string
	var before struct {
		Flags      map[string]json.RawMessage `json:"flags"`
		Evaluators json.RawMessage            `json:"$evaluators"`
		Metadata   json.RawMessage            `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(keysJSON), &keys); err != nil {
		return fmt.Errorf("flagstore: the record of revision %d is damaged: keys: %w", rev, err)
	}
	if err := json.Unmarshal([]byte(beforeJSON), &before); err != nil {
		return fmt.Errorf("flagstore: the record of revision %d is damaged: before: %w", rev, err)
	}
	for _, k := range keys {
		if def, ok := before.Flags[k]; ok {
			c.flags[k] = def
		} else {
			delete(c.flags, k)
		}
	}
	// The record holds the shared rules and metadata as they were before
	// the change, absent when there were none.
	c.evaluators, c.metadata = emptyObject, emptyObject
	if before.Evaluators != nil {
		c.evaluators = before.Evaluators
	}
	if before.Metadata != nil {
		c.metadata = before.Metadata
	}
	return nil
}

// Export writes the store's current flags to w as a flagd document
// (indented JSON, keys sorted), which [Store.Import] and a
// [flags.FileSource] read, and returns the revision written. Rows changed
// by hand are written as they are, invalid ones too: Export never changes
// what it reports.
func (s *Store) Export(ctx context.Context, w io.Writer) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	c, err := s.read(ctx, s.db)
	if err != nil {
		return 0, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, c.document(nil), "", "  "); err != nil {
		return 0, fmt.Errorf("flagstore: export: %w", err)
	}
	b.WriteByte('\n')
	if _, err := w.Write(b.Bytes()); err != nil {
		return 0, fmt.Errorf("flagstore: export: %w", err)
	}
	return c.revision, nil
}

// Record is one change in the audit trail.
type Record struct {
	Revision  int64     `json:"revision"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	ReleaseID string    `json:"releaseId,omitempty"`
	// Keys are the flags the change changed, sorted.
	Keys []string `json:"keys"`
	// Before and After are flagd documents of those flags (a flag absent
	// from Before was created, from After deleted), each with the set's
	// "$evaluators" and "metadata" as they were then, so that each parses
	// alone.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// Filter selects records of the audit trail; the zero Filter selects the
// latest [DefaultHistoryLimit].
type Filter struct {
	// Key keeps the changes of that flag; empty keeps all.
	Key string
	// ReleaseID keeps the changes of that release; empty keeps all.
	ReleaseID string
	// Since and Until keep the changes made in [Since, Until); zero is
	// unbounded.
	Since, Until time.Time
	// Before keeps revisions below it (the Revision of the last record of
	// the previous page); 0 is unbounded.
	Before int64
	// Limit is the most records returned, newest first: 0 means
	// [DefaultHistoryLimit]; at most [MaxHistoryLimit].
	Limit int
}

// Limits of [Store.History].
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// History returns the audit trail, newest first, as f selects it.
func (s *Store) History(ctx context.Context, f Filter) ([]Record, error) {
	if f.Limit < 0 || f.Limit > MaxHistoryLimit {
		return nil, fmt.Errorf("flagstore: history: limit %d is not between 0 and %d", f.Limit, MaxHistoryLimit)
	}
	if f.Limit == 0 {
		f.Limit = DefaultHistoryLimit
	}
	if f.Before < 0 {
		return nil, fmt.Errorf("flagstore: history: before revision %d is negative", f.Before)
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Key != "" {
		// The keys column is a JSON array: the quoted key narrows the rows,
		// and the decoded keys decide.
		k, _ := json.Marshal(f.Key)
		where = append(where, `flag_keys LIKE ? ESCAPE '!'`)
		args = append(args, "%"+likeEscape(string(k))+"%")
	}
	if f.ReleaseID != "" {
		where, args = append(where, `release_id = ?`), append(args, f.ReleaseID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, `changed_at >= ?`), append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where, args = append(where, `changed_at < ?`), append(args, f.Until.UnixMilli())
	}
	var out []Record
	before := f.Before
	for len(out) < f.Limit {
		conds, condArgs := where, args
		if before > 0 {
			conds, condArgs = append(slices.Clip(conds), `revision < ?`), append(slices.Clip(condArgs), before)
		}
		q := `SELECT revision, changed_at, actor, reason, release_id, flag_keys, before_doc, after_doc FROM ` + tableChanges
		if len(conds) > 0 {
			q += ` WHERE ` + strings.Join(conds, ` AND `)
		}
		q += fmt.Sprintf(` ORDER BY revision DESC LIMIT %d`, f.Limit)
		page, last, err := s.historyPage(ctx, s.d.Rebind(q), condArgs, f.Key, f.Limit)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if last == 0 {
			break
		}
		before = last
	}
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// historyPage reads one page of records, keeping those that changed key
// (all when key is empty); last is the lowest revision read, 0 when the
// page was not full (no more rows).
func (s *Store) historyPage(ctx context.Context, q string, args []any, key string, limit int) (recs []Record, last int64, err error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("flagstore: history: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			r                  Record
			at                 int64
			keys, before, aftr string
		)
		if err := rows.Scan(&r.Revision, &at, &r.Actor, &r.Reason, &r.ReleaseID, &keys, &before, &aftr); err != nil {
			return nil, 0, fmt.Errorf("flagstore: history: %w", err)
		}
		n++
		last = r.Revision
		if err := json.Unmarshal([]byte(keys), &r.Keys); err != nil {
			return nil, 0, fmt.Errorf("flagstore: history: the record of revision %d is damaged: keys: %w", r.Revision, err)
		}
		if r.Keys == nil {
			r.Keys = []string{} // written as null by earlier releases for a change of the shared rules alone
		}
		if key != "" && !slices.Contains(r.Keys, key) {
			continue
		}
		r.Time = time.UnixMilli(at).UTC()
		r.Before, r.After = json.RawMessage(before), json.RawMessage(aftr)
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("flagstore: history: %w", err)
	}
	if key == "" || n < limit {
		last = 0 // one query answers, or the rows ran out
	}
	return recs, last, nil
}

// likeEscape escapes s for a LIKE pattern whose escape character is '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
