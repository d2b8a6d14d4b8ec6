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
	d.progress(e, "%s killed at revision %d (%s: %s); waiting up to %v for the fleet\n", d.key, killRev, drillActor, d.rep.Reason, d.timeout)
	if d.hooks.afterKill != nil {
		d.hooks.afterKill(e.ctx)
	}
	waitErr := d.wait(e, phaseKill, killRev, d.killedAt)
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
	d.progress(e, "%s restored at revision %d; waiting up to %v for the fleet\n", d.key, restoreRev, d.timeout)
	return d.wait(e, phaseRestore, restoreRev, d.restoredAt)
}

// wait follows the fleet until every live instance serves rev or later, at
// most --timeout, and records each instance's time since since. The
// instances that did not confirm go to the report; the error says why the
// wait ended early (an interrupt, a registry that cannot be read).
func (d *drill) wait(e *env, phase string, rev int64, since time.Time) error {
	inPhase := map[string]bool{}
	var last []fleet.Instance
	_, err := followFleet(e.ctx, d.reg, d.timeout, func(ins []fleet.Instance) bool {
		now := time.Now()
		last = ins
		all := true
		for _, in := range ins {
			di := d.instance(in)
			inPhase[in.ID] = true
			ms := di.phaseMs(phase)
			if *ms != nil {
				continue
			}
			if in.FlagsRevision != nil && *in.FlagsRevision >= rev {
				*ms = new(now.Sub(since).Milliseconds())
				continue
			}
			all = false
		}
		return all
	})
	live := map[string]fleet.Instance{}
	for _, in := range last {
		live[in.ID] = in
	}
	confirmed, pending := 0, 0
	for _, di := range d.rep.Instances {
		if !inPhase[di.ID] {
			continue
		}
		if *di.phaseMs(phase) != nil {
			confirmed++
			continue
		}
		in, ok := live[di.ID]
		if !ok {
			di.Gone = true // it left the registry: it serves nothing any more
			continue
		}
		pending++
		if err == nil {
			// It had the whole of --timeout; after an interrupt it had not.
			d.rep.Unconfirmed = append(d.rep.Unconfirmed, drillPending{ID: in.ID, Address: in.Address, Phase: phase, Serves: in.FlagsRevision})
		}
	}
	switch {
	case err != nil && e.ctx.Err() != nil:
		return cantRun("drill: interrupted (%v) while waiting for the fleet to confirm the %s (revision %d)", context.Cause(e.ctx), phase, rev)
	case err != nil:
		return cantRun("drill: waiting for the fleet to confirm the %s (revision %d) failed: %s", phase, rev, d.scrub(err.Error()))
	case pending > 0:
		d.progress(e, "%d of %d instances serve revision %d; %d did not within %v\n", confirmed, confirmed+pending, rev, pending, d.timeout)
	default:
		d.progress(e, "%s serve revision %d\n", plural(confirmed, "instance", "instances"), rev)
	}
	return nil
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
		changes, err := d.changedSince(ctx)
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
// first. A flag changed outside rollsafe is in no record: it is found by
// comparing the flag with what the kill wrote.
func (d *drill) changedSince(ctx context.Context) ([]drillChange, error) {
	killRev := *d.rep.KillRevision
	recs, err := d.store.History(ctx, flagstore.Filter{Key: d.key, Limit: drillHistoryLimit})
	if err != nil {
		return nil, err
	}
	var out []drillChange
	for _, r := range recs {
		if r.Revision > killRev {
			out = append(out, drillChange{Revision: r.Revision, Time: r.Time, Actor: r.Actor, Reason: r.Reason, ReleaseID: r.ReleaseID})
		}
	}
	slices.Reverse(out)
	if len(out) > 0 {
		return out, nil
	}
	if d.killed == nil {
		kill, err := d.store.History(ctx, flagstore.Filter{Key: d.key, Before: killRev + 1, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(kill) != 1 || kill[0].Revision != killRev {
			return nil, fmt.Errorf("the record of the drill's kill (revision %d) is missing", killRev)
		}
		def, ok := flagIn(kill[0].After, d.key)
		if !ok {
			return nil, fmt.Errorf("the record of the drill's kill (revision %d) does not hold flag %q", killRev, d.key)
		}
		d.killed = def
	}
	var b bytes.Buffer
	rev, err := d.store.Export(ctx, &b)
	if err != nil {
		return nil, err
	}
	if now, ok := flagIn(b.Bytes(), d.key); !ok || !bytes.Equal(now, d.killed) {
		return []drillChange{{Revision: rev, Actor: "(outside rollsafe, no record)",
			Reason: "the flag's row is not what the kill wrote"}}, nil
	}
	return nil, nil
}

// restoreFailed is the loud error of a restore that could not be written:
// the flag's state, the command that puts it back, and what it was.
func (d *drill) restoreFailed(err error) error {
	cmd := d.reviveCommand()
	d.rep.RestoreCommand = cmd
	return &drillError{code: exitCantRun,
		msg: fmt.Sprintf("drill: THE RESTORE FAILED: flag %q IS STILL KILLED (state %s since revision %d, this drill's kill): %s",
			d.key, flags.Disabled, *d.rep.KillRevision, d.scrub(err.Error())),
		extra: []string{
			"drill: put it back with: " + cmd,
			fmt.Sprintf("drill: its definition before the drill (revision %d): %s", d.rep.BaseRevision, d.rep.Definition),
		}}
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
