package migrate

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option configures a Runner. Each option checks its own arguments; New
// returns the first error.
type Option func(*config) error

type config struct {
	table             string
	goMigrations      []*goose.Migration
	log               *slog.Logger
	allowIrreversible bool
	noLock            bool
	strict            bool
	meters            metric.MeterProvider
	tracers           trace.TracerProvider
}

// WithGoMigrations adds Go migrations, each made with goose.NewGoMigration.
// A version given twice, or a migration that goose.NewGoMigration did not
// make, is an error. Go migrations share the version sequence with the SQL
// files; the same version in both is an error from New. By default there are
// none: goose's global registry is never read.
func WithGoMigrations(ms ...*goose.Migration) Option {
	return func(c *config) error {
		seen := make(map[int64]bool, len(c.goMigrations)+len(ms))
		for _, m := range c.goMigrations {
			seen[m.Version] = true
		}
		for _, m := range ms {
			if m == nil {
				return errors.New("WithGoMigrations: nil migration")
			}
			if m.Type != goose.TypeGo {
				return fmt.Errorf("WithGoMigrations: version %d is not a Go migration (make it with goose.NewGoMigration)", m.Version)
			}
			if m.Version < 1 {
				return fmt.Errorf("WithGoMigrations: version %d: versions start at 1", m.Version)
			}
			if seen[m.Version] {
				return fmt.Errorf("WithGoMigrations: version %d given twice", m.Version)
			}
			seen[m.Version] = true
			c.goMigrations = append(c.goMigrations, m)
		}
		return nil
	}
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// WithTableName sets the version table. The default is goose's,
// "goose_db_version", so that the goose CLI reads the same history. The name
// is a plain identifier, optionally schema-qualified ("app.goose_db_version").
func WithTableName(name string) Option {
	return func(c *config) error {
		if !tableName.MatchString(name) {
			return fmt.Errorf("WithTableName: %q is not a plain table name", name)
		}
		c.table = name
		return nil
	}
}

// WithLogger sets where the Runner logs: lock waits, each migration applied,
// and (at debug level) each statement executed. By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithAllowIrreversible lets Down and DownTo roll back migrations marked
// `-- rollsafe:irreversible`. By default they refuse with ErrIrreversible.
func WithAllowIrreversible() Option {
	return func(c *config) error {
		c.allowIrreversible = true
		return nil
	}
}

// WithoutLock turns off the database lock that Up, UpTo, Down and DownTo
// otherwise hold, for a process that knows it is alone (a test, a one-off
// job) or a pool limited to one connection. By default the lock is on.
func WithoutLock() Option {
	return func(c *config) error {
		c.noLock = true
		return nil
	}
}

// WithStrict makes Up, UpTo, Down and DownTo refuse, before running
// anything, when an applied migration's file on disk is not the one that was
// applied (see MigrationStatus.Changed): the error is a *ChangedError
// (ErrChanged). By default they log a warning for each and go on.
func WithStrict() Option {
	return func(c *config) error {
		c.strict = true
		return nil
	}
}

// WithMeterProvider sets where metrics go. By default they go to the global
// OpenTelemetry meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("WithMeterProvider: nil provider")
		}
		c.meters = mp
		return nil
	}
}

// WithTracerProvider sets where spans go. By default they go to the global
// OpenTelemetry tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("WithTracerProvider: nil provider")
		}
		c.tracers = tp
		return nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
