package flagstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
)

// Channel is the notification channel a [Store] notifies on PostgreSQL,
// inside the transaction of every write (delivered at commit, never on
// rollback), with the new revision as the payload, unless [WithChannel]
// names another.
const Channel = "rollsafe_flags"

const (
	// DefaultPollInterval is how often a watching Store reads the revision
	// row when no [Notifier] tells it of changes.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultSafetyPoll is how often it reads the revision row beside a
	// Notifier, for the notifications a broken connection loses.
	DefaultSafetyPoll = 5 * time.Second
)

// Limits on what a write may carry; longer values are refused, never cut.
const (
	MaxKeyLen       = 255
	MaxActorLen     = 256
	MaxReasonLen    = 4096
	MaxReleaseIDLen = 256
)

// The tables a Store owns.
const (
	tableRevision = "rollsafe_flag_revision"
	tableFlags    = "rollsafe_flags"
	tableChanges  = "rollsafe_flag_changes"
)

// Store keeps the flag definitions of a fleet in the service's own database:
// every instance reads them (a Store is a [flags.Source]), writes change
// several flags in one transaction under one new revision (a Store is a
// [flags.Writer], and [Store.Apply] does more), and every write is recorded
// with who made it and why ([Store.History]).
//
// The Store creates its tables (rollsafe_flags, rollsafe_flag_changes,
// rollsafe_flag_revision) on the first call that reaches the database, under
// a lock, so that instances starting together do not race. Its methods are
// safe for concurrent use. Use [New]; the zero Store is not usable.
type Store struct {
	db  *sql.DB
	d   dialect.Dialect
	cfg config

	schemaMu sync.Mutex
	schemaOK bool
}

var (
	_ flags.Source = (*Store)(nil)
	_ flags.Writer = (*Store)(nil)
)

// Notifier tells a watching [Store] at once that a writer committed a new
// revision: pglisten's Listener does it with PostgreSQL's LISTEN.
type Notifier interface {
	// Listen calls wake with the revision of each notification it receives
	// on [Channel], until ctx ends; it then returns nil. Each time it starts
	// listening (first, and again after a lost connection) it calls
	// wake(0): notifications sent while it was not listening are lost, and
	// the Store reads everything again. An error means it can no longer
	// listen at all: the Store then polls at [DefaultPollInterval] (or
	// [WithPollInterval]'s). wake is called from one goroutine at a time and
	// does not block.
	Listen(ctx context.Context, wake func(revision int64)) error
}

// Option configures a [Store]. Options validate their argument: [New]
// returns the error of the first that refuses it.
type Option func(*config) error

type config struct {
	logger    *slog.Logger
	now       func() time.Time
	poll      time.Duration // 0: the default for the notifier setting
	notifier  Notifier
	cacheFile string
	channel   string
}

// WithLogger sets where the store logs what its watch finds (an outage, a
// recovery, definitions refused). The default discards the log.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("flagstore: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithClock sets the clock that stamps changes. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("flagstore: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithPollInterval sets how often a watch reads the revision row: the
// default is [DefaultPollInterval] (250 ms), or [DefaultSafetyPoll] (5 s)
// beside a [Notifier]. Each wait is jittered by ±10 %, so that a fleet
// started together does not poll in step. After a failed read the watch
// retries at [DefaultPollInterval] (or d, if shorter), even beside a
// Notifier, until a read succeeds. d must be at least 10 ms.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("flagstore: WithPollInterval: %v is below 10ms", d)
		}
		c.poll = d
		return nil
	}
}

// WithNotifier sets what tells the watch of a change at once (pglisten's
// Listener, on PostgreSQL); polling goes on beside it at the safety
// interval. The default is none: the watch polls.
func WithNotifier(n Notifier) Option {
	return func(c *config) error {
		if n == nil {
			return errors.New("flagstore: WithNotifier: nil notifier")
		}
		c.notifier = n
		return nil
	}
}

// WithChannel sets the channel that writes notify on PostgreSQL; the
// default is [Channel]. Channels belong to the database, not to a schema:
// services that keep their stores in different schemas of one database
// each name their own (and give their pglisten Listener the same name), so
// that one's writes do not wake the other's watches. name must be 1 to 63
// bytes.
func WithChannel(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
			return fmt.Errorf("flagstore: WithChannel: %q is not a channel name of 1 to 63 bytes", name)
		}
		c.channel = name
		return nil
	}
}

// WithCacheFile keeps the last good definitions a watch read in the file at
// path, written atomically (a temporary file in the same directory, then a
// rename) after each change, and starts a watch from it when the database is
// unreachable at start-up. The directory must exist. The default keeps no
// file: an instance that starts while the database is down has no flags
// until it comes back.
func WithCacheFile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("flagstore: WithCacheFile: empty path")
		}
		dir := filepath.Dir(path)
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("flagstore: WithCacheFile: directory %s: %w", dir, err)
		}
		if !info.IsDir() {
			return fmt.Errorf("flagstore: WithCacheFile: %s is not a directory", dir)
		}
		c.cacheFile = path
		return nil
	}
}

// New returns a store over db, a database of dialect d. It does no I/O: the
// first method that reaches the database creates the tables. The notifier
// of [WithNotifier] is for PostgreSQL only, since only there do writes
// notify.
func New(db *sql.DB, d dialect.Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("flagstore: New: nil database")
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("flagstore: New: %w", err)
	}
	cfg := config{logger: slog.New(slog.DiscardHandler), now: time.Now, channel: Channel}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("flagstore: New: nil option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.notifier != nil && d != dialect.Postgres {
		return nil, fmt.Errorf("flagstore: New: WithNotifier needs PostgreSQL, not %s: writes notify only there", d)
	}
	return &Store{db: db, d: d, cfg: cfg}, nil
}

// Dialect returns the store's database dialect.
func (s *Store) Dialect() dialect.Dialect { return s.d }

// pollInterval is the watch's interval between reads of the revision row.
func (s *Store) pollInterval(notifying bool) time.Duration {
	switch {
	case s.cfg.poll > 0:
		return s.cfg.poll
	case notifying:
		return DefaultSafetyPoll
	}
	return DefaultPollInterval
}
