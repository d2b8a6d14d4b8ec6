// Package check proves that goose migrations can be rolled back, and that
// the previous release still runs on the schema they build. It is what CI
// runs (through "rollsafe migrate check" or a Go test); services never
// import it: it carries atlas and an embedded SQLite database.
//
// # Snapshots
//
// A Snapshot is the schema of a database as plain data: tables with their
// columns (normalised type, nullability, default), primary key, indexes and
// UNIQUE constraints, foreign keys and CHECK constraints (CheckConstraint),
// read through
// ariga.io/atlas; and views, triggers, PostgreSQL sequences and enums, read
// from each dialect's catalog. goose's version table and tables prefixed
// "rollsafe_" are left out, and names the database generates itself
// (sqlite_autoindex_*, users_email_key, orders_ibfk_1, ...) are replaced by
// names derived from the definition, so that equal schemas give equal
// snapshots. Snapshot.String is a canonical text form, fit for golden
// files; Diff lists the changes between two snapshots (each a Change of one
// Kind of object: table, column, index, ...), and DescribeDiff
// says them the way a person reads them ("index orders.orders_by_user:
// left behind by down"). Inspect takes a snapshot of any database, given its
// dialect.Dialect.
//
// # The reversibility check
//
// Run checks every migration of a directory, in version order, on a
// scratch database. It reads the SQL files with migrate.ParseSQL, the
// reader the migration runner uses, so the two agree on the Up and Down
// sections, on NO TRANSACTION and on rollsafe annotations:
//
//  1. take the schema S0, fill every table with at least three generated
//     rows (distinct, non-NULL values that fit the column types, NOT NULL,
//     UNIQUE, CHECK and foreign keys, parents first) and remember them;
//  2. run the up and take S1;
//  3. run the down: the schema must equal S0 and the remembered rows must
//     all be there, unchanged;
//  4. run the up again: it must succeed and give S1;
//
// then go on to the next migration from there: the rows stay, so the
// database fills up as a real one does. Rows are generated again for a
// table only when its definition changed, and rows are compared for the
// tables a migration's SQL can reach: those it names and those foreign-key
// actions reach from them; all tables for Go migrations, for SQL that
// calls procedures or runs DO blocks or dynamic SQL, and when a trigger is
// involved.
//
// What the check finds is a Finding with a stable Code (the Code
// constants; JSON holds the string, e.g. "down_missing"), a severity and a
// message that names the migration file. Report.Dialect says where the
// check ran; JSON holds its name ("sqlite", "postgres" or "mysql"). A
// migration marked with
//
//	-- rollsafe:irreversible reason="..."
//
// is reported as such (info), its down is not run, and the check goes on.
// When a migration leaves the scratch database in an unknown state (its up
// fails), the following ones are listed as not checked.
//
// An up that fails on the seeded database is run again on an empty copy:
// if it passes there, the finding is up_fails_with_data, the change that
// passes every test on an empty database and fails in production (a UNIQUE
// index over a column with one constant default; on PostgreSQL a NOT NULL
// column without a default).
//
// # Compatibility analysis
//
// With the snapshots before and after each up, the check also judges
// whether the previous release's code still runs on the new schema
// (expand/contract), and how the statements lock a busy table; see the
// README's "Safe schema changes" for every code and its safe recipe.
//
//   - Contract findings (CodeTableDropped, CodeColumnRenamed, …; see
//     IsContract) are errors, read from the schema diff, with renames also
//     read from the statement text and from matching column types.
//   - Online-safety findings (CodeIndexNotConcurrent, CodeTableCopy, …) are
//     warnings read from the statement text, per dialect; none applies to
//     SQLite. CodeConcurrentlyInTransaction is an error: PostgreSQL refuses
//     the statement. WithTimeoutCheck adds CodeTimeoutMissing.
//   - Expand changes give nothing.
//
// A "-- rollsafe:contract reason=…" line in a migration turns its contract
// findings into info. WithSince(v) does the same for every migration at or
// before v (shipped), and judges the later ones against the schema after
// v, so that what the upcoming release adds and changes again itself is no
// contract change. WithCompat(false) turns the analysis off.
//
// # Shipped migrations
//
// WriteSums writes rollsafe.sum beside the migrations when a release ships;
// from then on the check reports a listed migration edited (CodeSumChanged)
// or removed (CodeSumMissing), and a sum file edited by hand
// (CodeSumTampered), with or without the analysis. VerifySums does the
// same alone.
//
// # Scratch databases
//
// By default the scratch database is a temporary SQLite file (modernc.org
// SQLite, built in), removed at the end. WithDatabase(dialect.Postgres,
// dsn) or WithDatabase(dialect.MySQL, dsn) points the check at a server: it
// creates a schema (PostgreSQL) or database (MySQL) of its own, named
// rollsafe_check_<random>, and drops it at the end; it never touches
// anything else. The caller imports the driver that Dialect.Driver names
// ("pgx" or "mysql"), as with database/sql. A DSN's password never appears
// in errors or logs.
//
// # Go migrations
//
// Go migrations are passed with WithGoMigrations (goose.NewGoMigration);
// goose's global registry is not read. The CLI refuses a directory with Go
// migrations, so that none is silently skipped: check it from a Go test.
package check
