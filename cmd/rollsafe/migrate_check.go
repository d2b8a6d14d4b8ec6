package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver for --dialect mysql
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for --dialect postgres

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/internal/dsn"
	"github.com/rollsafe/rollsafe/migrate/check"
)

func migrateCheckCommand() command {
	return command{
		name:    "check",
		summary: "prove every migration reversible (schema and rows) and backward compatible on a scratch database",
		usage: `rollsafe migrate check [--dialect sqlite|postgres|mysql] [--dsn DSN] [--format text|json|github] [--no-data] [--compat=false] [--since VERSION] [--timeouts] DIR

Runs every goose SQL migration in DIR up, down and up again on a scratch
database seeded with rows, and reports what the downs do not restore.
Without --dsn (or $` + envDSN + `) the scratch database is a temporary SQLite
file. With a DSN (PostgreSQL or MySQL/MariaDB) the check creates a schema or
database of its own on that server and drops it at the end; it never touches
other data. Flags come before DIR. Exit status: 0 no finding of severity
error, 1 at least one, 2 the check could not run. Go migrations are checked
through the Go API (migrate/check.Run with check.WithGoMigrations).`,
		flags: func(fs *flag.FlagSet) func(e *env, args []string) int {
			dialectName := fs.String("dialect", "sqlite", "scratch database: sqlite|postgres|mysql")
			dsnValue := dsnFlag(fs, "server to create the scratch schema/database on (postgres, mysql); a file path for sqlite")
			format := newFormatFlag(fs, "text", "json", "github")
			noData := fs.Bool("no-data", false, "check schemas only: seed and compare no rows")
			compat := fs.Bool("compat", true, "run the backward-compatibility analysis")
			since := fs.Int64("since", 0, "contract findings of migrations at or before VERSION are info (already released)")
			timeouts := fs.Bool("timeouts", false, "warn about PostgreSQL/MySQL migrations that set no lock or statement timeout")
			return func(e *env, args []string) int {
				return runMigrateCheck(e, args, checkFlags{
					dialect: *dialectName, dsn: e.dsn(*dsnValue), format: format.String(),
					noData: *noData, compat: *compat, since: *since, timeouts: *timeouts,
				})
			}
		},
	}
}

type checkFlags struct {
	dialect, dsn, format string
	noData, compat       bool
	timeouts             bool
	since                int64
}

func runMigrateCheck(e *env, args []string, f checkFlags) int {
	const cmd = "migrate check"
	if len(args) != 1 {
		e.errorf("%s: want one migrations directory, got %s", cmd, plural(len(args), "argument", "arguments"))
		fmt.Fprintln(e.stderr, "usage: rollsafe migrate check [flags] DIR")
		return exitCantRun
	}
	dir := args[0]
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		e.errorf("%s: migrations directory %s does not exist", cmd, dir)
		return exitCantRun
	case err != nil:
		e.errorf("%s: migrations directory: %v", cmd, err)
		return exitCantRun
	case !st.IsDir():
		e.errorf("%s: %s is not a directory", cmd, dir)
		return exitCantRun
	}
	if gos, err := goMigrationFiles(dir); err != nil {
		e.errorf("%s: read %s: %v", cmd, dir, err)
		return exitCantRun
	} else if len(gos) > 0 {
		e.errorf("%s: %s holds Go migrations (%s); the CLI checks SQL migrations only: check Go migrations from a Go test with check.Run and check.WithGoMigrations",
			cmd, dir, strings.Join(gos, ", "))
		return exitCantRun
	}
	opts := []check.Option{check.WithCompat(f.compat), check.WithSince(f.since)}
	d, err := dialect.Parse(f.dialect)
	if err != nil {
		// "--dialect: unknown dialect ...": the flag names the package.
		e.errorf("%s: --dialect: %s", cmd, strings.TrimPrefix(err.Error(), "dialect: "))
		return exitCantRun
	}
	switch {
	case d != dialect.SQLite && f.dsn == "":
		e.errorf("%s: --dialect %s needs --dsn or $%s (a server where the check may create and drop a scratch schema/database)", cmd, d, envDSN)
		return exitCantRun
	case f.dsn != "":
		opts = append(opts, check.WithDatabase(d, f.dsn))
	}
	if f.noData {
		opts = append(opts, check.WithoutData())
	}
	if f.timeouts {
		opts = append(opts, check.WithTimeoutCheck())
	}
	if f.format == "text" {
		opts = append(opts, check.WithProgress(func(m check.MigrationReport) { printMigrationText(e.stdout, m) }))
	}
	rep, err := check.Run(e.ctx, os.DirFS(dir), opts...)
	switch {
	case errors.Is(err, check.ErrNoMigrations):
		e.errorf("%s: %s holds no migrations (no goose file named NUMBER_name.sql)", cmd, dir)
		return exitCantRun
	case err != nil:
		msg := err.Error()
		if f.dsn != "" {
			msg = strings.ReplaceAll(msg, f.dsn, dsn.Redact(f.dsn))
		}
		e.errorf("%s: %s", cmd, msg)
		return exitCantRun
	}
	switch f.format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		if err := enc.Encode(rep); err != nil {
			e.errorf("%s: write report: %v", cmd, err)
			return exitCantRun
		}
	case "github":
		printGitHub(e.stdout, dir, rep)
	default:
		for _, fd := range rep.Findings {
			printFindingText(e.stdout, "  ", fd)
		}
		printSummary(e.stdout, rep)
	}
	if !rep.OK {
		return exitFailed
	}
	return exitOK
}

func goMigrationFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, en := range entries {
		name := en.Name()
		if en.IsDir() || filepath.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if i := strings.IndexByte(name, '_'); i > 0 && strings.Trim(name[:i], "0123456789") == "" {
			out = append(out, name)
		}
	}
	return out, nil
}

func printMigrationText(w io.Writer, m check.MigrationReport) {
	status := "ok"
	switch {
	case hasSeverity(m, check.SeverityError):
		status = "FAIL"
	case len(m.Findings) > 0 && m.Findings[0].Code == check.CodeNotChecked:
		status = "skip"
	case !m.Reversible:
		status = "note"
	}
	fmt.Fprintf(w, "%-4s %s\n", status, m.Source)
	for _, f := range m.Findings {
		printFindingText(w, "     ", f)
	}
}

// printFindingText prints one finding, indented, with its detail below it.
func printFindingText(w io.Writer, indent string, f check.Finding) {
	fmt.Fprintf(w, "%s%s %s: %s\n", indent, f.Severity, f.Code, f.Message)
	// A one-line detail repeats the message.
	if lines := strings.Split(strings.TrimRight(f.Detail, "\n"), "\n"); len(lines) > 1 {
		for _, line := range lines {
			fmt.Fprintf(w, "%s  %s\n", indent, line)
		}
	}
}

func hasSeverity(m check.MigrationReport, s check.Severity) bool {
	for _, f := range m.Findings {
		if f.Severity == s {
			return true
		}
	}
	return false
}

func printSummary(w io.Writer, rep *check.Report) {
	count := map[check.Severity]int{}
	for _, f := range rep.All() {
		count[f.Severity]++
	}
	verdict := "ok"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%s: %s checked on %s: %s, %s, %s\n", verdict, plural(len(rep.Migrations), "migration", "migrations"), rep.Dialect,
		plural(count[check.SeverityError], "error", "errors"), plural(count[check.SeverityWarning], "warning", "warnings"),
		plural(count[check.SeverityInfo], "note", "notes"))
}

// printGitHub writes GitHub Actions workflow commands, one per finding.
func printGitHub(w io.Writer, dir string, rep *check.Report) {
	level := map[check.Severity]string{check.SeverityError: "error", check.SeverityWarning: "warning", check.SeverityInfo: "notice"}
	for _, f := range rep.All() {
		msg := f.Message
		if f.Detail != "" {
			msg += "\n" + strings.TrimRight(f.Detail, "\n")
		}
		if f.Source == "" {
			fmt.Fprintf(w, "::%s title=%s::%s\n", level[f.Severity], githubProperty(string(f.Code)), githubData(msg))
			continue
		}
		file := path.Join(filepath.ToSlash(dir), f.Source)
		fmt.Fprintf(w, "::%s file=%s,title=%s::%s\n", level[f.Severity], githubProperty(file), githubProperty(string(f.Code)), githubData(msg))
	}
	printSummary(w, rep)
}
