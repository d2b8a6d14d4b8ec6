package check

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"

	"github.com/rollsafe/rollsafe/dialect"
)

// Option configures Run.
type Option func(*config) error

// config is Run's settings after the options.
type config struct {
	dialect  dialect.Dialect // dialect.SQLite by default
	adminDSN string          // "" for the embedded SQLite scratch database
	driver   string          // database/sql driver name; "" picks the dialect's usual one
	noData   bool
	goMigs   []*goose.Migration
	logger   *slog.Logger
	progress func(MigrationReport)
	compat   compatOptions
}

// compatOptions are the settings of the compatibility analysis that runs on
// every migration's before and after snapshots.
type compatOptions struct {
	// Disabled turns the analysis off (WithCompat(false)).
	Disabled bool
	// Since limits contract errors to migrations after this version; 0
	// means every migration (WithSince).
	Since    int64
	Timeouts bool // WithTimeoutCheck: warn when a locking migration sets no lock timeout
}

// WithDatabase checks on a scratch database created on the server that
// adminDSN reaches, instead of the embedded SQLite one: a new schema on
// PostgreSQL, a new database on MySQL/MariaDB, dropped at the end. d is
// dialect.Postgres or dialect.MySQL (dialect.SQLite with a file path as DSN
// is also accepted: the file is created and removed); a value that is not a
// dialect is refused. The DSN's user needs the right to create and drop
// schemas/databases. The caller imports the driver that d.Driver() names:
// "pgx" for PostgreSQL, "mysql" for MySQL, "sqlite" for SQLite (WithDriver
// picks another). Without this option the check runs on a temporary SQLite
// file.
func WithDatabase(d dialect.Dialect, adminDSN string) Option {
	return func(c *config) error {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrOption, err)
		}
		if adminDSN == "" {
			return fmt.Errorf("%w: empty DSN for %s", ErrOption, d)
		}
		c.dialect, c.adminDSN = d, adminDSN
		return nil
	}
}

// WithDriver names the database/sql driver that WithDatabase's DSN is opened
// with; by default the dialect's own (dialect.Dialect.Driver).
func WithDriver(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty driver name", ErrOption)
		}
		c.driver = name
		return nil
	}
}

// WithoutData skips seeding rows and comparing them: only schemas are
// checked. By default rows are seeded and compared.
func WithoutData() Option {
	return func(c *config) error { c.noData = true; return nil }
}

// WithGoMigrations adds Go migrations (made with goose.NewGoMigration) to the
// SQL files of the directory. goose's global registry is not read. A .go file
// in the directory whose version is not given here makes Run fail.
func WithGoMigrations(ms ...*goose.Migration) Option {
	return func(c *config) error {
		for _, m := range ms {
			if m == nil {
				return fmt.Errorf("%w: nil Go migration", ErrOption)
			}
		}
		c.goMigs = append(c.goMigs, ms...)
		return nil
	}
}

// WithLogger logs each step of the check at debug level; by default nothing
// is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		c.logger = l
		return nil
	}
}

// WithProgress calls fn with each migration's report as soon as that
// migration is checked (and for each one never reached, at the end), from
// the goroutine that called Run. By default nothing is called.
func WithProgress(fn func(MigrationReport)) Option {
	return func(c *config) error {
		if fn == nil {
			return fmt.Errorf("%w: nil progress func", ErrOption)
		}
		c.progress = fn
		return nil
	}
}

// WithCompat turns the backward-compatibility analysis on or off; it is on
// by default.
func WithCompat(on bool) Option {
	return func(c *config) error { c.compat.Disabled = !on; return nil }
}

// WithSince makes contract findings of migrations at or before version
// info instead of errors: they shipped in a release already running. The
// migrations after version (the upcoming release) are judged against the
// schema after version, the one the previous release runs on: a change to
// a table, column, view or enum type that the upcoming release added itself
// is no contract change, unless the previous release's INSERTs, which leave
// such a column out, now fail. Online-safety and reversibility findings are
// unchanged. By default (0) every migration's contract findings are errors,
// each judged against the schema just before it.
func WithSince(version int64) Option {
	return func(c *config) error {
		if version < 0 {
			return fmt.Errorf("%w: negative since version %d", ErrOption, version)
		}
		c.compat.Since = version
		return nil
	}
}

// ErrOption is wrapped by errors from invalid options.
var ErrOption = errors.New("check: invalid option")
