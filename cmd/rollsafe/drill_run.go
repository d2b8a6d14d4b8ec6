package main

// The drill once the kill is committed: the waits for the fleet and the
// restore, which runs whatever ended the first wait.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
	"github.com/rollsafe/rollsafe/internal/dsn"
)

// The two phases of a drill, as the report names them.
const (
	phaseKill    = "kill"
	phaseRestore = "restore"
)

// rehearse follows the kill through the fleet, restores the flag and
// follows the restore. It returns why the drill did not end well, or nil
// (instances that did not confirm are in the report, not an error).
func (d *drill) rehearse(e *env) error {
	killRev := *d.rep.KillRevision
	kill, waitErr := d.begin(e, phaseKill, killRev, d.killedAt)
	d.progress(e, "%s killed at revision %d (%s: %s); waiting up to %v for the fleet\n", d.key, killRev, drillActor, d.rep.Reason, d.timeout)
	if d.hooks.afterKill != nil {
		d.hooks.afterKill(e.ctx)
	}
	if waitErr == nil {
		waitErr = d.wait(e, kill)
	}
	if d.hooks.beforeRestore != nil {
		d.hooks.beforeRestore(e.ctx)
	}
	// The restore outlives an interrupt and a command context that ended:
	// the flag must not stay killed because the operator pressed ^C.
	budget := drillRestoreBudget
	if d.hooks.restoreBudget > 0 {
		budget = d.hooks.restoreBudget
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), budget)
	defer cancel()
	if err := d.restore(e, ctx); err != nil {
		if waitErr != nil {
			var de *drillError
			if errors.As(err, &de) {
				de.extra = append([]string{waitErr.Error()}, de.extra...)
			}
		}
		return err
	}
	restoreRev := *d.rep.RestoreRevision
	if waitErr != nil {
		return cantRun("%v; the flag is restored at revision %d, whose confirmation by the fleet was not awaited", waitErr, restoreRev)
	}
	restore, err := d.begin(e, phaseRestore, restoreRev, d.restoredAt)
	if err != nil {
		return err
	}
	d.progress(e, "%s restored at revision %d; waiting up to %v for the fleet\n", d.key, restoreRev, d.timeout)
	return d.wait(e, restore)
}

// drillPhase is one of the two waits: the write it follows and the
// instances it counts.
type drillPhase struct {
	name  string
	rev   int64
	since time.Time // the write's commit
	// in holds the instances the phase counts: those live right after
	// the write, and those seen since. One that leaves the registry stays
	// counted: it may serve its last flag set still, heartbeats lapsed.
	in map[string]bool
	// last is each instance as the latest read that listed it showed it;
	// live holds the ids of the latest read.
	last map[string]fleet.Instance
	live map[string]bool
}

// begin reads the registry right after a write: the instances live then
// are the phase's, whether or not they stay.
func (d *drill) begin(e *env, name string, rev int64, since time.Time) (*drillPhase, error) {
	ph := &drillPhase{name: name, rev: rev, since: since, in: map[string]bool{}, last: map[string]fleet.Instance{}}
	ctx, cancel := context.WithTimeout(e.ctx, pingTimeout)
	defer cancel()
	ins, err := d.reg.List(ctx)
	if err != nil {
		return ph, d.waitFailed(e, ph, err)
	}
	d.observe(ph, ins, time.Now())
	return ph, nil
}

// observe records a registry read of ins made at now, and reports whether
// every instance of the phase has confirmed. A confirmation read after
// --timeout is none.
func (d *drill) observe(ph *drillPhase, ins []fleet.Instance, now time.Time) bool {
	ph.live = map[string]bool{}
	took := now.Sub(ph.since)
	for _, in := range ins {
		ph.in[in.ID], ph.live[in.ID], ph.last[in.ID] = true, true, in
		ms := d.instance(in).phaseMs(ph.name)
		if *ms == nil && in.FlagsRevision != nil && *in.FlagsRevision >= ph.rev && took <= d.timeout {
			*ms = new(took.Milliseconds())
		}
	}
	return d.observeDone(ph)
}

// wait follows the fleet until every instance of the phase serves its
// revision or later, at most --timeout after the write, and records each
// instance's time. The instances that did not confirm go to the report;
// the error says why the wait ended early (an interrupt, a registry that
// cannot be read).
func (d *drill) wait(e *env, ph *drillPhase) error {
	var err error
	if left := d.timeout - time.Since(ph.since); left > 0 && !d.observeDone(ph) {
		_, err = followFleet(e.ctx, d.reg, left, func(ins []fleet.Instance) bool {
			return d.observe(ph, ins, time.Now())
		})
	}
	confirmed, pending, gone := 0, 0, 0
	for _, di := range d.rep.Instances {
		if !ph.in[di.ID] {
			continue
		}
		if *di.phaseMs(ph.name) != nil {
			confirmed++
			continue
		}
		pending++
		p := drillPending{ID: di.ID, Address: di.Address, Phase: ph.name, Serves: ph.last[di.ID].FlagsRevision}
		if !ph.live[di.ID] {
			di.Gone, p.Gone = true, true
			gone++
		}
		if err == nil {
			// It had the whole of --timeout; after an interrupt it had not.
			d.rep.Unconfirmed = append(d.rep.Unconfirmed, p)
		}
	}
	switch {
	case err != nil:
		return d.waitFailed(e, ph, err)
	case pending > 0:
		left := ""
		if gone > 0 {
			left = fmt.Sprintf(" (%d left the registry)", gone)
		}
		d.progress(e, "%d of %d instances serve revision %d; %d did not within %v%s\n", confirmed, confirmed+pending, ph.rev, pending, d.timeout, left)
	default:
		d.progress(e, "%s serve revision %d\n", plural(confirmed, "instance", "instances"), ph.rev)
	}
	return nil
}

// observeDone reports whether every instance of the phase confirmed it
// already.
func (d *drill) observeDone(ph *drillPhase) bool {
	for id := range ph.in {
		if *d.seen[id].phaseMs(ph.name) == nil {
			return false
		}
	}
	return true
}

// waitFailed is the error of a registry read of the phase that failed.
func (d *drill) waitFailed(e *env, ph *drillPhase, err error) error {
	if e.ctx.Err() != nil {
		return cantRun("drill: interrupted (%v) while waiting for the fleet to confirm the %s (revision %d)", context.Cause(e.ctx), ph.name, ph.rev)
	}
	return cantRun("drill: waiting for the fleet to confirm the %s (revision %d) failed: %s", ph.name, ph.rev, d.scrub(err.Error()))
}

// instance returns the report's entry for in, adding it the first time.
func (d *drill) instance(in fleet.Instance) *drillInstance {
	if di, ok := d.seen[in.ID]; ok {
		return di
	}
	di := &drillInstance{ID: in.ID, Address: in.Address}
	d.seen[in.ID] = di
	d.rep.Instances = append(d.rep.Instances, di)
	return di
}

// restore puts the recorded definition back, based on the kill's revision.
// Before each write it looks at what changed since the kill: the flag
// itself (stop, a refusal naming who), or only other flags, which moved the
// store's revision (write again on the new one).
func (d *drill) restore(e *env, ctx context.Context) error {
	base := *d.rep.KillRevision
	for conflicts := 0; ; {
		changes, own, err := d.changedSince(ctx)
		if err == nil && own != nil {
			// A write whose commit answer was lost (or came late) is there.
			d.restoredAt = time.Now() // late: the times measured from it are the shorter
			d.rep.RestoreRevision, d.rep.Restored = &own.Revision, true
			d.progress(e, "%s is restored already, at revision %d: by this drill's own write, whose answer was lost\n", d.key, own.Revision)
			return nil
		}
		if err == nil && len(changes) > 0 {
			d.rep.ChangedBy = changes
			return d.changedByOthers(changes[len(changes)-1])
		}
		if err == nil {
			var res flagstore.Result
			res, err = d.store.Apply(ctx, flagstore.Change{Actor: drillActor, Reason: d.rep.Reason, Base: &base,
				Edits: []flagstore.Edit{flagstore.Put(d.key, d.rep.Definition)}})
			if err == nil {
				d.restoredAt = time.Now()
				d.rep.RestoreRevision, d.rep.Restored = &res.Revision, true
				return nil
			}
		}
		var ce *flagstore.ConflictError
		var ve *flags.ValidationError
		switch {
		case errors.As(err, &ve), errors.Is(err, flagstore.ErrInvalidChange):
			return d.restoreFailed(err)
		case errors.As(err, &ce):
			if conflicts++; conflicts == drillRestoreConflicts {
				return d.restoreFailed(err)
			}
			d.progress(e, "the store moved on to revision %d: restoring %s on it unless the flag changed\n", ce.Current, d.key)
			base = ce.Current
		case !pause(ctx, drillRestoreRetry):
			// The database may be back in a moment: it is tried again
			// while the restore's time lasts.
			return d.restoreFailed(err)
		}
	}
}

// changedByOthers is the refusal that stops a drill whose flag someone
// else changed: c is the latest change.
func (d *drill) changedByOthers(c drillChange) error {
	if c.Time.IsZero() {
		return refused("drill: stopped: flag %q was changed after the drill's kill (revision %d) outside rollsafe: its row is not what "+
			"the kill wrote, and no change records it; the drill changes nothing more: the flag stays as it is", d.key, *d.rep.KillRevision)
	}
	return refused("drill: stopped: flag %q was changed after the drill's kill (revision %d) by %s at %s (revision %d: %s); "+
		"the drill changes nothing more: the flag stays as they left it", d.key, *d.rep.KillRevision,
		c.Actor, c.Time.Format(time.RFC3339), c.Revision, oneLine(c.Reason))
}

// pause waits for d, or returns false when ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// changedSince returns the changes of the flag after the kill, oldest
// first, or, when the latest is this drill's own restore (a write whose
// answer was lost), its record. A flag changed outside rollsafe is in no
// record: it is found by comparing the flag with what the kill wrote.
func (d *drill) changedSince(ctx context.Context) ([]drillChange, *flagstore.Record, error) {
	killRev := *d.rep.KillRevision
	recs, err := d.store.History(ctx, flagstore.Filter{Key: d.key, Limit: drillHistoryLimit})
	if err != nil {
		return nil, nil, err
	}
	if len(recs) > 0 && d.ownRestore(recs[0]) {
		return nil, &recs[0], nil
	}
	var out []drillChange
	for _, r := range recs {
		if r.Revision > killRev {
			out = append(out, drillChange{Revision: r.Revision, Time: r.Time, Actor: r.Actor, Reason: r.Reason, ReleaseID: r.ReleaseID})
		}
	}
	slices.Reverse(out)
	if len(out) > 0 {
		return out, nil, nil
	}
	if d.killed == nil {
		kill, err := d.store.History(ctx, flagstore.Filter{Key: d.key, Before: killRev + 1, Limit: 1})
		if err != nil {
			return nil, nil, err
		}
		if len(kill) != 1 || kill[0].Revision != killRev {
			return nil, nil, fmt.Errorf("the record of the drill's kill (revision %d) is missing", killRev)
		}
		def, ok := flagIn(kill[0].After, d.key)
		if !ok {
			return nil, nil, fmt.Errorf("the record of the drill's kill (revision %d) does not hold flag %q", killRev, d.key)
		}
		d.killed = def
	}
	var b bytes.Buffer
	rev, err := d.store.Export(ctx, &b)
	if err != nil {
		return nil, nil, err
	}
	if now, ok := flagIn(b.Bytes(), d.key); !ok || !bytes.Equal(now, d.killed) {
		return []drillChange{{Revision: rev, Actor: "(outside rollsafe, no record)",
			Reason: "the flag's row is not what the kill wrote"}}, nil, nil
	}
	return nil, nil, nil
}

// ownRestore reports whether r is this drill's restore: its actor and
// reason, after the kill, putting back the recorded definition.
func (d *drill) ownRestore(r flagstore.Record) bool {
	if r.Revision <= *d.rep.KillRevision || r.Actor != drillActor || r.Reason != d.rep.Reason {
		return false
	}
	after, ok := flagIn(r.After, d.key)
	return ok && bytes.Equal(after, d.rep.Definition)
}

// restoreFailed is the loud error of a restore that could not be written:
// the flag's state, the command that puts it back, and what it was.
func (d *drill) restoreFailed(err error) error {
	cmd := d.reviveCommand()
	d.rep.RestoreCommand, d.rep.RestoreNote = cmd, d.reviveNote()
	extra := append(d.withReviveNote("drill: put it back with: "+cmd), fmt.Sprintf("drill: its definition before the drill (revision %d): %s", d.rep.BaseRevision, d.rep.Definition))
	return &drillError{code: exitCantRun,
		msg: fmt.Sprintf("drill: THE RESTORE FAILED: flag %q IS STILL KILLED (state %s since revision %d, this drill's kill): %s",
			d.key, flags.Disabled, *d.rep.KillRevision, d.scrub(err.Error())),
		extra: extra}
}

// reviveNote is what to do before running reviveCommand when the command
// reads the DSN from $ROLLSAFE_DSN although this drill was given it with
// --dsn (it holds a password): the variable may be unset, or hold another.
func (d *drill) reviveNote() string {
	if *d.dsnFlag == "" || dsn.Redact(d.dsn) == d.dsn {
		return ""
	}
	return fmt.Sprintf("first set %s to the DSN given to --dsn (%s, its password left out here): the command reads it from there",
		envDSN, dsn.Redact(d.dsn))
}

// reviveCommand is the command line that switches the flag back on. The
// DSN is written out only when it holds no secret.
func (d *drill) reviveCommand() string {
	args := []string{"rollsafe", "flags", "revive", shellQuote(d.key), "--reason", shellQuote("restore after a failed rollback drill"),
		"--dialect", d.d.String()}
	switch {
	case *d.dsnFlag == "":
		// $ROLLSAFE_DSN gave it: it still does.
	case dsn.Redact(d.dsn) == d.dsn:
		args = append(args, "--dsn", shellQuote(d.dsn))
	default:
		args = append(args, "--dsn", `"$`+envDSN+`"`)
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// progress prints a line of the text report as the drill goes.
func (d *drill) progress(e *env, format string, args ...any) {
	if d.format.String() == "text" {
		fmt.Fprintf(e.stdout, format, args...)
	}
}
