package version

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dialect names the database family a [Registry] speaks.
type Dialect string

// The dialects a Registry supports.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql" // MySQL and MariaDB
)

// DefaultRegistryTable is the table a Registry creates and uses.
const DefaultRegistryTable = "rollsafe_instances"

// DefaultTTL is how long a registry entry lives without a heartbeat.
const DefaultTTL = 30 * time.Second

// maxAddressLen is the longest address a registry entry holds, in bytes.
const maxAddressLen = 2048

// Registry is a list of running instances in the service's own database:
// each instance registers its address and manifest and heartbeats; an entry
// not heartbeaten within the TTL is stale and no longer listed (and is
// deleted by [Registry.Prune]). It is a [Discovery] of everyone but the
// instances this Registry value registered.
//
// It creates its table (default [DefaultRegistryTable]) with CREATE TABLE
// IF NOT EXISTS when constructed; times are stored as Unix milliseconds from
// the registry's clock, so every instance should share a reasonably synced
// clock. It works on SQLite, PostgreSQL and MySQL/MariaDB with the caller's
// *sql.DB and driver.
type Registry struct {
	db       *sql.DB
	dialect  Dialect
	table    string
	ttl      time.Duration
	now      func() time.Time
	interval time.Duration
	ticks    <-chan time.Time
	logger   *slog.Logger

	mu  sync.Mutex
	own map[string]bool
}

var _ Discovery = (*Registry)(nil)

// RegistryOption configures a [Registry].
type RegistryOption func(*Registry) error

var tableName = regexp.MustCompile(`^rollsafe_[a-z0-9_]{1,54}$`)

// WithTableName sets the table name; it must start with "rollsafe_" and
// continue with lower-case letters, digits and '_'. Default
// [DefaultRegistryTable].
func WithTableName(name string) RegistryOption {
	return func(r *Registry) error {
		if !tableName.MatchString(name) {
			return fmt.Errorf("table name %q is not rollsafe_ followed by [a-z0-9_]", name)
		}
		r.table = name
		return nil
	}
}

// WithTTL sets how long an entry lives without a heartbeat. Default
// [DefaultTTL]; d must be at least a millisecond.
func WithTTL(d time.Duration) RegistryOption {
	return func(r *Registry) error {
		if d < time.Millisecond {
			return fmt.Errorf("ttl %v is shorter than 1ms", d)
		}
		r.ttl = d
		return nil
	}
}

// WithClock sets the registry's clock. Default time.Now.
func WithClock(now func() time.Time) RegistryOption {
	return func(r *Registry) error {
		if now == nil {
			return errors.New("nil clock")
		}
		r.now = now
		return nil
	}
}

// WithHeartbeat sets how often a [Membership] heartbeats. Default: a third
// of the TTL.
func WithHeartbeat(d time.Duration) RegistryOption {
	return func(r *Registry) error {
		if d <= 0 {
			return fmt.Errorf("heartbeat interval %v is not positive", d)
		}
		r.interval = d
		return nil
	}
}

// WithHeartbeatTicks makes a [Membership] heartbeat once per value received
// from ticks instead of on its own timer. Default: a ticker at the heartbeat
// interval.
func WithHeartbeatTicks(ticks <-chan time.Time) RegistryOption {
	return func(r *Registry) error {
		if ticks == nil {
			return errors.New("nil tick channel")
		}
		r.ticks = ticks
		return nil
	}
}

// WithRegistryLogger sets the logger. Default: discard.
func WithRegistryLogger(l *slog.Logger) RegistryOption {
	return func(r *Registry) error {
		if l == nil {
			return errors.New("nil logger")
		}
		r.logger = l
		return nil
	}
}

// NewRegistry returns a Registry on db and creates its table if it does not
// exist yet.
func NewRegistry(ctx context.Context, db *sql.DB, dialect Dialect, opts ...RegistryOption) (*Registry, error) {
	if db == nil {
		return nil, errors.New("version: registry: nil database")
	}
	switch dialect {
	case SQLite, Postgres, MySQL:
	default:
		return nil, fmt.Errorf("version: registry: unknown dialect %q (want sqlite|postgres|mysql)", dialect)
	}
	r := &Registry{
		db: db, dialect: dialect, table: DefaultRegistryTable, ttl: DefaultTTL,
		now: time.Now, logger: slog.New(slog.DiscardHandler), own: map[string]bool{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("version: registry: nil option")
		}
		if err := o(r); err != nil {
			return nil, fmt.Errorf("version: registry: %w", err)
		}
	}
	if r.interval == 0 {
		r.interval = r.ttl / 3
	}
	// The column sizes hold the largest valid values: a service name of
	// 128 bytes, semver's longest version (256), and a manifest of up to
	// MaxManifestSize, which MySQL's TEXT (64 KiB) would refuse.
	text := "TEXT"
	if dialect == MySQL {
		text = "MEDIUMTEXT"
	}
	create := `CREATE TABLE IF NOT EXISTS ` + r.table + ` (
	id VARCHAR(64) NOT NULL PRIMARY KEY,
	service VARCHAR(128) NOT NULL,
	version VARCHAR(256) NOT NULL,
	address VARCHAR(` + strconv.Itoa(maxAddressLen) + `) NOT NULL,
	manifest ` + text + ` NOT NULL,
	registered_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL
)`
	// Two instances starting together can race on PostgreSQL's catalog even
	// with IF NOT EXISTS; the loser's second attempt finds the table.
	if _, err := db.ExecContext(ctx, create); err != nil {
		if _, err2 := db.ExecContext(ctx, create); err2 != nil {
			return nil, fmt.Errorf("version: registry: create table %s: %w", r.table, err)
		}
	}
	return r, nil
}

// Instance is one registry entry.
type Instance struct {
	ID      string
	Address string
	// Manifest is the registered manifest; zero when Raw is not valid.
	Manifest Manifest
	// Raw is the manifest as stored.
	Raw          []byte
	RegisteredAt time.Time
	LastSeen     time.Time
}

// rebind turns '?' placeholders into PostgreSQL's $1, $2, ...
func (r *Registry) rebind(q string) string {
	if r.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// Register adds an instance at address (its base URL, as peers should fetch
// it, at most 2048 bytes) with manifest m and returns the new entry's id. An empty m.Version is
// resolved from the build info.
func (r *Registry) Register(ctx context.Context, address string, m Manifest) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := hex.EncodeToString(b[:])
	if err := r.upsert(ctx, id, address, m); err != nil {
		return "", err
	}
	return id, nil
}

func (r *Registry) upsert(ctx context.Context, id, address string, m Manifest) error {
	var err error
	if m.Version == "" {
		if m, err = Resolve(m); err != nil {
			return fmt.Errorf("version: registry: register: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("version: registry: register: %w", err)
	}
	if len(address) > maxAddressLen {
		return fmt.Errorf("version: registry: register: address %q... is longer than %d bytes", redact(address)[:64], maxAddressLen)
	}
	if _, err := ManifestURL(address, ""); err != nil {
		return fmt.Errorf("version: registry: register: address: %w", err)
	}
	raw, err := m.JSON()
	if err != nil {
		return fmt.Errorf("version: registry: register: %w", err)
	}
	now := millis(r.now())
	q := `INSERT INTO ` + r.table + ` (id, service, version, address, manifest, registered_at, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?) `
	if r.dialect == MySQL {
		q += `ON DUPLICATE KEY UPDATE service = VALUES(service), version = VALUES(version),
address = VALUES(address), manifest = VALUES(manifest), last_seen = VALUES(last_seen)`
	} else {
		q += `ON CONFLICT (id) DO UPDATE SET service = excluded.service, version = excluded.version,
address = excluded.address, manifest = excluded.manifest, last_seen = excluded.last_seen`
	}
	if _, err := r.db.ExecContext(ctx, r.rebind(q), id, m.Service, m.Version, address, string(raw), now, now); err != nil {
		return fmt.Errorf("version: registry: register %s %s at %s: %w", m.Service, m.Version, redact(address), err)
	}
	r.mu.Lock()
	r.own[id] = true
	r.mu.Unlock()
	return nil
}

// Heartbeat marks the instance id as alive now. It returns
// [ErrNotRegistered] when the entry is gone (deregistered or pruned after
// missing its heartbeats).
func (r *Registry) Heartbeat(ctx context.Context, id string) error {
	res, err := r.db.ExecContext(ctx, r.rebind(`UPDATE `+r.table+` SET last_seen = ? WHERE id = ?`), millis(r.now()), id)
	if err != nil {
		return fmt.Errorf("version: registry: heartbeat %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	// MySQL counts only changed rows, so a heartbeat within the same
	// millisecond affects none: look before calling the entry gone.
	var one int
	err = r.db.QueryRowContext(ctx, r.rebind(`SELECT 1 FROM `+r.table+` WHERE id = ?`), id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("version: registry: heartbeat %s: %w", id, ErrNotRegistered)
	case err != nil:
		return fmt.Errorf("version: registry: heartbeat %s: %w", id, err)
	}
	return nil
}

// Deregister removes the instance id. Removing an absent entry is not an
// error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	if _, err := r.db.ExecContext(ctx, r.rebind(`DELETE FROM `+r.table+` WHERE id = ?`), id); err != nil {
		return fmt.Errorf("version: registry: deregister %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.own, id)
	r.mu.Unlock()
	return nil
}

// Instances lists the live entries (heartbeat within the TTL), by service and
// id.
func (r *Registry) Instances(ctx context.Context) ([]Instance, error) {
	since := millis(r.now().Add(-r.ttl))
	rows, err := r.db.QueryContext(ctx, r.rebind(`SELECT id, address, manifest, registered_at, last_seen FROM `+
		r.table+` WHERE last_seen >= ? ORDER BY service, id`), since)
	if err != nil {
		return nil, fmt.Errorf("version: registry: list instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		var in Instance
		var raw string
		var reg, seen int64
		if err := rows.Scan(&in.ID, &in.Address, &raw, &reg, &seen); err != nil {
			return nil, fmt.Errorf("version: registry: list instances: %w", err)
		}
		in.Raw = []byte(raw)
		in.RegisteredAt, in.LastSeen = time.UnixMilli(reg), time.UnixMilli(seen)
		if m, err := ParseManifest(in.Raw); err == nil {
			in.Manifest = m
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("version: registry: list instances: %w", err)
	}
	return out, nil
}

// Peers returns the live instances, except those registered through this
// Registry value, as peers carrying their stored manifests (no fetch).
func (r *Registry) Peers(ctx context.Context) ([]Peer, error) {
	ins, err := r.Instances(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	peers := make([]Peer, 0, len(ins))
	for _, in := range ins {
		if !r.own[in.ID] {
			peers = append(peers, Peer{Source: in.Address, Manifest: in.Raw})
		}
	}
	return peers, nil
}

// Prune deletes the stale entries and returns how many it deleted. Listing
// ignores stale entries anyway; pruning only keeps the table small.
func (r *Registry) Prune(ctx context.Context) (int64, error) {
	before := millis(r.now().Add(-r.ttl))
	res, err := r.db.ExecContext(ctx, r.rebind(`DELETE FROM `+r.table+` WHERE last_seen < ?`), before)
	if err != nil {
		return 0, fmt.Errorf("version: registry: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("version: registry: prune: %w", err)
	}
	return n, nil
}
