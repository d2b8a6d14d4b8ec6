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
// file.
//
// # Failures
//
// A failing migration returns a *PartialError: the migrations this call
// applied before it, the one that failed, the driver's error, and the
// statements of the failed migration that had been sent, exactly as goose
// split them (read from goose's per-statement log records). Where the
// migration ran in a transaction on PostgreSQL or SQLite, nothing of it
// remains. Where statements commit by themselves (MySQL DDL, or
// `-- +goose NO TRANSACTION`), the error lists the ones that stay applied.
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
