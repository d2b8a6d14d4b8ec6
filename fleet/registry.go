package fleet

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/textcut"
	"github.com/rollsafe/rollsafe/version"
)

// ErrNotRegistered is returned (wrapped) by [Registry.Heartbeat] when the
// entry is not, or no longer, in the registry.
var ErrNotRegistered = errors.New("instance not registered")

// ErrLeft is returned (wrapped) by [Membership.Heartbeat] after
// [Membership.Leave]: an instance that left is not registered again.
var ErrLeft = errors.New("the instance has left the fleet")

// Limits on what an entry holds, in bytes.
const (
	// MaxAddressLen is the longest address [Registry.Register] accepts.
	MaxAddressLen = 2048
	// MaxDetailLen is the longest readiness detail stored; a longer one is
	// cut (at a rune boundary) and marked with an ellipsis.
	MaxDetailLen = 1024
)

// Registry is the list of a fleet's running instances in the service's own
// database. Each instance registers its address and manifest and then
// heartbeats, carrying its readiness and the flag-set revision it serves; an
// entry without a heartbeat for the TTL is stale: [Registry.List] leaves it
// out and [Registry.Prune] deletes it.
//
// A Registry is a [version.Discovery] of every live instance but those this
// Registry value registered. It is safe for concurrent use.
type Registry struct {
	db  *sql.DB
	d   dialect.Dialect
	cfg config

	mu  sync.Mutex
	own map[string]bool
}

var _ version.Discovery = (*Registry)(nil)

// Status is what an instance reports with each heartbeat besides being alive.
// The zero Status is "not ready, no detail, no flag-set revision".
type Status struct {
	// Ready says whether the instance takes traffic (its readiness check
	// passes).
	Ready bool
	// Detail says why, for a person: typically the failing check's error
	// when not ready. Empty means nothing to add. At most [MaxDetailLen]
	// bytes are stored.
	Detail string
	// FlagsRevision is the revision of the flag set the instance serves, or
	// nil when it reports none (an instance without a flag store, or one
	// from before the store existed).
	FlagsRevision *int64
}

// Instance is one registry entry, as the last heartbeat left it.
type Instance struct {
	ID string
	// Address is the base URL peers fetch the instance's manifest from.
	Address string
	// Service, Version and ReleaseID are the registered manifest's.
	Service   string
	Version   string
	ReleaseID string
	// Status is the readiness and flag-set revision of the last heartbeat.
	Status
	// Manifest is the registered manifest; zero when Raw is not valid.
	Manifest version.Manifest
	// Raw is the manifest as stored.
	Raw          []byte
	RegisteredAt time.Time
	LastSeen     time.Time
}

// NewRegistry returns a Registry on db, speaking dialect d, and brings its
// table up to date: it creates the table if it does not exist and adds the
// columns that a table created by an earlier release lacks (see the package
// documentation). Instances starting together may run this at once; a
// column another instance added in the meantime is not an error. No data is
// ever dropped.
func NewRegistry(ctx context.Context, db *sql.DB, d dialect.Dialect, opts ...Option) (*Registry, error) {
	if db == nil {
		return nil, errors.New("fleet: registry: nil database")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: registry: %w", err)
	}
	r := &Registry{db: db, d: d, own: map[string]bool{}, cfg: config{
		table: DefaultTableName, ttl: DefaultTTL, now: time.Now,
		logger: slog.New(slog.DiscardHandler),
	}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("fleet: registry: nil option")
		}
		if err := o(&r.cfg); err != nil {
			return nil, fmt.Errorf("fleet: registry: %w", err)
		}
	}
	if r.cfg.heartbeat == 0 {
		r.cfg.heartbeat = r.cfg.ttl / 3
	}
	if r.cfg.heartbeat >= r.cfg.ttl {
		// Every entry would go stale between two heartbeats and flap.
		return nil, fmt.Errorf("fleet: registry: heartbeat %v is not shorter than the ttl %v", r.cfg.heartbeat, r.cfg.ttl)
	}
	if err := r.ensureTable(ctx); err != nil {
		return nil, fmt.Errorf("fleet: registry: %w", err)
	}
	return r, nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// Register adds an instance at address (its base URL, as peers should fetch
// it, at most [MaxAddressLen] bytes) with manifest m, not ready, and returns
// the new entry's id. An empty m.Version is resolved from the build info
// ([version.Resolve]).
func (r *Registry) Register(ctx context.Context, address string, m version.Manifest) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := hex.EncodeToString(b[:])
	if err := r.upsert(ctx, id, address, m, Status{}); err != nil {
		return "", err
	}
	return id, nil
}

func (r *Registry) upsert(ctx context.Context, id, address string, m version.Manifest, s Status) error {
	var err error
	if m.Version == "" {
		if m, err = version.Resolve(m); err != nil {
			return fmt.Errorf("fleet: register: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("fleet: register: %w", err)
	}
	if len(address) > MaxAddressLen {
		return fmt.Errorf("fleet: register: address of %d bytes is longer than %d bytes", len(address), MaxAddressLen)
	}
	if _, err := version.ManifestURL(address, ""); err != nil {
		return fmt.Errorf("fleet: register: address: %w", err)
	}
	raw, err := m.JSON()
	if err != nil {
		return fmt.Errorf("fleet: register: %w", err)
	}
	now := millis(r.cfg.now())
	q := `INSERT INTO ` + r.cfg.table + ` (id, service, version, address, manifest, registered_at, last_seen,
release_id, ready, ready_detail, flags_revision)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) `
	if r.d == dialect.MySQL {
		q += `ON DUPLICATE KEY UPDATE service = VALUES(service), version = VALUES(version),
address = VALUES(address), manifest = VALUES(manifest), last_seen = VALUES(last_seen),
release_id = VALUES(release_id), ready = VALUES(ready), ready_detail = VALUES(ready_detail),
flags_revision = VALUES(flags_revision)`
	} else {
		q += `ON CONFLICT (id) DO UPDATE SET service = excluded.service, version = excluded.version,
address = excluded.address, manifest = excluded.manifest, last_seen = excluded.last_seen,
release_id = excluded.release_id, ready = excluded.ready, ready_detail = excluded.ready_detail,
flags_revision = excluded.flags_revision`
	}
	ready, detail, rev := statusArgs(s)
	if _, err := r.db.ExecContext(ctx, r.d.Rebind(q), id, m.Service, m.Version, address, string(raw), now, now,
		m.ReleaseID, ready, detail, rev); err != nil {
		return fmt.Errorf("fleet: register %s %s: %w", m.Service, m.Version, err)
	}
	r.mu.Lock()
	r.own[id] = true
	r.mu.Unlock()
	return nil
}

// statusArgs returns the column values of s.
func statusArgs(s Status) (ready int, detail string, rev sql.Null[int64]) {
	if s.Ready {
		ready = 1
	}
	if s.FlagsRevision != nil {
		rev = sql.Null[int64]{V: *s.FlagsRevision, Valid: true}
	}
	// The detail is often an error's text: PostgreSQL (and MySQL in strict
	// mode) refuse invalid UTF-8 and NUL, and every heartbeat would fail.
	detail = strings.ToValidUTF8(strings.ReplaceAll(s.Detail, "\x00", ""), "\uFFFD")
	return ready, cut(detail, MaxDetailLen), rev
}

// cut shortens s to at most n bytes, ending in "…" when it had to cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return textcut.Mark(s, n-len(textcut.Ellipsis))
}

// Heartbeat marks the instance id as alive now with status s. It returns an
// error wrapping [ErrNotRegistered] when the entry is gone (deregistered, or
// pruned after missing its heartbeats).
func (r *Registry) Heartbeat(ctx context.Context, id string, s Status) error {
	ready, detail, rev := statusArgs(s)
	res, err := r.db.ExecContext(ctx, r.d.Rebind(`UPDATE `+r.cfg.table+
		` SET last_seen = ?, ready = ?, ready_detail = ?, flags_revision = ? WHERE id = ?`),
		millis(r.cfg.now()), ready, detail, rev, id)
	if err != nil {
		return fmt.Errorf("fleet: heartbeat %.64q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	// MySQL counts only changed rows, so a heartbeat within the same
	// millisecond affects none: look before calling the entry gone.
	var one int
	err = r.db.QueryRowContext(ctx, r.d.Rebind(`SELECT 1 FROM `+r.cfg.table+` WHERE id = ?`), id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("fleet: heartbeat %.64q: %w", id, ErrNotRegistered)
	case err != nil:
		return fmt.Errorf("fleet: heartbeat %.64q: %w", id, err)
	}
	return nil
}

// Deregister removes the instance id. Removing an absent entry is not an
// error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	if _, err := r.db.ExecContext(ctx, r.d.Rebind(`DELETE FROM `+r.cfg.table+` WHERE id = ?`), id); err != nil {
		return fmt.Errorf("fleet: deregister %.64q: %w", id, err)
	}
	r.mu.Lock()
	delete(r.own, id)
	r.mu.Unlock()
	return nil
}

// List returns the live entries (a heartbeat within the TTL), by service and
// id. An entry written by an earlier release, which knew no status, reads
// as not ready with no flag-set revision, and its ReleaseID is taken from
// its manifest.
func (r *Registry) List(ctx context.Context) ([]Instance, error) {
	since := millis(r.cfg.now().Add(-r.cfg.ttl))
	rows, err := r.db.QueryContext(ctx, r.d.Rebind(`SELECT id, address, service, version, release_id, ready,
ready_detail, flags_revision, manifest, registered_at, last_seen FROM `+
		r.cfg.table+` WHERE last_seen >= ? ORDER BY service, id`), since)
	if err != nil {
		return nil, fmt.Errorf("fleet: list instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		var in Instance
		var raw string
		var ready int
		var rev sql.Null[int64]
		var reg, seen int64
		if err := rows.Scan(&in.ID, &in.Address, &in.Service, &in.Version, &in.ReleaseID, &ready,
			&in.Detail, &rev, &raw, &reg, &seen); err != nil {
			return nil, fmt.Errorf("fleet: list instances: %w", err)
		}
		in.Ready = ready != 0
		if rev.Valid {
			in.FlagsRevision = &rev.V
		}
		in.Raw = []byte(raw)
		in.RegisteredAt, in.LastSeen = time.UnixMilli(reg), time.UnixMilli(seen)
		if m, err := version.ParseManifest(in.Raw); err == nil {
			in.Manifest = m
			if in.ReleaseID == "" {
				in.ReleaseID = m.ReleaseID
			}
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fleet: list instances: %w", err)
	}
	return out, nil
}

// Peers returns the live instances, except those registered through this
// Registry value, as peers carrying their stored manifests (no fetch): the
// [version.Discovery] method.
func (r *Registry) Peers(ctx context.Context) ([]version.Peer, error) {
	ins, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	peers := make([]version.Peer, 0, len(ins))
	for _, in := range ins {
		if !r.own[in.ID] {
			peers = append(peers, version.Peer{Source: in.Address, Manifest: in.Raw})
		}
	}
	return peers, nil
}

// Prune deletes the stale entries and returns how many it deleted. Listing
// ignores stale entries anyway; pruning only keeps the table small.
func (r *Registry) Prune(ctx context.Context) (int64, error) {
	before := millis(r.cfg.now().Add(-r.cfg.ttl))
	res, err := r.db.ExecContext(ctx, r.d.Rebind(`DELETE FROM `+r.cfg.table+` WHERE last_seen < ?`), before)
	if err != nil {
		return 0, fmt.Errorf("fleet: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("fleet: prune: %w", err)
	}
	return n, nil
}
