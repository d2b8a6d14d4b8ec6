package main

// rollsafe drill: the rollback of one flag rehearsed on the live fleet.
// It kills the flag, waits until every instance serves the kill, puts the
// flag back exactly as it was and waits again, timing each instance.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/dsn"
	"github.com/rollsafe/rollsafe/release"
)

// drillActor is the actor of the drill's two store writes; who ran it is
// in the reason.
const drillActor = "drill"

const (
	// drillRestoreBudget bounds the restore, which runs on a context of its
	// own: an interrupt or a timeout ends the waits, never the restore.
	drillRestoreBudget = 30 * time.Second
	// drillKillTries is how often the kill is tried when the store moves
	// between the read of the flag and the kill (writes of other flags).
	drillKillTries = 5
	// drillRestoreConflicts is how often the restore is written again when
	// only other flags changed since the kill.
	drillRestoreConflicts = 20
	// drillRestoreRetry is the pause before the restore is tried again
	// after the database failed, within drillRestoreBudget.
	drillRestoreRetry = 250 * time.Millisecond
	// drillHistoryLimit is how many changes of the flag since the kill the
	// report names when someone else changed it.
	drillHistoryLimit = 20
)

const drillUsage = "rollsafe drill --flag KEY [--reason WHY] [--timeout D] [--format text|json|markdown] --dialect D --dsn DSN\n\n" +
	"Rehearses the rollback of the flag KEY on the live fleet, and times it:\n\n" +
	"  1. records the flag's definition (its flagd JSON) and the store's revision;\n" +
	"  2. kills it (state DISABLED) in one store write, actor \"drill\", the reason\n" +
	"     followed by who ran it: \"rollback drill (by alice)\";\n" +
	"  3. waits until every instance live in the fleet registry (rollsafe_instances,\n" +
	"     a heartbeat within its TTL) right after the kill, or seen since, serves the\n" +
	"     kill's revision or a later one. One that leaves the registry first has not\n" +
	"     confirmed: it may serve the unkilled flag still while its heartbeats lapse;\n" +
	"  4. puts the recorded definition back, byte for byte, in one write based on\n" +
	"     the kill's revision (compare-and-swap). The revision is the store's, not\n" +
	"     the flag's: before the write, and again each time the write finds that\n" +
	"     the store moved on, the drill reads the flag's history since the kill and\n" +
	"     compares the flag with what the kill wrote. If the flag itself changed,\n" +
	"     someone else acted on it: the drill STOPS, changes nothing, names who\n" +
	"     changed it and when, and exits 1. If only other flags changed, it writes\n" +
	"     again on the new revision: an unrelated change never leaves the flag killed;\n" +
	"  5. waits again, the same way, for the restore's revision;\n" +
	"  6. reports, per instance (id, address), the time from each write's commit to\n" +
	"     the registry read that showed the instance serving it (read every 25ms),\n" +
	"     the slowest of each, and the instances that never confirmed.\n\n" +
	"Each wait lasts at most --timeout from its write's commit, and no read of the\n" +
	"registry outlasts it: a confirmation read later is none. Whatever happens once\n" +
	"the kill is committed (a wait that times out, SIGINT or SIGTERM, a registry that\n" +
	"cannot be read), the drill still restores the flag, on a context of its own: a\n" +
	"database that fails is tried again for up to 30s, and a second interrupt does\n" +
	"not stop it. Only a change of the flag by someone else stops it. If the restore\n" +
	"fails, the drill says so on stderr: the flag's state, and the command that puts\n" +
	"it back.\n\n" +
	"Refused before anything is written (exit 1): a flag the store does not hold, a\n" +
	"flag whose definition is invalid, a flag already DISABLED (nothing to rehearse),\n" +
	"a flag that a release not over moves (a release owns its flags and would undo\n" +
	"the kill: see rollsafe release status), and a fleet registry with no live\n" +
	"instance (nothing would be measured).\n\n" +
	"JSON output (one object): {\"flag\", \"actor\": \"drill\", \"reason\", \"ranBy\": the OS\n" +
	"user, \"startedAt\" (RFC 3339), \"timeout\", \"baseRevision\": the store's revision\n" +
	"when the flag was recorded, \"definition\": the recorded flagd JSON of the flag,\n" +
	"\"killRevision\", \"restoreRevision\" (null when not written), \"instances\": [{\"id\",\n" +
	"\"address\", \"killMs\", \"restoreMs\" (null when unconfirmed), \"gone\": true when it\n" +
	"left the registry before confirming}], \"slowestKillMs\", \"slowestRestoreMs\"\n" +
	"(null when none confirmed), \"unconfirmed\": [{\"id\", \"address\", \"phase\": \"kill\" or\n" +
	"\"restore\", \"serves\": the revision it reports (last reported, when gone), null\n" +
	"for none, \"gone\": true when it left the registry without confirming}],\n" +
	"\"changedBy\": [{\"revision\", \"time\", \"actor\", \"reason\", \"releaseId\"}] (when\n" +
	"someone else changed the flag), \"restored\": bool, \"restoreCommand\" (when the\n" +
	"restore failed), \"restoreNote\" (when restoreCommand reads $ROLLSAFE_DSN, which\n" +
	"--dsn gave instead: set it first, as the note says), \"ok\": bool, \"error\" (a\n" +
	"refusal, an interrupt, a failure), \"exitCode\"}.\n" +
	"Markdown output is the record a team keeps of its drill.\n\n" +
	"Exit codes: 0 every instance confirmed both writes and the flag is back; 1 an\n" +
	"instance did not confirm a write within --timeout (or left the registry\n" +
	"without confirming it), someone else changed the flag, or a refusal; 2 could\n" +
	"not run (bad usage, a database that does not answer), or could not finish\n" +
	"(interrupted, the registry unreadable, the restore failed)."

// drillHooks are seams for tests: functions that run, when set, between
// two phases, and a shorter time for the restore.
type drillHooks struct {
	// beforeKill runs once the flag is recorded, before the kill.
	beforeKill func(ctx context.Context)
	// afterKill runs once the kill is committed, before its wait.
	afterKill func(ctx context.Context)
	// beforeRestore runs after the kill's wait, before the restore.
	beforeRestore func(ctx context.Context)
	// restoreBudget replaces drillRestoreBudget when positive.
	restoreBudget time.Duration
}

func drillCommand() command { return drillCommandWith(drillHooks{}) }

func drillCommandWith(h drillHooks) command {
	return command{
		name:    "drill",
		summary: "rehearse a flag's rollback on the live fleet: kill it, time every instance, restore it exactly",
		usage:   drillUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			d := &drill{hooks: h}
			fs.StringVar(&d.key, "flag", "", "the `KEY` of the flag whose kill to rehearse (required)")
			fs.StringVar(&d.reason, "reason", "rollback drill", "why, for the audit trail; who ran it is appended")
			d.timeout = 5 * time.Second
			fs.Var((*durationFlag)(&d.timeout), "timeout", "how long each of the two waits for the fleet lasts at most (a `duration` such as 5s or 1m30s)")
			fs.StringVar(&d.dialectName, "dialect", "", "database `dialect`: sqlite, postgres or mysql (MariaDB too)")
			d.dsnFlag = dsnFlag(fs, "database `DSN`, as for rollsafe flags")
			d.format = newFormatFlag(fs, "text", "json", "markdown")
			return func(e *env, args []string) int {
				if len(args) != 0 {
					e.errorf("drill: unexpected argument %q: the drill takes flags only (the flag to rehearse is --flag KEY)", args[0])
					return exitCantRun
				}
				return d.run(e)
			}
		},
	}
}

// durationFlag is a time.Duration flag whose error says what a duration
// looks like.
type durationFlag time.Duration

func (f *durationFlag) String() string {
	if f == nil {
		return ""
	}
	return time.Duration(*f).String()
}

func (f *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 5s or 1m30s", s)
	}
	*f = durationFlag(v)
	return nil
}

// drill is one run of the command: its flags, its connections and what it
// has done so far.
type drill struct {
	key, reason, dialectName string
	timeout                  time.Duration
	dsnFlag                  *string
	format                   *formatFlag
	hooks                    drillHooks

	dsn   string
	d     dialect.Dialect
	db    *sql.DB
	store *flagstore.Store
	reg   *fleet.Registry

	// opened is set once the database answered: from then on the outcome
	// is a report, whatever it is.
	opened bool
	rep    drillReport
	seen   map[string]*drillInstance // by id, the entries of rep.Instances
	// killedAt and restoredAt are when the two writes committed, which
	// each instance's time is measured from.
	killedAt, restoredAt time.Time
	// killed is the flag as the kill wrote it (from the kill's record):
	// anything else at restore time means someone else changed it.
	killed json.RawMessage
}

// drillError is why the drill ended early: the exit code, the message and
// further lines for stderr.
type drillError struct {
	code  int
	msg   string
	extra []string
}

func (e *drillError) Error() string { return e.msg }

func refused(format string, args ...any) error {
	return &drillError{code: exitFailed, msg: fmt.Sprintf(format, args...)}
}

func cantRun(format string, args ...any) error {
	return &drillError{code: exitCantRun, msg: fmt.Sprintf(format, args...)}
}

func (d *drill) run(e *env) int {
	if err := d.check(e); err != nil {
		return d.finish(e, err)
	}
	if err := d.open(e); err != nil {
		return d.finish(e, err)
	}
	defer d.db.Close()
	if err := d.prepare(e); err != nil {
		return d.finish(e, err)
	}
	if err := d.kill(e); err != nil {
		return d.finish(e, err)
	}
	// The flag is killed: from here every path goes through the restore.
	return d.finish(e, d.rehearse(e))
}

// check validates the command line.
func (d *drill) check(e *env) error {
	d.rep = drillReport{Flag: d.key, Actor: drillActor, StartedAt: time.Now().UTC(), Timeout: d.timeout.String(),
		Instances: []*drillInstance{}, Unconfirmed: []drillPending{}}
	d.seen = map[string]*drillInstance{}
	switch {
	case d.key == "":
		return cantRun("drill: --flag is required: the KEY of the flag whose kill to rehearse")
	case d.timeout <= 0:
		return cantRun("drill: --timeout %v is not positive", d.timeout)
	case strings.TrimSpace(d.reason) == "":
		return cantRun("drill: --reason is empty: say why, for the audit trail")
	}
	d.rep.RanBy = osUser(e)
	who := d.rep.RanBy
	if strings.TrimSpace(who) == "" {
		who = "an unknown user"
	}
	d.rep.Reason = fmt.Sprintf("%s (by %s)", d.reason, who)
	if len(d.rep.Reason) > flagstore.MaxReasonLen {
		return cantRun("drill: --reason is %d bytes with who ran it, more than %d", len(d.rep.Reason), flagstore.MaxReasonLen)
	}
	return nil
}

// open connects to the database as the flags commands do, and opens the
// store and the registry on it.
func (d *drill) open(e *env) error {
	d.dsn = e.dsn(*d.dsnFlag)
	if d.dialectName == "" || d.dsn == "" {
		return cantRun("drill: --dialect and --dsn (or $%s) are required", envDSN)
	}
	var err error
	if d.d, err = dialect.Parse(d.dialectName); err != nil {
		return cantRun("drill: --dialect: %s", strings.TrimPrefix(err.Error(), "dialect: "))
	}
	if d.db, err = openDatabase(e.ctx, d.d, d.dsn, false); err != nil {
		return cantRun("drill: %s", d.scrub(err.Error()))
	}
	fail := func(err error) error {
		_ = d.db.Close() // the error that made it fail is what matters
		return cantRun("drill: %s", d.scrub(err.Error()))
	}
	if d.store, err = flagstore.New(d.db, d.d); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, pingTimeout)
	defer cancel()
	if d.reg, err = fleet.NewRegistry(ctx, d.db, d.d); err != nil {
		return fail(err)
	}
	d.opened = true
	return nil
}

func (d *drill) scrub(msg string) string { return dsn.Scrub(trimPrefixes(msg), d.dsn) }

// prepare records the flag and refuses what there is nothing to rehearse
// on, or what the drill must not touch.
func (d *drill) prepare(e *env) error {
	if err := d.record(e.ctx); err != nil {
		return err
	}
	if err := d.checkReleases(e.ctx); err != nil {
		return err
	}
	ins, err := d.reg.List(e.ctx)
	if err != nil {
		return cantRun("drill: read the fleet registry: %s", d.scrub(err.Error()))
	}
	if len(ins) == 0 {
		return refused("drill: refused: no live instance in the fleet registry: there is nothing to measure, and the flag is left alone")
	}
	return nil
}

// record reads the flag's definition and the store's revision, in one read.
func (d *drill) record(ctx context.Context) error {
	var b bytes.Buffer
	rev, err := d.store.Export(ctx, &b)
	if err != nil {
		return cantRun("drill: read the flag store: %s", d.scrub(err.Error()))
	}
	d.rep.BaseRevision = rev
	def, ok := flagIn(b.Bytes(), d.key)
	if !ok {
		return refused("drill: refused: flag %q is not in the store (revision %d)", d.key, rev)
	}
	var st struct {
		State flags.State `json:"state"`
	}
	if err := json.Unmarshal(def, &st); err != nil {
		return refused("drill: refused: the definition of flag %q is invalid (changed outside rollsafe?): fix it with rollsafe flags push first", d.key)
	}
	d.rep.Definition = def
	if st.State == flags.Disabled {
		return refused("drill: refused: flag %q is already %s at revision %d: there is no kill to rehearse", d.key, flags.Disabled, rev)
	}
	return nil
}

// flagIn returns the compact definition of key in the flagd document doc.
func flagIn(doc []byte, key string) (json.RawMessage, bool) {
	var d struct {
		Flags map[string]json.RawMessage `json:"flags"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil, false
	}
	def, ok := d.Flags[key]
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	if json.Compact(&b, def) != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// checkReleases refuses a flag that a release not over moves: its
// controller would write the flag's weights back over the kill, and the
// restore over the release's next step.
func (d *drill) checkReleases(ctx context.Context) error {
	c, err := release.NewController(d.db, d.d, d.store, nil, release.WithInstanceID("rollsafe-drill"))
	if err != nil {
		return cantRun("drill: %v", err)
	}
	id, err := c.FlagHolder(ctx, d.key)
	if err == nil && id != "" {
		var st release.Status
		if st, err = c.Status(ctx, id); err == nil {
			return refused("drill: refused: flag %q is moved by release %q, which is %s: the release owns the flag and would undo the kill; "+
				"drill it once the release is over (rollsafe release status %s)", d.key, id, st.State, id)
		}
	}
	if err != nil {
		return cantRun("drill: read the releases: %s", d.scrub(strings.TrimPrefix(err.Error(), "release: ")))
	}
	return nil
}

// kill writes the flag's state DISABLED, based on the recorded revision,
// so that what the restore puts back is what the kill replaced. When other
// writes move the store in between, the flag is recorded again.
func (d *drill) kill(e *env) error {
	if d.hooks.beforeKill != nil {
		d.hooks.beforeKill(e.ctx)
	}
	for try := 1; ; try++ {
		base := d.rep.BaseRevision
		res, err := d.store.Apply(e.ctx, flagstore.Change{Actor: drillActor, Reason: d.rep.Reason, Base: &base,
			Edits: []flagstore.Edit{flagstore.SetState(d.key, flags.Disabled)}})
		var ce *flagstore.ConflictError
		var ve *flags.ValidationError
		switch {
		case errors.As(err, &ce) && try < drillKillTries:
			if err := d.prepare(e); err != nil {
				return err
			}
			continue
		case errors.As(err, &ce):
			return cantRun("drill: the store moved on at each of %d tries to kill flag %q (now at revision %d); nothing written", try, d.key, ce.Current)
		case errors.As(err, &ve), errors.Is(err, flags.ErrNotFound):
			return refused("drill: refused, nothing written: %s", d.scrub(err.Error()))
		case errors.Is(err, flagstore.ErrInvalidChange):
			return cantRun("drill: %s", d.scrub(err.Error()))
		case err != nil:
			return d.killFailed(e, err)
		case len(res.Keys) == 0:
			return refused("drill: refused: flag %q is already %s: there is no kill to rehearse", d.key, flags.Disabled)
		}
		d.killedAt = time.Now()
		d.rep.KillRevision = &res.Revision
		return nil
	}
}

// killFailed looks at a kill that failed for another reason than a
// refusal (an interrupt, the database): a commit whose answer was lost has
// killed the flag all the same, and then the drill goes on, to restore it.
func (d *drill) killFailed(e *env, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), pingTimeout)
	defer cancel()
	recs, herr := d.store.History(ctx, flagstore.Filter{Key: d.key, Limit: 1})
	switch {
	case herr != nil:
		return &drillError{code: exitCantRun,
			msg: fmt.Sprintf("drill: kill flag %q: %s; whether the kill was written is unknown: the store does not answer", d.key, d.scrub(err.Error())),
			extra: d.withReviveNote(fmt.Sprintf("drill: once it does, see rollsafe flags history %s; if the drill's kill is there, put the flag back with: %s",
				shellQuote(d.key), d.reviveCommand()))}
	case len(recs) == 1 && recs[0].Revision > d.rep.BaseRevision && recs[0].Actor == drillActor && recs[0].Reason == d.rep.Reason:
		d.killedAt = time.Now() // late: the times measured from it are the shorter
		d.rep.KillRevision = &recs[0].Revision
		return nil
	}
	return cantRun("drill: kill flag %q: %s; nothing written", d.key, d.scrub(err.Error()))
}

// withReviveNote returns line, followed by reviveNote when there is one.
func (d *drill) withReviveNote(line string) []string {
	if note := d.reviveNote(); note != "" {
		return []string{line, "drill: " + note}
	}
	return []string{line}
}
