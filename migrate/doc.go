// Package migrate runs a service's database migrations, over goose
// (github.com/pressly/goose/v3), in a way that is safe when several
// instances start at once and when an operator rolls back.
//
// A Runner applies SQL files from any fs.FS (an embed.FS in a service) and Go
// migrations, on SQLite, PostgreSQL and MySQL/MariaDB. The package imports no
// SQL driver: the service opens its *sql.DB with the driver it uses
// (modernc.org/sqlite, github.com/jackc/pgx/v5/stdlib,
// github.com/go-sql-driver/mysql with parseTime=true) and passes it in. The
// version table stays goose's (goose_db_version), so the goose CLI reads the
// same history.
//
//	r, err := migrate.New(db, dialect.Postgres, migrationsFS)
//	...
//	applied, err := r.Up(ctx)
//
// The dialect is a [dialect.Dialect]; New refuses the zero value and any
// other value that is not a dialect with an error wrapping dialect.ErrUnknown.
//
// # Locking
//
// Up, UpTo, Down and DownTo hold a database lock for the whole call, so two
// instances starting together never both migrate: the second waits, then
// finds nothing left to do. The lock blocks until it is free or ctx ends, and
// its id is per database (per schema on PostgreSQL), so services sharing a
// server do not wait for one another. A schema-qualified WithTableName is
// locked in the schema (database) it names:
//
//   - PostgreSQL: pg_advisory_lock on a key hashed from current_database()
//     and current_schema(); released with pg_advisory_unlock, or by the server
//     when the session ends.
//   - MySQL/MariaDB: GET_LOCK on "rollsafe.migrate.<database>", asked again
//     every second so that ctx is honoured; RELEASE_LOCK.
//   - SQLite: a row written to a rollsafe_lock table, in a write transaction
//     held open for the call. The table lives in a side file next to the
//     database (DB.rollsafe-lock) so that the open transaction blocks other
//     lockers and not the migrations. Waiting uses busy_timeout in short
//     slices so that ctx is honoured. A process that dies releases it.
//     An in-memory database is not locked: no other process can open it.
//
// The lock uses a connection of its own while goose works on another (and a
// Go migration outside a transaction on a third, from the pool), so a pool
// whose MaxOpenConns is below that gets ErrLockUnavailable rather than a
// deadlock; use WithoutLock where a single process is alone. Status, Version, Pending and
// Ready never wait for the lock.
//
// A runner that dies (SIGKILL, a lost node) releases the lock with its idle
// lock session at once, while a statement it had sent may run on in the
// server for minutes. So, on PostgreSQL and MySQL, goose's session holds a
// second lock of the same kind (the "running" lock: its own advisory key,
// "rollsafe.running.<database>") while it migrates, and a runner that has
// taken the migration lock waits until it can take that one too, logging
// that it waits: it goes on only once every statement of an earlier holder
// has ended, and then finds the interrupted migration recorded (see Failed
// and interrupted runs). A Go migration outside a transaction runs on a
// pool connection that this does not cover.
//
// # Irreversible migrations
//
// A SQL migration whose down cannot give back what its up removed says so in
// a comment line:
//
//	-- rollsafe:irreversible reason="drops the legacy audit table"
//
// Down and DownTo refuse to roll back past it: they return an
// *IrreversibleError (errors.Is ErrIrreversible) naming it, and DownTo checks
// the whole range before rolling anything back. WithAllowIrreversible lifts
// the refusal. A malformed rollsafe annotation makes New fail, naming the
// file and the line, with an error wrapping ErrAnnotation.
//
// # What the Runner records
//
// goose's version table (goose_db_version) says which versions are applied,
// and stays the truth about that. Beside it, in the same schema or database,
// a Runner keeps a table of its own, rollsafe_migrations, one row per
// version, created when first needed:
//
//   - For each migration it applies: the file's name and SHA-256
//     ([Migration.Sum], the same "sha256:<hex>" that rollsafe.sum holds).
//     Status sets [MigrationStatus.Changed] when the file on disk is not
//     the one that was applied — a database migrated from another
//     directory, or a shipped migration edited — and logs a warning; so do
//     Up, UpTo, Down and DownTo, which with WithStrict refuse instead
//     (*ChangedError, ErrChanged), before running anything. A migration
//     applied by the goose CLI, or before the Runner kept sums, has no sum
//     and is never reported as changed.
//   - For a migration whose statements commit by themselves (every
//     migration on MySQL/MariaDB, whose DDL commits implicitly, and
//     `-- +goose NO TRANSACTION` migrations everywhere): each statement,
//     written before goose sends it, so that a runner killed midway leaves
//     the attempt on record; and, when it fails, the statements that had
//     started and the error.
//
// # Failed and interrupted runs
//
// A migration whose run failed, or stopped midway, where part of it may stay
// applied is Failed or Interrupted in Status, with an [Attempt] listing the
// statements that had started. Up and Down refuse to run it again over what
// it left (a *RepairError, ErrNeedsRepair, naming it and what to do) until
// an operator has made the schema match one side of it by hand and called
// [Runner.Repair] (the CLI: rollsafe migrate repair --version N --as
// applied|pending DIR): as Applied when its changes are all there (an up is
// then recorded in goose's table), as Pending when none is (Up runs it
// again). Where the migration ran in a transaction that rolled back
// (PostgreSQL, SQLite; on MySQL when its first statement failed, or a Go
// migration in a transaction) nothing can remain, nothing is recorded, and
// Up simply runs it again once it is fixed.
//
// # Failures
//
// A failing migration returns a *PartialError: the migrations this call
// applied before it, the one that failed, the driver's error, and the
// statements of the failed migration that had been sent, exactly as goose
// split them (read from goose's per-statement log records). Where the
// migration ran in a transaction on PostgreSQL or SQLite, nothing of it
// remains. Where statements commit by themselves (MySQL DDL, or
// `-- +goose NO TRANSACTION`), the error lists the ones that stay applied,
// and PartialError.Recorded says the failure was recorded (see Failed and
// interrupted runs).
//
// UpTo and DownTo refuse a version that no migration has (DownTo accepts 0)
// with an error wrapping ErrUnknownVersion, before anything runs.
//
// # Reading migration files
//
// ParseSQL reads a goose SQL file as the Runner does: its Up and Down
// sections without goose's directives, whether it runs outside a
// transaction, and its rollsafe annotations. migrate/check reads files with
// it too, so the runner and the check never disagree about a file.
//
// # Readiness
//
// Ready is a func(context.Context) error that fails with ErrPending while
// migrations are pending; register it as a critical readiness check. Version
// returns the applied schema version.
//
// # Telemetry
//
// Each Up/Down call is a span ("migrate.up", "migrate.down"); the counter
// rollsafe.migrate.migrations (direction, outcome), the histograms
// rollsafe.migrate.duration and rollsafe.migrate.lock.wait go to the global
// OpenTelemetry providers unless WithMeterProvider or WithTracerProvider
// passes others. Logging goes to WithLogger's *slog.Logger (by default
// nowhere); statements are logged at debug level.
package migrate
