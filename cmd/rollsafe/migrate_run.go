package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/dsn"
	"github.com/rollsafe/rollsafe/migrate"
)

// pingTimeout bounds how long the runner commands wait for the database to
// answer before they give up with exit code 2.
const pingTimeout = 15 * time.Second

const runnerExitCodes = `
rollsafe keeps, beside goose's version table, a table rollsafe_migrations: the
SHA-256 of each file it applied (a file that differs later is reported as
changed: a warning, or a refusal with --strict), and the statements of a
migration that failed or was interrupted where they commit by themselves
(MySQL/MariaDB DDL, NO TRANSACTION). Such a migration is shown as failed or
interrupted and is not run again until "rollsafe migrate repair".

Exit codes: 0 done (or nothing to do); 1 a migration failed, a migration needs
repair, a rollback was refused by a migration marked irreversible, or (with
--strict) an applied migration changed; 2 could not run (bad usage, no such
directory or version, a malformed migration, a database that does not answer).`

func migrateUpCommand() command {
	return command{
		name:    "up",
		summary: "apply pending migrations, under the database lock",
		usage: "rollsafe migrate up [--to VERSION] [--strict] --dialect sqlite|postgres|mysql --dsn DSN DIR\n\n" +
			"Applies the pending migrations in DIR, in version order (up to VERSION with --to)." + runnerExitCodes,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newRunnerFlags(fs)
			rf.strictFlag(fs)
			to := &versionFlag{min: 1}
			fs.Var(to, "to", "apply up to and including this `VERSION` (default: all)")
			return func(e *env, args []string) int {
				return rf.run(e, "up", args, func(ctx context.Context, r *migrate.Runner) ([]migrate.Result, error) {
					if to.set {
						return r.UpTo(ctx, to.v)
					}
					return r.Up(ctx)
				})
			}
		},
	}
}

func migrateDownCommand() command {
	return command{
		name:    "down",
		summary: "roll back the last migration (or down to a version), under the database lock",
		usage: "rollsafe migrate down [--to VERSION] [--force] [--strict] --dialect sqlite|postgres|mysql --dsn DSN DIR\n\n" +
			"Rolls back the most recently applied migration, or with --to every migration above\n" +
			"VERSION (0: all). A migration marked `-- rollsafe:irreversible` stops it before\n" +
			"anything is rolled back, unless --force." + runnerExitCodes,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newRunnerFlags(fs)
			rf.strictFlag(fs)
			to := &versionFlag{min: 0}
			fs.Var(to, "to", "roll back every migration above this `VERSION`, 0 for all (default: only the last one)")
			fs.BoolVar(&rf.force, "force", false, "roll back migrations marked irreversible too")
			return func(e *env, args []string) int {
				return rf.run(e, "down", args, func(ctx context.Context, r *migrate.Runner) ([]migrate.Result, error) {
					if to.set {
						return r.DownTo(ctx, to.v)
					}
					return r.Down(ctx)
				})
			}
		},
	}
}

func migrateStatusCommand() command {
	return command{
		name:    "status",
		summary: "list migrations with their state and when they were applied",
		usage: "rollsafe migrate status [--format text|json] [--strict] --dialect sqlite|postgres|mysql --dsn DSN DIR\n\n" +
			"Lists every migration in DIR: version, state (applied, pending, failed or\n" +
			"interrupted), when it was applied, and its file; then, for each failed or\n" +
			"interrupted migration, the statements that had started and how to repair it, and\n" +
			"for each applied migration whose file changed, both sums. It does not wait for\n" +
			"the migration lock. Exit 1 when a migration is failed or interrupted (or, with\n" +
			"--strict, changed)." + runnerExitCodes,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newRunnerFlags(fs)
			rf.strictFlag(fs)
			return func(e *env, args []string) int {
				return rf.status(e, args)
			}
		},
	}
}

// versionFlag is --to: a migration version of at least min, or unset.
type versionFlag struct {
	v   int64
	min int64
	set bool
}

func (f *versionFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatInt(f.v, 10)
}

func (f *versionFlag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < f.min {
		return fmt.Errorf("%q is not a version (a whole number from %d)", s, f.min)
	}
	f.v, f.set = v, true
	return nil
}

// runnerFlags are the flags shared by up, down and status.
type runnerFlags struct {
	dialect string
	dsnFlag *string
	dsn     string // --dsn, or $ROLLSAFE_DSN
	table   string
	force   bool
	strict  bool
	format  *formatFlag
}

func newRunnerFlags(fs *flag.FlagSet) *runnerFlags {
	rf := &runnerFlags{}
	fs.StringVar(&rf.dialect, "dialect", "", "database `dialect`: sqlite, postgres or mysql (MariaDB too)")
	rf.dsnFlag = dsnFlag(fs, "database `DSN`: a file path (SQLite), postgres://user:pass@host:5432/db (PostgreSQL), "+
		"user:pass@tcp(127.0.0.1:3306)/app?parseTime=true (MySQL/MariaDB, go-sql-driver style)")
	fs.StringVar(&rf.table, "table", "goose_db_version", "version `table`, goose's by default")
	rf.format = newFormatFlag(fs, "text", "json")
	return rf
}

// strictFlag declares --strict, for the commands that compare the applied
// files with the directory's.
func (rf *runnerFlags) strictFlag(fs *flag.FlagSet) {
	fs.BoolVar(&rf.strict, "strict", false, "refuse (exit 1) when an applied migration's file is not the one that was applied")
}

// open checks the arguments, opens and pings the database and builds the
// runner. On failure it has printed why and returns the exit code.
func (rf *runnerFlags) open(e *env, cmd string, args []string) (*sql.DB, *migrate.Runner, int) {
	fail := func(format string, a ...any) (*sql.DB, *migrate.Runner, int) {
		e.errorf("migrate %s: %s", cmd, rf.scrub(fmt.Sprintf(format, a...)))
		return nil, nil, exitCantRun
	}
	rf.dsn = e.dsn(*rf.dsnFlag)
	if len(args) != 1 {
		return fail("want exactly one migration directory, got %d arguments", len(args))
	}
	dir := args[0]
	if rf.dialect == "" || rf.dsn == "" {
		return fail("--dialect and --dsn (or $%s) are required", envDSN)
	}
	d, err := dialect.Parse(rf.dialect)
	if err != nil {
		return fail("--dialect: %s", strings.TrimPrefix(err.Error(), "dialect: "))
	}
	if st, err := os.Stat(dir); err != nil {
		return fail("no migration directory %s", dir)
	} else if !st.IsDir() {
		return fail("%s is not a directory", dir)
	}
	// Opening a SQLite file that does not exist creates it: only up may do
	// that, status and down would report on an empty database.
	db, err := openDatabase(e.ctx, d, rf.dsn, cmd == "up")
	if err != nil {
		return fail("%v", err)
	}
	var opts []migrate.Option
	if rf.table != "" {
		opts = append(opts, migrate.WithTableName(rf.table))
	}
	if rf.force {
		opts = append(opts, migrate.WithAllowIrreversible())
	}
	if rf.strict {
		opts = append(opts, migrate.WithStrict())
	}
	r, err := migrate.New(db, d, os.DirFS(dir), opts...)
	if err != nil {
		_ = db.Close() // the runner error is what matters
		return fail("%s: %s", dir, strings.TrimPrefix(err.Error(), "migrate: "))
	}
	return db, r, exitOK
}

// runResult is the JSON form of up and down.
type runResult struct {
	Dialect   string       `json:"dialect"`
	Direction string       `json:"direction"`
	Applied   []resultJSON `json:"applied"`
	Failed    *resultJSON  `json:"failed,omitempty"`
	Version   *int64       `json:"version,omitempty"`
	// Changed are the applied migrations whose files changed since.
	Changed []changedJSON `json:"changed,omitempty"`
	// NeedsRepair names the migration that must be repaired first.
	NeedsRepair *int64 `json:"needs_repair,omitempty"`
	Error       string `json:"error,omitempty"`
}

type changedJSON struct {
	Version       int64  `json:"version"`
	Source        string `json:"source"`
	Sum           string `json:"sum"`
	AppliedSource string `json:"applied_source"`
	AppliedSum    string `json:"applied_sum"`
}

type resultJSON struct {
	Version    int64   `json:"version"`
	Source     string  `json:"source"`
	DurationMS float64 `json:"duration_ms"`
	Empty      bool    `json:"empty,omitempty"`
}

func toJSON(r migrate.Result) resultJSON {
	return resultJSON{Version: r.Version, Source: r.Name(), DurationMS: float64(r.Duration.Microseconds()) / 1000, Empty: r.Empty}
}

func (rf *runnerFlags) run(e *env, cmd string, args []string, do func(context.Context, *migrate.Runner) ([]migrate.Result, error)) int {
	db, r, code := rf.open(e, cmd, args)
	if code != exitOK {
		return code
	}
	defer db.Close()
	res, err := do(e.ctx, r)
	out := runResult{Dialect: r.Dialect().String(), Direction: cmd, Applied: []resultJSON{}}
	for _, x := range res {
		out.Applied = append(out.Applied, toJSON(x))
		if rf.format.String() == "text" {
			fmt.Fprintf(e.stdout, "%-4s %s (%s)\n", x.Direction, x.Name(), x.Duration.Round(time.Microsecond))
		}
	}
	code = exitOK
	var pe *migrate.PartialError
	var re *migrate.RepairError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		f := toJSON(*pe.Failed)
		out.Failed = &f
		code = exitFailed
	case errors.As(err, &re):
		out.NeedsRepair = &re.Migration.Version
		code = exitFailed
	case errors.Is(err, migrate.ErrIrreversible), errors.Is(err, migrate.ErrChanged):
		code = exitFailed
	default:
		code = exitCantRun
	}
	if err != nil {
		out.Error = withDir(rf.scrub(err.Error()), args[0])
		e.errorf("%s", out.Error)
	}
	if code == exitCantRun {
		// Nothing ran: no report on stdout (in JSON, the CLI prints the
		// error object), and no version line that reads like success.
		return code
	}
	// A fresh context: the version is worth reporting even after ctx ended.
	vctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), pingTimeout)
	defer cancel()
	if st, serr := r.Status(vctx); serr == nil {
		for _, s := range st {
			if s.Changed {
				out.Changed = append(out.Changed, changedOf(s))
				if !errors.Is(err, migrate.ErrChanged) {
					warnf(e, "%s", changedWarning(s))
				}
			}
		}
	}
	if v, verr := r.Version(vctx); verr == nil {
		out.Version = &v
		if rf.format.String() == "text" {
			if len(res) == 0 && err == nil {
				fmt.Fprintf(e.stdout, "nothing to do; database at version %d\n", v)
			} else {
				fmt.Fprintf(e.stdout, "database at version %d\n", v)
			}
		}
	}
	if rf.format.String() == "json" {
		if jerr := json.NewEncoder(e.stdout).Encode(out); jerr != nil {
			e.errorf("migrate %s: writing JSON: %v", cmd, jerr)
			return exitCantRun
		}
	}
	return code
}

type statusJSON struct {
	Dialect string `json:"dialect"`
	Version int64  `json:"version"`
	Pending int    `json:"pending"`
	// NeedsRepair counts the failed and interrupted migrations.
	NeedsRepair int             `json:"needs_repair"`
	Changed     int             `json:"changed"`
	Migrations  []migrationJSON `json:"migrations"`
}

type migrationJSON struct {
	Version       int64        `json:"version"`
	Source        string       `json:"source"`
	Type          string       `json:"type"`
	State         string       `json:"state"`
	AppliedAt     *time.Time   `json:"applied_at,omitempty"`
	Irreversible  string       `json:"irreversible,omitempty"`
	Sum           string       `json:"sum,omitempty"`
	AppliedSource string       `json:"applied_source,omitempty"`
	AppliedSum    string       `json:"applied_sum,omitempty"`
	Changed       bool         `json:"changed,omitempty"`
	Attempt       *attemptJSON `json:"attempt,omitempty"`
	// Repair is the command that resolves a failed or interrupted migration.
	Repair string `json:"repair,omitempty"`
}

type attemptJSON struct {
	Direction  string    `json:"direction"`
	Statements []string  `json:"statements"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
}

// withDir puts the migration directory into the repair command that the
// runner's errors spell with "DIR".
func withDir(msg, dir string) string {
	return strings.ReplaceAll(msg, "--as applied|pending DIR`", "--as applied|pending "+dir+"`")
}

// warnf prints "rollsafe: warning: ..." on stderr: something the operator
// should know that did not stop the command.
func warnf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, "rollsafe: warning: %s\n", fmt.Sprintf(format, args...))
}

func changedOf(s migrate.MigrationStatus) changedJSON {
	return changedJSON{Version: s.Version, Source: s.Name(), Sum: s.Sum, AppliedSource: s.AppliedSource, AppliedSum: s.AppliedSum}
}

func changedWarning(s migrate.MigrationStatus) string {
	return fmt.Sprintf("version %d changed since it was applied: applied %s (%s), the directory has %s (%s)",
		s.Version, s.AppliedSource, s.AppliedSum, s.Name(), s.Sum)
}

func (rf *runnerFlags) status(e *env, args []string) int {
	db, r, code := rf.open(e, "status", args)
	if code != exitOK {
		return code
	}
	defer db.Close()
	st, err := r.Status(e.ctx)
	if err != nil {
		e.errorf("%s", rf.scrub(err.Error()))
		return exitCantRun
	}
	out := statusJSON{Dialect: r.Dialect().String(), Migrations: []migrationJSON{}}
	for _, s := range st {
		m := migrationJSON{Version: s.Version, Source: s.Name(), Type: string(s.Type), State: string(s.State),
			Irreversible: s.Irreversible, Sum: s.Sum, AppliedSource: s.AppliedSource, AppliedSum: s.AppliedSum, Changed: s.Changed}
		switch s.State {
		case migrate.Applied:
			at := s.AppliedAt.UTC()
			m.AppliedAt = &at
			out.Version = max(out.Version, s.Version)
		case migrate.Failed, migrate.Interrupted:
			out.NeedsRepair++
			if s.Attempt.Direction == "down" {
				// goose's table still holds the version a down failed on.
				out.Version = max(out.Version, s.Version)
			}
			m.Attempt = &attemptJSON{Direction: s.Attempt.Direction, Statements: s.Attempt.Statements, Error: s.Attempt.Err, At: s.Attempt.At.UTC()}
			if m.Attempt.Statements == nil {
				m.Attempt.Statements = []string{}
			}
			m.Repair = fmt.Sprintf("rollsafe migrate repair --version %d --as applied|pending %s", s.Version, args[0])
		default:
			out.Pending++
		}
		if s.Changed {
			out.Changed++
		}
		out.Migrations = append(out.Migrations, m)
	}
	code = exitOK
	if out.NeedsRepair > 0 || (rf.strict && out.Changed > 0) {
		code = exitFailed
	}
	if rf.format.String() == "json" {
		if err := json.NewEncoder(e.stdout).Encode(out); err != nil {
			e.errorf("migrate status: writing JSON: %v", err)
			return exitCantRun
		}
		return code
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tSOURCE")
	for _, m := range out.Migrations {
		at := "-"
		if m.AppliedAt != nil {
			at = m.AppliedAt.Format(time.RFC3339)
		}
		src := m.Source
		if m.Irreversible != "" {
			src += " (irreversible)"
		}
		if m.Changed {
			src += " (changed since applied)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, m.State, at, src)
	}
	if err := tw.Flush(); err != nil {
		e.errorf("migrate status: %v", err)
		return exitCantRun
	}
	for _, m := range out.Migrations {
		switch {
		case m.Attempt != nil:
			what := "was interrupted (its runner died, or it is running now)"
			if m.State == string(migrate.Failed) {
				what = "failed: " + m.Attempt.Error
			}
			fmt.Fprintf(e.stdout, "\n%s: its %s %s\n", m.Source, m.Attempt.Direction, what)
			if len(m.Attempt.Statements) > 0 {
				fmt.Fprintf(e.stdout, "  %s had started (the last may not have completed):\n", plural(len(m.Attempt.Statements), "statement", "statements"))
				for i, stmt := range m.Attempt.Statements {
					fmt.Fprintf(e.stdout, "  [%d] %s\n", i+1, stmt)
				}
			}
			fmt.Fprintf(e.stdout, "  make the schema match it fully applied or not at all, by hand, then: %s\n", m.Repair)
		case m.Changed:
			fmt.Fprintf(e.stdout, "\nversion %d changed since it was applied: applied %s (%s), the directory has %s (%s)\n",
				m.Version, m.AppliedSource, m.AppliedSum, m.Source, m.Sum)
		}
	}
	summary := fmt.Sprintf("%d applied, %d pending", len(out.Migrations)-out.Pending-out.NeedsRepair, out.Pending)
	if out.NeedsRepair > 0 {
		summary += fmt.Sprintf(", %d to repair", out.NeedsRepair)
	}
	if out.Changed > 0 {
		summary += fmt.Sprintf(", %d changed", out.Changed)
	}
	fmt.Fprintln(e.stdout, summary)
	return code
}

// driverDSN returns the database/sql driver for d and the DSN to give it:
// MySQL DSNs get parseTime=true (goose scans timestamps), SQLite DSNs a busy
// timeout unless they set one.
// openDatabase opens and pings the database of dialect d at dsnValue. A
// SQLite file that does not exist is refused unless create is set (opening
// it would create an empty database). The error never holds the DSN's
// password.
func openDatabase(ctx context.Context, d dialect.Dialect, dsnValue string, create bool) (*sql.DB, error) {
	if d == dialect.SQLite && !create {
		if p := sqlitePath(dsnValue); p != "" {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("no SQLite database at %s", p)
			}
		}
	}
	driver, source, err := driverDSN(d, dsnValue)
	if err != nil {
		return nil, fmt.Errorf("--dsn %s: %v", dsn.Redact(dsnValue), err)
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open %s: %v", dsn.Redact(dsnValue), err)
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is what matters
		return nil, fmt.Errorf("database %s does not answer: %v", dsn.Redact(dsnValue), err)
	}
	return db, nil
}

func driverDSN(d dialect.Dialect, s string) (driver, source string, err error) {
	switch d {
	case dialect.Postgres:
		return "pgx", s, nil
	case dialect.MySQL:
		cfg, err := mysql.ParseDSN(s)
		if err != nil {
			return "", "", err
		}
		cfg.ParseTime = true
		return "mysql", cfg.FormatDSN(), nil
	}
	if !strings.Contains(s, "busy_timeout") {
		sep := "?"
		if strings.Contains(s, "?") {
			sep = "&"
		}
		s += sep + "_pragma=busy_timeout(5000)"
	}
	return "sqlite", s, nil
}

// sqlitePath returns the file a SQLite DSN names, "" for an in-memory one.
func sqlitePath(s string) string {
	s = strings.TrimPrefix(s, "file:")
	s, _, _ = strings.Cut(s, "?")
	if s == ":memory:" || strings.HasPrefix(s, ":memory:") {
		return ""
	}
	return s
}

// scrub removes the DSN and its secrets from a message, wherever a driver
// may have quoted them.
func (rf *runnerFlags) scrub(msg string) string { return dsn.Scrub(msg, rf.dsn) }
