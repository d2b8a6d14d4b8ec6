package migrate

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/rollsafe/rollsafe/dialect"
)

// gooseDialect maps a dialect onto goose's name for it.
func gooseDialect(d dialect.Dialect) (goose.Dialect, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	switch d {
	case dialect.Postgres:
		return goose.DialectPostgres, nil
	case dialect.MySQL:
		return goose.DialectMySQL, nil
	}
	return goose.DialectSQLite3, nil
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
	// Sum is the SHA-256 of the SQL file as rollsafe.sum writes it
	// ("sha256:<hex>", line endings hashed as "\n"); "" for a Go migration.
	Sum string
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
	// Failed: a run of the migration failed where its statements cannot be
	// undone (MySQL/MariaDB DDL, a NO TRANSACTION migration), so part of it
	// may stay applied. Up and Down refuse to run it again until Repair.
	Failed State = "failed"
	// Interrupted: a run of the migration began and never recorded its end:
	// its runner died midway (or, seen from Status, another instance is
	// running it right now). Up and Down refuse to run it again until
	// Repair.
	Interrupted State = "interrupted"
)

// MigrationStatus is one line of Status.
type MigrationStatus struct {
	Migration
	State State
	// AppliedAt is when the version was recorded; zero while pending. Only
	// Status fills it: the statuses an error carries (ChangedError,
	// RepairError) come from goose's list of applied versions, which has no
	// times, and leave it zero.
	AppliedAt time.Time
	// AppliedSource and AppliedSum name the file that was applied and its
	// SHA-256, as the Runner recorded them when it applied it; both "" when
	// nothing was recorded (a migration applied by the goose CLI or by a
	// rollsafe that kept no sums).
	AppliedSource, AppliedSum string
	// Changed reports an applied migration whose file on disk is not the
	// one that was applied (another sum, or another name for the same
	// version): the database was migrated from other files. Up and Down log
	// a warning for it, and refuse to run with WithStrict.
	Changed bool
	// Attempt describes the failed or interrupted run of a Failed or
	// Interrupted migration; nil in the other states.
	Attempt *Attempt
}

// Attempt is a run of a migration that did not finish cleanly.
type Attempt struct {
	// Direction is "up" or "down".
	Direction string
	// Statements are the statements that had been started, in order, each
	// on one line and shortened to 200 characters; the last one may or may
	// not have completed. Empty for a Go migration.
	Statements []string
	// Err is the error the run failed with; "" for an interrupted run.
	Err string
	// At is when the attempt was last recorded.
	At time.Time
}

// Runner applies and rolls back the migrations of one database; make one with
// New (the zero Runner is not usable). Its methods are safe for concurrent
// use; the ones that change the database hold the database lock (see the
// package documentation) while they run.
type Runner struct {
	db         *sql.DB
	dialect    dialect.Dialect
	cfg        config
	provider   *goose.Provider
	store      database.Store
	migrations []Migration // ascending by version
	tel        telemetry
	// recordsReady is set once rollsafe_migrations is known to exist.
	recordsReady atomic.Bool
}

// New returns a Runner over db for the migrations in fsys (SQL files named
// NNN_name.sql at its root) and the Go migrations given with
// WithGoMigrations. fsys may be nil when every migration is a Go migration.
//
// New reads every SQL file once to parse its rollsafe annotations and hash
// it: a malformed annotation is an error naming the file. It does not touch
// the database. Errors callers can test with errors.Is:
//
//   - dialect.ErrUnknown: d is not one of dialect.SQLite, dialect.Postgres,
//     dialect.MySQL (the zero Dialect included);
//   - ErrNoMigrations: fsys holds no migration and no Go migration was given;
//   - ErrAnnotation: a `-- rollsafe:` annotation is malformed.
func New(db *sql.DB, d dialect.Dialect, fsys fs.FS, opts ...Option) (*Runner, error) {
	if db == nil {
		return nil, errors.New("migrate: db is nil")
	}
	gd, err := gooseDialect(d)
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
	if !cfg.noLock && d != dialect.SQLite {
		// goose's session takes the running lock in locked calls (see
		// gooseMarker).
		gopts = append(gopts, goose.WithSessionLocker(gooseMarker{}))
	}
	p, err := goose.NewProvider(gd, db, fsys, gopts...)
	if err != nil {
		if errors.Is(err, goose.ErrNoMigrations) {
			// goose's error says the same words: say them once.
			return nil, fmt.Errorf("migrate: %w (no NNN_name.sql file at the root of the directory, no Go migration)", ErrNoMigrations)
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
func (r *Runner) Dialect() dialect.Dialect { return r.dialect }

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
			m.Sum = fileSum(body) // of the same bytes that were parsed
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
