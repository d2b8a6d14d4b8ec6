package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/migrate"
	"github.com/rollsafe/rollsafe/release"
)

// releaseConnUsage is the part of every release command's usage that says
// how it reaches the release and what its exit codes mean.
const releaseConnUsage = `

Releases live in the service's own database (rollsafe_releases and
rollsafe_release_events, created on first use): --dialect and --dsn say which.
The CLI records what a person does; the services' release.Controller (one of
them holds the lease) takes the steps, judges them and rolls back.

Exit codes: 0 done; 1 refused (an invalid plan, a release that is running or
over, a flag another release moves, an actor the plan does not let promote);
2 could not run (bad usage, a database that does not answer, an unreadable
file).`

// releaseFlags are the flags every release command that reaches the
// database takes.
type releaseFlags struct {
	*storeFlags
}

func newReleaseFlags(fs *flag.FlagSet) *releaseFlags {
	sf := newStoreFlags(fs)
	sf.group = "release"
	return &releaseFlags{sf}
}

// controller opens the database and returns a Controller on it, which the
// command uses without running it. On failure it has printed why and
// returns exit code 2.
func (rf *releaseFlags) controller(e *env, cmd string) (*sql.DB, dialect.Dialect, *release.Controller, int) {
	db, store, code := rf.open(e, cmd, false)
	if code != exitOK {
		return nil, 0, nil, code
	}
	return rf.controllerOn(e, "release "+cmd, db, store)
}

// controllerOn is controller on a database already open; it closes db
// when it fails. what names the command in messages.
func (rf *releaseFlags) controllerOn(e *env, what string, db *sql.DB, store *flagstore.Store) (*sql.DB, dialect.Dialect, *release.Controller, int) {
	d := store.Dialect()
	reg, err := fleet.NewRegistry(e.ctx, db, d)
	if err != nil {
		_ = db.Close() // the registry error is what matters
		e.errorf("%s: %s", what, rf.scrub(err.Error()))
		return nil, 0, nil, exitCantRun
	}
	c, err := release.NewController(db, d, store, reg, release.WithInstanceID("rollsafe-cli"))
	if err != nil {
		_ = db.Close()
		e.errorf("%s: %v", what, err)
		return nil, 0, nil, exitCantRun
	}
	return db, d, c, exitOK
}

// fail prints err, the outcome of a release call, and returns its exit
// code: 1 for what the release refused, 2 for the rest.
func (rf *releaseFlags) fail(e *env, cmd string, err error) int {
	msg := rf.scrub(strings.TrimPrefix(err.Error(), "release: "))
	var perr *release.PlanError
	code := exitCantRun
	switch {
	case errors.Is(err, release.ErrRollbackPending):
		msg = "the rollback is decided and recorded (RollingBack); the flag store could not be written, and the instance that drives will write it: " + msg
	case errors.As(err, &perr), errors.Is(err, release.ErrConflict), errors.Is(err, release.ErrNotActive),
		errors.Is(err, release.ErrNotAllowed), errors.Is(err, release.ErrNotFound), errors.Is(err, release.ErrFlag),
		errors.Is(err, release.ErrNoSchemaFloor), errors.Is(err, migrate.ErrIrreversible):
		code = exitFailed
		msg = "refused: " + msg
	}
	e.errorf("release %s: %s", cmd, msg)
	if rf.json() {
		writeJSON(e, cmd, jsonError{Error: "release " + cmd + ": " + msg, ExitCode: code, Meaning: meanings[code]})
	}
	return code
}

func releaseStartCommand() command {
	return command{
		name:    "start",
		summary: "start a release of a plan; the services' controllers drive it",
		usage: "rollsafe release start PLAN [--actor WHO] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Checks the plan (as `release validate` does) and that each of its flags is in the\n" +
			"store and can be moved, and records the release. The instance that drives\n" +
			"releases writes the first step once every live instance meets the plan's\n" +
			"`requires`. A release that is over may be started again (its attempt goes up).\n\n" +
			"JSON output: the release's status (see `release status`)." + releaseConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newReleaseFlags(fs)
			actor := fs.String("actor", "", "who starts it (default: the OS user, or $USER)")
			return func(e *env, args []string) int {
				args, ok, code := positionalIn(e, fs, "release", releaseStartCommand, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("release start: want one PLAN file, got %d arguments", len(args))
					return exitCantRun
				}
				plan, perr, code := readPlan(e, "start", args[0])
				if perr != nil {
					// One line a problem, each naming the file, as validate prints them.
					for _, pr := range perr.Problems {
						e.errorf("release start: refused: %s: %s", args[0], pr)
					}
					if rf.json() {
						writeJSON(e, "start", jsonError{Error: strings.Join(e.errs, "; "), ExitCode: code, Meaning: meanings[code]})
					}
					return code
				}
				if plan == nil {
					return code
				}
				who := *actor
				if who == "" {
					who = osUser(e)
				}
				db, _, c, code := rf.controller(e, "start")
				if code != exitOK {
					return code
				}
				defer db.Close()
				st, err := c.Start(e.ctx, plan, who)
				if err != nil {
					return rf.fail(e, "start", err)
				}
				if rf.json() {
					return writeJSON(e, "start", st)
				}
				fmt.Fprintf(e.stdout, "release %s started by %s (attempt %d): %s\n", st.ID, st.StartedBy, st.Attempt, plural(st.Steps, "step", "steps"))
				printDriver(e.stdout, st)
				return exitOK
			}
		},
	}
}

func printDriver(w io.Writer, st release.Status) {
	if st.Driver == "" && !st.State.Terminal() {
		fmt.Fprintln(w, "warning: no instance drives releases now (no release.Controller holds the lease): nothing moves until one runs")
	}
}

func releaseStatusCommand() command {
	return command{
		name:    "status",
		summary: "show a release (or every release), or follow one with --watch",
		usage: "rollsafe release status [ID] [--watch [--interval D] [--timeout D]] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Without ID, lists every release, the running ones first. With ID, shows its\n" +
			"state, step, weights, the latest measurement of each metric and the verdict.\n" +
			"With --watch, prints a line each time the release moves (a step, a decision, a\n" +
			"new verdict) until it is over: exit 0 when it was promoted, 1 when it was rolled\n" +
			"back or --timeout passed first.\n\n" +
			"JSON output: {\"releases\": [status...]} without ID; the status with ID; with\n" +
			"--watch, one status object per line." + releaseConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newReleaseFlags(fs)
			watch := fs.Bool("watch", false, "follow the release until it is over")
			interval := fs.Duration("interval", time.Second, "how often --watch reads the release")
			timeout := fs.Duration("timeout", 0, "how long --watch follows at most (0: until the release is over)")
			return func(e *env, args []string) int {
				args, ok, code := positionalIn(e, fs, "release", releaseStatusCommand, args)
				if !ok {
					return code
				}
				if len(args) > 1 || (*watch && len(args) != 1) {
					e.errorf("release status: want at most one ID (and one with --watch), got %d arguments", len(args))
					return exitCantRun
				}
				if *interval <= 0 {
					e.errorf("release status: --interval %v is not positive", *interval)
					return exitCantRun
				}
				db, _, c, code := rf.controller(e, "status")
				if code != exitOK {
					return code
				}
				defer db.Close()
				if len(args) == 0 {
					list, err := c.List(e.ctx)
					if err != nil {
						return rf.fail(e, "status", err)
					}
					if rf.json() {
						return writeJSON(e, "status", struct {
							Releases []release.Status `json:"releases"`
						}{append([]release.Status{}, list...)})
					}
					printReleases(e.stdout, list)
					return exitOK
				}
				if *watch {
					return watchRelease(e, rf, c, args[0], *interval, *timeout)
				}
				st, err := c.Status(e.ctx, args[0])
				if err != nil {
					return rf.fail(e, "status", err)
				}
				if rf.json() {
					return writeJSON(e, "status", st)
				}
				printStatus(e.stdout, st)
				return exitOK
			}
		},
	}
}

func printReleases(w io.Writer, list []release.Status) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no releases")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tATTEMPT\tSTATE\tSTEP\tWEIGHTS\tSTARTED\tBY")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Attempt, s.State, stepText(s), weightsText(s.Weights),
			s.Started.Format(time.RFC3339), s.StartedBy)
	}
	_ = tw.Flush()
}

func stepText(s release.Status) string {
	if s.Step < 0 {
		return fmt.Sprintf("-/%d", s.Steps)
	}
	return fmt.Sprintf("%d/%d", s.Step+1, s.Steps)
}

func weightsText(w map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s=%d%%", k, w[k]))
	}
	return strings.Join(parts, " ")
}

func printStatus(w io.Writer, s release.Status) {
	fmt.Fprintf(w, "release %s (attempt %d): %s, step %s, %s\n", s.ID, s.Attempt, s.State, stepText(s), weightsText(s.Weights))
	if s.AwaitingApproval {
		fmt.Fprintf(w, "waiting for a promote: rollsafe release promote %s --step %d --reason ...\n", s.ID, s.Step+1)
	}
	if s.Outcome != "" {
		fmt.Fprintf(w, "outcome: %s\n", s.Outcome)
	}
	fmt.Fprintf(w, "verdict: %s — %s\n", s.Verdict.Outcome, s.Verdict.Reason)
	for _, m := range s.Latest {
		subject := m.Metric
		if m.Flag != "" {
			subject += " of " + m.Flag
		}
		fmt.Fprintf(w, "  %-32s %-12s %s\n", subject, m.Phase, m.Reason)
	}
	driver := s.Driver
	if driver == "" {
		driver = "none"
	}
	fmt.Fprintf(w, "driver: %s; store revision %d; started %s by %s\n", driver, s.Revision, s.Started.Format(time.RFC3339), s.StartedBy)
	printDriver(w, s)
}

// watchRelease prints a progress line whenever the release moves, until
// it is over or timeout passes.
func watchRelease(e *env, rf *releaseFlags, c *release.Controller, id string, interval, timeout time.Duration) int {
	ctx := e.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	last := ""
	for {
		st, err := c.Status(ctx, id)
		if err != nil && ctx.Err() == nil {
			return rf.fail(e, "status", err)
		}
		if err == nil {
			line := fmt.Sprintf("%s step %s %s verdict %s: %s", st.State, stepText(st), weightsText(st.Weights), st.Verdict.Outcome, st.Verdict.Reason)
			if line != last {
				last = line
				if rf.json() {
					if code := writeJSON(e, "status", st); code != exitOK {
						return code
					}
				} else {
					fmt.Fprintf(e.stdout, "%s %s\n", time.Now().UTC().Format("15:04:05"), line)
				}
			}
			switch st.State {
			case release.StatePromoted:
				return exitOK
			case release.StateRolledBack:
				if !rf.json() {
					fmt.Fprintf(e.stdout, "rolled back: %s\n", st.Outcome)
				}
				return exitFailed
			}
		}
		select {
		case <-ctx.Done():
			e.errorf("release status: %s is not over after --timeout %v", id, timeout)
			return exitFailed
		case <-t.C:
		}
	}
}

// actCommand is promote, pause, resume and abort: a person's change.
func actCommand(name, summary, what string, self func() command,
	do func(c *release.Controller, ctx context.Context, id, actor, reason string) error) command {
	return command{
		name:    name,
		summary: summary,
		usage: "rollsafe release " + name + " ID --reason WHY [--actor WHO] [--format text|json] --dialect D --dsn DSN\n\n" +
			what + "\n\nJSON output: the release's status after the change." + releaseConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newReleaseFlags(fs)
			reason := fs.String("reason", "", "why, for the ledger (required)")
			actor := fs.String("actor", "", "who acts (default: the OS user, or $USER)")
			if name == "promote" {
				step := fs.Int("step", 0, "the step `N` (1-based) you vouch for: refused if the release is on another (default: the current one)")
				do = func(c *release.Controller, ctx context.Context, id, actor, reason string) error {
					return c.PromoteStep(ctx, id, *step, actor, reason)
				}
			}
			return func(e *env, args []string) int {
				args, ok, code := positionalIn(e, fs, "release", self, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("release %s: want one release ID, got %d arguments", name, len(args))
					return exitCantRun
				}
				if strings.TrimSpace(*reason) == "" {
					e.errorf("release %s: --reason is required: say why, for the ledger", name)
					return exitCantRun
				}
				who := *actor
				if who == "" {
					who = osUser(e)
				}
				db, _, c, code := rf.controller(e, name)
				if code != exitOK {
					return code
				}
				defer db.Close()
				if err := do(c, e.ctx, args[0], who, *reason); err != nil {
					return rf.fail(e, name, err)
				}
				st, err := c.Status(e.ctx, args[0])
				if err != nil {
					return rf.fail(e, name, err)
				}
				if rf.json() {
					return writeJSON(e, name, st)
				}
				printStatus(e.stdout, st)
				return exitOK
			}
		},
	}
}

func releasePromoteCommand() command {
	return actCommand("promote", "vouch for the current step: the driver takes the next one", "The driver takes the next step at its next look, whatever the current one still\n"+
		"waits for (bake time, samples, an approval), unless its analysis failed. A paused\n"+
		"release resumes. When the plan lists promoters, --actor must be one of them.\n"+
		"With --step N, only if the release is still on step N (exit 1 otherwise): the\n"+
		"analysis may have taken the step you looked at already.",
		releasePromoteCommand, (*release.Controller).Promote)
}

func releasePauseCommand() command {
	return actCommand("pause", "hold the release where it is", "No step is taken until resume or promote; the analysis goes on and still rolls\nback on failure.",
		releasePauseCommand, (*release.Controller).Pause)
}

func releaseResumeCommand() command {
	return actCommand("resume", "go on with a paused release", "The current step's bake time and timeout start again.",
		releaseResumeCommand, (*release.Controller).Resume)
}

func releaseAbortCommand() command {
	return actCommand("abort", "roll the release back now: every flag to its baseline in one change", "Every flag of the plan goes back to its baseline in one change of the flag store,\n"+
		"whatever step the release was on. The release is RolledBack (start it again to\n"+
		"retry).",
		releaseAbortCommand, (*release.Controller).Abort)
}

func releaseHistoryCommand() command {
	return command{
		name:    "history",
		summary: "the ledger of a release: every transition, measurement and decision",
		usage: "rollsafe release history ID [--attempt N] [--kind K]... [--measurements] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Prints the release's events, oldest first: who did what and why, the weights\n" +
			"before and after each change, and the measurement that decided. Measurements\n" +
			"(one per metric per interval) are left out unless --measurements or --kind\n" +
			"measurement.\n\nJSON output: {\"events\": [event...]}." + releaseConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newReleaseFlags(fs)
			attempt := fs.Int("attempt", 0, "only this attempt's events (0: every attempt)")
			measurements := fs.Bool("measurements", false, "include every measurement")
			var kinds stringList
			fs.Var(&kinds, "kind", "only events of this `kind` (repeatable): started, step, measurement, hold, paused, resumed, promote, webhook, rollback, rolled-back, promoted")
			return func(e *env, args []string) int {
				args, ok, code := positionalIn(e, fs, "release", releaseHistoryCommand, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("release history: want one release ID, got %d arguments", len(args))
					return exitCantRun
				}
				db, _, c, code := rf.controller(e, "history")
				if code != exitOK {
					return code
				}
				defer db.Close()
				evs, err := c.History(e.ctx, args[0], release.HistoryFilter{Attempt: *attempt, Kinds: kinds})
				if err != nil {
					return rf.fail(e, "history", err)
				}
				if len(kinds) == 0 && !*measurements {
					evs = slices.DeleteFunc(evs, func(ev release.Event) bool { return ev.Kind == release.EventMeasurement })
				}
				if rf.json() {
					return writeJSON(e, "history", struct {
						Events []release.Event `json:"events"`
					}{append([]release.Event{}, evs...)})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tATTEMPT\tSTEP\tKIND\tACTOR\tWEIGHTS\tREASON")
				for _, ev := range evs {
					weights := ""
					if ev.WeightsAfter != nil {
						weights = weightsText(ev.WeightsBefore) + " -> " + weightsText(ev.WeightsAfter)
					}
					step := "-"
					if ev.Step >= 0 {
						step = fmt.Sprint(ev.Step + 1)
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", ev.At.Format(time.RFC3339), ev.Attempt, step, ev.Kind, ev.Actor, weights, ev.Reason)
				}
				_ = tw.Flush()
				return exitOK
			}
		},
	}
}

func releaseRollbackCommand() command {
	return command{
		name:    "rollback",
		summary: "abort a release and, with --schema, roll the schema back to the plan's floor",
		usage: "rollsafe release rollback ID [--reason WHY] [--actor WHO] [--schema --migrations DIR] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Aborts the release if it is running (every flag to its baseline in one change;\n" +
			"--reason is then required). With --schema, then rolls the schema back toward\n" +
			"the plan's schemaFloor with the migrations in DIR: never below the floor, and\n" +
			"never past a migration marked irreversible, which stays with everything under\n" +
			"it; it says what it rolled back and what it left in place, and why. A plan\n" +
			"without a schemaFloor, or a release that was promoted (the new code runs\n" +
			"everywhere, on the schema it needs), refuses --schema (exit 1).\n\n" +
			"JSON output: {\"release\": status, \"schema\": {\"floor\", \"from\", \"to\",\n" +
			"\"rolledBack\": [{\"version\", \"name\", \"durationNs\"}], \"kept\": [{\"version\", \"name\",\n" +
			"\"why\"}]}}." + releaseConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newReleaseFlags(fs)
			reason := fs.String("reason", "", "why, for the ledger (required when the release is running)")
			actor := fs.String("actor", "", "who acts (default: the OS user, or $USER)")
			schema := fs.Bool("schema", false, "roll the schema back to the plan's floor too")
			dir := fs.String("migrations", "", "the migrations `DIR` of the service (with --schema)")
			return func(e *env, args []string) int {
				args, ok, code := positionalIn(e, fs, "release", releaseRollbackCommand, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("release rollback: want one release ID, got %d arguments", len(args))
					return exitCantRun
				}
				if *schema != (*dir != "") {
					e.errorf("release rollback: --schema and --migrations DIR go together")
					return exitCantRun
				}
				db, d, c, code := rf.controller(e, "rollback")
				if code != exitOK {
					return code
				}
				defer db.Close()
				st, err := c.Status(e.ctx, args[0])
				if err != nil {
					return rf.fail(e, "rollback", err)
				}
				if *schema && st.Plan.SchemaFloor <= 0 {
					// Refused before the abort: a refusal changes nothing.
					return rf.fail(e, "rollback", fmt.Errorf("release %q: --schema: %w: nothing done (set it to the version the previous release runs on, or roll back without --schema)",
						st.ID, release.ErrNoSchemaFloor))
				}
				if *schema && st.State == release.StatePromoted {
					// Every instance serves the new code, which needs the
					// newer schema: taking it down would break them.
					return rf.fail(e, "rollback", fmt.Errorf("release %q was promoted: the new code runs everywhere on the schema it needs; --schema is for a release rolled back: %w",
						st.ID, release.ErrNotActive))
				}
				if !st.State.Terminal() {
					if strings.TrimSpace(*reason) == "" {
						e.errorf("release rollback: --reason is required to abort a running release")
						return exitCantRun
					}
					who := *actor
					if who == "" {
						who = osUser(e)
					}
					if err := c.Abort(e.ctx, args[0], who, *reason); err != nil {
						return rf.fail(e, "rollback", err)
					}
					if st, err = c.Status(e.ctx, args[0]); err != nil {
						return rf.fail(e, "rollback", err)
					}
				}
				out := struct {
					Release release.Status          `json:"release"`
					Schema  *release.SchemaRollback `json:"schema,omitempty"`
				}{Release: st}
				if *schema {
					runner, err := migrate.New(db, d, os.DirFS(*dir))
					if err != nil {
						e.errorf("release rollback: --migrations %s: %v", *dir, err)
						return exitCantRun
					}
					sr, err := release.RollbackSchema(e.ctx, runner, st.Plan.SchemaFloor)
					out.Schema = &sr
					if err != nil {
						return rf.fail(e, "rollback", err)
					}
				}
				if rf.json() {
					return writeJSON(e, "rollback", out)
				}
				fmt.Fprintf(e.stdout, "release %s is %s: %s\n", st.ID, st.State, st.Outcome)
				if sr := out.Schema; sr != nil {
					printSchemaRollback(e.stdout, *sr)
				}
				return exitOK
			}
		},
	}
}

func printSchemaRollback(w io.Writer, sr release.SchemaRollback) {
	if len(sr.RolledBack) == 0 {
		fmt.Fprintf(w, "schema: nothing rolled back; it stays at version %d (floor %d)\n", sr.To, sr.Floor)
	} else {
		fmt.Fprintf(w, "schema: rolled back from version %d to %d (floor %d):\n", sr.From, sr.To, sr.Floor)
		for _, m := range sr.RolledBack {
			fmt.Fprintf(w, "  down %s\n", m.Name)
		}
	}
	for _, k := range sr.Kept {
		fmt.Fprintf(w, "  kept %d %s: %s\n", k.Version, k.Name, k.Why)
	}
	fmt.Fprintf(w, "  kept the floor %d and everything under it: the previous release runs on it\n", sr.Floor)
}
