package migrate

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// Dialect names the database family a Runner talks to.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql" // MySQL and MariaDB
)

// gooseDialect maps a Dialect onto goose's name for it.
func (d Dialect) gooseDialect() (goose.Dialect, error) {
	switch d {
	case SQLite:
		return goose.DialectSQLite3, nil
	case Postgres:
		return goose.DialectPostgres, nil
	case MySQL:
		return goose.DialectMySQL, nil
	}
	return "", fmt.Errorf("%w %q (want sqlite, postgres or mysql)", ErrUnknownDialect, string(d))
}

// ParseDialect returns the Dialect named s ("sqlite", "postgres" or "mysql";
// "postgresql", "pgx", "mariadb" and "sqlite3" are accepted too).
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	}
	return "", fmt.Errorf("%w %q (want sqlite, postgres or mysql)", ErrUnknownDialect, s)
}

// SourceType tells SQL migrations from Go migrations.
type SourceType string

// The kinds of migration.
const (
	SourceSQL SourceType = "sql"
	SourceGo  SourceType = "go"
)

// Migration is one migration known to a Runner.
type Migration struct {
	Version int64
	// Source is the file name in the fs.FS, or "" for a Go migration
	// registered without a file.
	Source string
	Type   SourceType
	// Irreversible is the reason given by a
	// `-- rollsafe:irreversible reason="..."` annotation, or "" when the
	// migration carries none.
	Irreversible string
	// NoTxUp and NoTxDown report that the direction runs outside a
	// transaction (`-- +goose NO TRANSACTION`, or a Go function over *sql.DB).
	NoTxUp, NoTxDown bool
}

// Name is the migration's file name, or "version N" for a Go migration
// without one.
func (m Migration) Name() string {
	if m.Source != "" {
		return baseName(m.Source)
	}
	return fmt.Sprintf("version %d", m.Version)
}

// Result is what happened to one migration during Up, UpTo, Down or DownTo.
type Result struct {
	Migration
	// Direction is "up" or "down".
	Direction string
	Duration  time.Duration
	// Empty reports a migration with nothing to run in that direction; its
	// version was recorded all the same.
	Empty bool
}

// State is whether a migration is in the database.
type State string

// The states of a migration.
const (
	Pending State = "pending"
	Applied State = "applied"
)

// MigrationStatus is one line of Status.
type MigrationStatus struct {
	Migration
	State State
	// AppliedAt is when the version was recorded; zero while pending.
	AppliedAt time.Time
}

// Runner applies and rolls back the migrations of one database; make one with
// New (the zero Runner is not usable). Its methods are safe for concurrent
// use; the ones that change the database hold the database lock (see the
// package documentation) while they run.
type Runner struct {
	db         *sql.DB
	dialect    Dialect
	cfg        config
	provider   *goose.Provider
	store      database.Store
	migrations []Migration // ascending by version
	tel        telemetry
}

// New returns a Runner over db for the migrations in fsys (SQL files named
// NNN_name.sql at its root) and the Go migrations given with
// WithGoMigrations. fsys may be nil when every migration is a Go migration.
//
// New reads every SQL file once to parse its rollsafe annotations: a
// malformed annotation is an error naming the file. It does not touch the
// database. Errors wrap ErrUnknownDialect, ErrNoMigrations or
// annotation.ErrSyntax where those apply.
func New(db *sql.DB, d Dialect, fsys fs.FS, opts ...Option) (*Runner, error) {
	if db == nil {
		return nil, errors.New("migrate: db is nil")
	}
	gd, err := d.gooseDialect()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	cfg := config{table: goose.DefaultTablename, log: discardLogger()}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("migrate: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	gopts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(cfg.table),
		// Verbose output goes through statementHandler: it records which
		// statements ran, so that a failure can say so.
		goose.WithVerbose(true),
		goose.WithSlog(slog.New(&statementHandler{next: cfg.log.Handler()})),
	}
	if len(cfg.goMigrations) > 0 {
		gopts = append(gopts, goose.WithGoMigrations(cfg.goMigrations...))
	}
	p, err := goose.NewProvider(gd, db, fsys, gopts...)
	if err != nil {
		if errors.Is(err, goose.ErrNoMigrations) {
			return nil, fmt.Errorf("migrate: %w: %w", ErrNoMigrations, err)
		}
		return nil, fmt.Errorf("migrate: %w", err)
	}
	store, err := database.NewStore(gd, cfg.table)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	migrations, err := collect(p, fsys, cfg.goMigrations)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg.meters, cfg.tracers)
	if err != nil {
		return nil, fmt.Errorf("migrate: telemetry: %w", err)
	}
	return &Runner{
		db: db, dialect: d, cfg: cfg, provider: p, store: store,
		migrations: migrations, tel: tel,
	}, nil
}

// Dialect returns the dialect the Runner was made for.
func (r *Runner) Dialect() Dialect { return r.dialect }

// Migrations returns every migration the Runner knows, ascending by version.
func (r *Runner) Migrations() []Migration { return slices.Clone(r.migrations) }

// migration returns the migration with the given version.
func (r *Runner) migration(v int64) (Migration, bool) {
	i, ok := slices.BinarySearchFunc(r.migrations, v, func(m Migration, v int64) int {
		switch {
		case m.Version < v:
			return -1
		case m.Version > v:
			return 1
		}
		return 0
	})
	if !ok {
		return Migration{}, false
	}
	return r.migrations[i], true
}

// collect lists the provider's migrations with their annotations and
// transaction modes.
func collect(p *goose.Provider, fsys fs.FS, gos []*goose.Migration) ([]Migration, error) {
	goByVersion := make(map[int64]*goose.Migration, len(gos))
	for _, g := range gos {
		goByVersion[g.Version] = g
	}
	var out []Migration
	var errs []error
	for _, src := range p.ListSources() {
		m := Migration{Version: src.Version, Source: src.Path, Type: SourceType(src.Type)}
		switch src.Type {
		case goose.TypeSQL:
			body, err := fs.ReadFile(fsys, src.Path)
			if err != nil {
				errs = append(errs, fmt.Errorf("migrate: %s: %w", src.Path, err))
				continue
			}
			f, err := ParseSQL(body)
			if err != nil {
				errs = append(errs, fmt.Errorf("migrate: %s: %w", src.Path, err))
				continue
			}
			if f.Irreversible != nil {
				m.Irreversible = f.Irreversible.Reason
			}
			m.NoTxUp, m.NoTxDown = f.NoTx, f.NoTx
		case goose.TypeGo:
			if g := goByVersion[src.Version]; g != nil {
				m.NoTxUp = g.UpFnNoTxContext != nil
				m.NoTxDown = g.DownFnNoTxContext != nil
			}
		}
		out = append(out, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// fromGoose converts goose's result for one migration.
func (r *Runner) fromGoose(res *goose.MigrationResult) Result {
	if res == nil || res.Source == nil {
		return Result{}
	}
	m, ok := r.migration(res.Source.Version)
	if !ok {
		m = Migration{Version: res.Source.Version, Source: res.Source.Path, Type: SourceType(res.Source.Type)}
	}
	return Result{Migration: m, Direction: res.Direction, Duration: res.Duration, Empty: res.Empty}
}

func (r *Runner) fromGooseAll(in []*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(in))
	for _, res := range in {
		out = append(out, r.fromGoose(res))
	}
	return out
}
