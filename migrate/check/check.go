package check

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/migrate"
)

// stepInput is what the check knows about one migration once its up has run
// on the seeded scratch database: the compatibility analysis reads it.
type stepInput struct {
	Dialect dialect.Dialect
	Version int64
	Source  string // file name relative to the directory
	// UpSQL and DownSQL are the SQL of the file's sections, goose
	// directives removed; both "" for a Go migration.
	UpSQL, DownSQL string
	// Contract is the file's rollsafe:contract annotation; nil when none.
	Contract *migrate.Annotation
	// Before is the schema before the up (S0), After the schema after it
	// (S1); Changes is Diff(Before, After).
	Before, After *Snapshot
	Changes       []Change
	// Released is the schema of the release already running (after the
	// last migration at or before WithSince's version), for the analysis
	// of the migrations after it; nil without WithSince or before any
	// such migration ran.
	Released *Snapshot
	// NoTransaction is true for "-- +goose NO TRANSACTION" files.
	NoTransaction bool
	// Go is true for a Go migration.
	Go bool
}

// Run checks every migration of fsys (goose SQL files, and Go migrations
// given with WithGoMigrations) on a scratch database, in version order: for
// each, up, down and up again, comparing schemas and seeded rows. See the
// package documentation for the steps and the findings.
//
// The error is non-nil only when the check could not run: an invalid
// option, no migrations (ErrNoMigrations), an unreachable scratch database
// (ErrUnreachable), a directory goose refuses, or ctx ending. What the check
// found is in the report, whose OK is false when a finding is an error.
func Run(ctx context.Context, fsys fs.FS, opts ...Option) (_ *Report, err error) {
	cfg := &config{dialect: dialect.SQLite, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrOption)
		}
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	if fsys == nil {
		return nil, fmt.Errorf("%w: nil migrations directory", ErrOption)
	}
	sc, err := openScratch(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, sc.drop(ctx)) }()

	c := &checker{cfg: cfg, fsys: fsys, sc: sc, seeder: newSeeder(cfg.dialect)}
	if c.prov, err = c.provider(sc.db); err != nil {
		return nil, err
	}
	migs, err := collect(fsys, c.prov.ListSources(), cfg.goMigs)
	if err != nil {
		return nil, err
	}
	var q querier = sc.db
	if cfg.dialect != dialect.SQLite {
		// Atlas changes the PostgreSQL search_path of the connection it
		// inspects through; it gets one of its own.
		conn, err := sc.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		defer conn.Close()
		q = conn
	}
	if c.ins, err = newInspector(ctx, q, cfg.dialect); err != nil {
		return nil, err
	}
	return c.run(ctx, migs)
}

func (c *checker) provider(db *sql.DB) (*goose.Provider, error) {
	d := map[dialect.Dialect]goose.Dialect{dialect.SQLite: goose.DialectSQLite3, dialect.Postgres: goose.DialectPostgres, dialect.MySQL: goose.DialectMySQL}[c.cfg.dialect]
	// The check keeps track of what is applied itself: goose's version table
	// would cost a query and a write per step and is left out of snapshots
	// anyway.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithDisableVersioning(true)}
	if len(c.cfg.goMigs) > 0 {
		opts = append(opts, goose.WithGoMigrations(c.cfg.goMigs...))
	}
	p, err := goose.NewProvider(d, db, c.fsys, opts...)
	if errors.Is(err, goose.ErrNoMigrations) {
		return nil, fmt.Errorf("%w (no goose file named NUMBER_name.sql)", ErrNoMigrations)
	}
	if err != nil {
		return nil, fmt.Errorf("check: read migrations: %w", err)
	}
	return p, nil
}

// checker carries one run's state.
type checker struct {
	cfg    *config
	fsys   fs.FS
	sc     *scratch
	prov   *goose.Provider
	ins    *inspector
	seeder *seeder
	// released is stepInput.Released for the migrations still to check.
	released *Snapshot
}

func (c *checker) run(ctx context.Context, migs []migration) (*Report, error) {
	rep := &Report{Dialect: c.cfg.dialect, Migrations: make([]MigrationReport, 0, len(migs))}
	// The sum file is read before any migration runs; each of its findings
	// goes with its migration's report before progress sees it, the rest
	// with the directory.
	dir := dirFindings(c.fsys)
	own := func(mr *MigrationReport) {
		dir = slices.DeleteFunc(dir, func(f Finding) bool {
			if f.Version != 0 && f.Version == mr.Version && f.Source == mr.Source {
				mr.Findings = append(mr.Findings, f)
				return true
			}
			return false
		})
	}
	cur, err := c.ins.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var stopped string // why the remaining migrations are not checked
	for i := range migs {
		m := &migs[i]
		mr := MigrationReport{Version: m.version, Source: m.source, Findings: []Finding{}}
		if stopped != "" {
			mr.add(Finding{Code: CodeNotChecked, Severity: SeverityWarning,
				Message: fmt.Sprintf("%s: not checked: %s", m.source, stopped)})
			own(&mr)
			rep.Migrations = append(rep.Migrations, mr)
			continue
		}
		c.cfg.logger.DebugContext(ctx, "checking migration", "version", m.version, "source", m.source)
		next, fatal, err := c.step(ctx, m, cur, &mr)
		if err != nil {
			return nil, err
		}
		if fatal != "" {
			stopped = fatal
		} else {
			cur = next
			if m.version <= c.cfg.compat.Since {
				c.released = next
			}
			if err := c.seed(ctx, cur, &mr); err != nil {
				return nil, err
			}
		}
		own(&mr)
		rep.Migrations = append(rep.Migrations, mr)
		if c.cfg.progress != nil {
			c.cfg.progress(mr)
		}
	}
	if c.cfg.progress != nil {
		for _, mr := range rep.Migrations {
			if len(mr.Findings) > 0 && mr.Findings[0].Code == CodeNotChecked {
				c.cfg.progress(mr)
			}
		}
	}
	rep.Findings = append(rep.Findings, dir...)
	rep.setOK()
	return rep, nil
}

func (mr *MigrationReport) add(f Finding) {
	f.Version, f.Source = mr.Version, mr.Source
	mr.Findings = append(mr.Findings, f)
}

// reversibilityCodes are the error codes that make a migration not
// reversible; compatibility and annotation findings do not.
var reversibilityCodes = map[Code]bool{
	CodeDownMissing: true, CodeUpFailed: true, CodeUpFailsWithData: true, CodeDownFailed: true,
	CodeSchemaNotRestored: true, CodeRowsLost: true, CodeRowsChanged: true,
	CodeReapplyFailed: true, CodeReapplyDiffers: true,
}

func (mr *MigrationReport) reversibilityError() bool {
	for _, f := range mr.Findings {
		if f.Severity == SeverityError && reversibilityCodes[f.Code] {
			return true
		}
	}
	return false
}

// seed fills the tables of snap that are new or changed with rows, so that
// the next migration starts from a populated database. Tables it cannot
// fill are reported on mr, the migration that made them.
func (c *checker) seed(ctx context.Context, snap *Snapshot, mr *MigrationReport) error {
	if c.cfg.noData {
		return nil
	}
	failures, err := c.seeder.seed(ctx, c.sc.db, snap)
	if err != nil {
		return err
	}
	for _, f := range failures {
		msg := fmt.Sprintf("%s: rows cannot be generated for table %s (%d of %d inserted); its data is not checked", mr.Source, f.table, f.inserted, seedRows)
		if f.err != nil {
			msg += ": " + oneLine(f.err)
		}
		mr.add(Finding{Code: CodeRowsNotGenerated, Severity: SeverityInfo, Message: msg})
	}
	return nil
}

// step checks migration m from schema s0 and returns the schema the scratch
// database is left in, or a reason to stop when its state is unknown.
func (c *checker) step(ctx context.Context, m *migration, s0 *Snapshot, mr *MigrationReport) (*Snapshot, string, error) {
	src := m.source
	if m.annotationErr != nil {
		for _, line := range strings.Split(m.annotationErr.Error(), "\n") {
			mr.add(Finding{Code: CodeAnnotationInvalid, Severity: SeverityError, Message: src + ": " + line})
		}
	}
	var before map[string]*rowSet
	if !c.cfg.noData {
		var err error
		if before, err = rowSetRead(ctx, c.sc.db, c.cfg.dialect, touchedTables(m, s0)); err != nil {
			return nil, "", err
		}
	}

	// 1. up
	if _, err := c.prov.ApplyVersion(ctx, m.version, true); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if !c.cfg.noData && c.upPassesEmpty(ctx, m) {
			mr.add(Finding{Code: CodeUpFailsWithData, Severity: SeverityError,
				Message: fmt.Sprintf("%s: up fails on a database with rows but passes on an empty one: %s", src, migErr(err))})
		} else {
			mr.add(Finding{Code: CodeUpFailed, Severity: SeverityError, Message: fmt.Sprintf("%s: up failed: %s", src, migErr(err))})
		}
		return nil, fmt.Sprintf("the up of %s failed before it", src), nil
	}
	s1, err := c.ins.snapshot(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, f := range compatFindings(stepInput{Dialect: c.cfg.dialect, Version: m.version, Source: src,
		UpSQL: m.upSQL, DownSQL: m.downSQL, Contract: m.contract, Before: s0, After: s1,
		NoTransaction: m.noTx, Go: m.goMig, Released: c.released}, c.cfg.compat) {
		mr.add(f)
	}

	if a := m.irreversible; a != nil {
		mr.add(Finding{Code: CodeIrreversible, Severity: SeverityInfo,
			Message: fmt.Sprintf("%s: marked irreversible (%s); down not checked", src, a.Reason)})
		return s1, "", nil
	}
	if m.downMissing {
		what := "has an empty down section"
		if m.goMig {
			what = "has no down function"
		}
		mr.add(Finding{Code: CodeDownMissing, Severity: SeverityError,
			Message: fmt.Sprintf("%s: %s; mark it -- rollsafe:irreversible reason=\"...\" if it cannot be undone", src, what)})
		return s1, "", nil
	}

	// 2. down
	if _, err := c.prov.ApplyVersion(ctx, m.version, false); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		mr.add(Finding{Code: CodeDownFailed, Severity: SeverityError, Message: fmt.Sprintf("%s: down failed: %s", src, migErr(err))})
		now, serr := c.ins.snapshot(ctx)
		if serr != nil {
			return nil, "", serr
		}
		if len(Diff(s1, now)) == 0 {
			return s1, "", nil // the failed down was rolled back: go on from S1
		}
		return nil, fmt.Sprintf("the failed down of %s left the scratch database half-migrated", src), nil
	}
	s0b, err := c.ins.snapshot(ctx)
	if err != nil {
		return nil, "", err
	}
	c.schemaFindings(mr, Diff(s0, s0b), "down did not restore the schema", CodeSchemaNotRestored, "down")
	if before != nil {
		if err := c.dataFindings(ctx, mr, before, s0b); err != nil {
			return nil, "", err
		}
	}

	// 3. up again
	if _, err := c.prov.ApplyVersion(ctx, m.version, true); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		mr.add(Finding{Code: CodeReapplyFailed, Severity: SeverityError,
			Message: fmt.Sprintf("%s: up failed when run again after the down: %s", src, migErr(err))})
		return nil, fmt.Sprintf("the up of %s failed when run again after its down", src), nil
	}
	s1b, err := c.ins.snapshot(ctx)
	if err != nil {
		return nil, "", err
	}
	c.schemaFindings(mr, Diff(s1, s1b), "up run again after the down gave another schema", CodeReapplyDiffers, "down and up")
	mr.Reversible = !mr.reversibilityError()
	return s1b, "", nil
}

// schemaFindings turns a diff that should be empty into findings: a column
// order difference alone is a warning, anything else an error.
func (c *checker) schemaFindings(mr *MigrationReport, changes []Change, what string, code Code, step string) {
	var errs, order []Change
	for _, ch := range changes {
		if ch.Op == Reordered {
			order = append(order, ch)
		} else {
			errs = append(errs, ch)
		}
	}
	for _, ch := range order {
		mr.add(Finding{Code: CodeColumnOrder, Severity: SeverityWarning,
			Message: fmt.Sprintf("%s: after %s, table %s has its columns in another order: was (%s), now (%s)", mr.Source, step, ch.Name, ch.Before, ch.After)})
	}
	if len(errs) == 0 {
		return
	}
	detail := DescribeDiff(errs, step)
	first, _, _ := strings.Cut(detail, "\n")
	msg := fmt.Sprintf("%s: %s: %s", mr.Source, what, first)
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	mr.add(Finding{Code: code, Severity: SeverityError, Message: msg, Detail: detail})
}

func (c *checker) dataFindings(ctx context.Context, mr *MigrationReport, before map[string]*rowSet, s0b *Snapshot) error {
	var tables []*Table
	for _, t := range tablesOf(s0b) {
		if b, ok := before[t.Name]; ok && len(b.rows) > 0 {
			tables = append(tables, t)
		}
	}
	after, err := rowSetRead(ctx, c.sc.db, c.cfg.dialect, tables)
	if err != nil {
		return err
	}
	for _, t := range tables {
		b := before[t.Name]
		lost, changed := rowSetDiff(b, after[t.Name])
		if lost > 0 {
			mr.add(Finding{Code: CodeRowsLost, Severity: SeverityError,
				Message: fmt.Sprintf("%s: down lost %d of %d rows of table %s", mr.Source, lost, len(b.rows), t.Name)})
		}
		if changed > 0 {
			mr.add(Finding{Code: CodeRowsChanged, Severity: SeverityError,
				Message: fmt.Sprintf("%s: down changed %d of %d rows of table %s", mr.Source, changed, len(b.rows), t.Name)})
		}
	}
	return nil
}

// touchedTables returns the tables of s whose rows migration m can change:
// those its SQL names, and those that foreign-key actions or triggers reach
// from them. For a Go migration, when a trigger is involved, or when the SQL
// runs procedural code (CALL, DO, EXECUTE, PERFORM), whose tables its text
// need not name, it returns every table.
func touchedTables(m *migration, s *Snapshot) []*Table {
	if m.goMig || reRoutine.MatchString(m.upSQL) || reRoutine.MatchString(m.downSQL) {
		return tablesOf(s)
	}
	words := map[string]bool{}
	for _, w := range reWord.FindAllString(m.upSQL+"\n"+m.downSQL, -1) {
		words[strings.ToLower(w)] = true
	}
	touched := map[string]bool{}
	for _, t := range s.Tables {
		if words[strings.ToLower(t.Name)] {
			touched[t.Name] = true
		}
	}
	for _, tr := range s.Triggers {
		if touched[tr.Table] || words[strings.ToLower(tr.Name)] {
			return tablesOf(s)
		}
	}
	for grew := true; grew; {
		grew = false
		for _, t := range s.Tables {
			if touched[t.Name] {
				continue
			}
			for _, fk := range t.ForeignKeys {
				// TRUNCATE ... CASCADE empties referencing tables whatever
				// their actions.
				acts := words["cascade"] || fk.OnDelete != "" && fk.OnDelete != "RESTRICT" || fk.OnUpdate != "" && fk.OnUpdate != "RESTRICT"
				if acts && touched[fk.RefTable] {
					touched[t.Name], grew = true, true
					break
				}
			}
		}
	}
	var out []*Table
	for i := range s.Tables {
		if touched[s.Tables[i].Name] {
			out = append(out, &s.Tables[i])
		}
	}
	return out
}

// reRoutine finds statements that run code stored elsewhere or built at run
// time: a procedure call, a PostgreSQL DO block, dynamic SQL.
var reRoutine = regexp.MustCompile(`(?i)\b(call|execute|perform)\b|\bdo\s*(\$|')`)

func tablesOf(s *Snapshot) []*Table {
	out := make([]*Table, len(s.Tables))
	for i := range s.Tables {
		out[i] = &s.Tables[i]
	}
	return out
}

// upPassesEmpty runs the migrations before m and then m on a fresh scratch
// database without rows, and reports whether m's up succeeds there.
func (c *checker) upPassesEmpty(ctx context.Context, m *migration) bool {
	cfg := *c.cfg
	if cfg.dialect == dialect.SQLite {
		cfg.adminDSN = "" // a file of its own, never the one the run uses
	}
	sc, err := openScratch(ctx, &cfg)
	if err != nil {
		c.cfg.logger.WarnContext(ctx, "cannot open an empty scratch database", "err", err)
		return false
	}
	defer func() {
		if err := sc.drop(ctx); err != nil {
			c.cfg.logger.WarnContext(ctx, "drop empty scratch database", "err", err)
		}
	}()
	p, err := c.provider(sc.db)
	if err != nil {
		return false
	}
	for _, s := range p.ListSources() {
		if s.Version >= m.version {
			break
		}
		if _, err := p.ApplyVersion(ctx, s.Version, true); err != nil {
			return false
		}
	}
	_, err = p.ApplyVersion(ctx, m.version, true)
	return err == nil
}

// migErr is the cause of a goose error, without goose's wrapping.
func migErr(err error) string {
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Err != nil {
		err = pe.Err
	}
	return oneLine(err)
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
