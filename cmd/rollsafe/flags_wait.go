package main

// The commands that move flags between a file and the store (push, pull),
// those that change one flag (kill, revive, weights), and --wait, which
// follows a change until every live instance serves it.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/fleet"
)

// writeJSONUsage documents the JSON output of every write.
const writeJSONUsage = `

JSON output (one object): {"revision": the store's revision after the write,
"changed": false when the store already held it (nothing written), "keys":
[the flags changed, sorted], "actor", "reason", "releaseId" (when given)}; with
--wait also "wait": {"instances": the live instances, "confirmed": those that
serve the revision, "seconds": from the commit to the last confirmation (or
the give-up), "timedOut": bool, "pending": [{"id", "address", "revision": the
revision it serves, null when it reports none}]}. A refusal is {"error",
"exitCode": 1, "meaning", "problems": [{"flag", "field", "message"}],
"current": the store's revision on a --base conflict}.`

// waitUsage documents --wait.
const waitUsage = `

With --wait it then waits, at most --timeout, until every live instance in
the fleet registry (rollsafe_instances) reports that it serves the new
revision, and prints how long that took; instances that did not are listed
with their id, address and the revision they serve, and the exit code is 1.
With no live instances there is nothing to wait for: exit 0.`

// waitPoll is how often --wait reads the registry: instances heartbeat a
// new revision at once, so this bounds how late the reported time is.
const waitPoll = 25 * time.Millisecond

// writeFlags are the flags of the commands that change the store.
type writeFlags struct {
	reason, actor, release string
	base                   revisionFlag
}

func newWriteFlags(fs *flag.FlagSet) *writeFlags {
	wf := &writeFlags{}
	fs.StringVar(&wf.reason, "reason", "", "why, for the audit trail (required)")
	fs.StringVar(&wf.actor, "actor", "", "who makes the change (default: the OS user, or $USER)")
	fs.StringVar(&wf.release, "release", "", "the `id` of the release the change belongs to (optional)")
	fs.Var(&wf.base, "base", "write only if the store is still at this `REVISION` (compare-and-swap; default: whatever it is at)")
	return wf
}

// change returns the change the flags describe, or prints why they do not
// make one and returns false.
func (wf *writeFlags) change(e *env, cmd string) (flagstore.Change, bool) {
	if strings.TrimSpace(wf.reason) == "" {
		e.errorf("flags %s: --reason is required: say why, for the audit trail", cmd)
		return flagstore.Change{}, false
	}
	actor := wf.actor
	if actor == "" {
		actor = osUser(e)
	}
	if strings.TrimSpace(actor) == "" {
		e.errorf("flags %s: no --actor, and the OS user is unknown: say who makes the change", cmd)
		return flagstore.Change{}, false
	}
	c := flagstore.Change{Actor: actor, Reason: wf.reason, ReleaseID: wf.release}
	if wf.base.set {
		c.Base = &wf.base.v
	}
	return c, true
}

// osUser is the default actor: the user running the command.
func osUser(e *env) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if e.getenv != nil {
		return e.getenv("USER")
	}
	return ""
}

// revisionFlag is --base: a revision (0 or more), or unset.
type revisionFlag struct {
	v   int64
	set bool
}

func (f *revisionFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatInt(f.v, 10)
}

func (f *revisionFlag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a revision (a whole number from 0)", s)
	}
	f.v, f.set = v, true
	return nil
}

func flagsPushCommand() command {
	return command{
		name:    "push",
		summary: "replace the store's flags with a flagd file, as one change",
		usage: "rollsafe flags push --reason WHY [--actor WHO] [--release ID] [--base REV] [--format text|json] --dialect D --dsn DSN FILE\n\n" +
			"Replaces the whole set with FILE (flagd JSON, or YAML by its .yaml/.yml name):\n" +
			"flags it does not hold are deleted. It is one change, under one new revision,\n" +
			"all or nothing: a file with any invalid flag is refused, naming flag and field.\n\n" +
			"JSON output (one object): {\"revision\": N, \"changed\": bool, \"keys\": [the flags\n" +
			"changed, sorted], \"actor\", \"reason\", \"releaseId\" (when given), \"file\"}.\n" +
			"A refusal is {\"error\", \"exitCode\": 1, \"meaning\", \"problems\": [{\"flag\",\n" +
			"\"field\", \"message\"}], \"current\": the store's revision on a --base conflict}." + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf, wf := newStoreFlags(fs), newWriteFlags(fs)
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, flagsPushCommand, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("flags push: want one FILE, got %d arguments", len(args))
					return exitCantRun
				}
				c, ok := wf.change(e, "push")
				if !ok {
					return exitCantRun
				}
				return flagsPush(e, sf, c, args[0])
			}
		},
	}
}

func flagsPush(e *env, sf *storeFlags, c flagstore.Change, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		e.errorf("flags push: %v", err)
		return exitCantRun
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		if data, err = yamlToJSON(data); err != nil {
			return sf.failOn(e, "push", path, err)
		}
	}
	db, store, code := sf.open(e, "push", true)
	if code != exitOK {
		return code
	}
	defer db.Close()
	res, err := store.Import(e.ctx, data, c)
	if err != nil {
		return sf.failOn(e, "push", path, err)
	}
	out := newWriteResult(res, c)
	out.File = path
	if sf.json() {
		return writeJSON(e, "push", out)
	}
	if !out.Changed {
		fmt.Fprintf(e.stdout, "%s: nothing changed; the store stays at revision %d\n", path, res.Revision)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%s pushed at revision %d: %s changed (%s) %s\n", path, res.Revision,
		plural(len(res.Keys), "flag", "flags"), strings.Join(res.Keys, ", "), byline(c))
	return exitOK
}

// yamlToJSON converts a flagd document written in YAML to the JSON the
// store takes, as flags.ParseYAML reads it; YAML that does not decode, or
// that JSON cannot express, refuses the document whole.
func yamlToJSON(data []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, documentRefused("malformed YAML: " + err.Error())
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, documentRefused("YAML that JSON cannot express: " + err.Error())
	}
	return js, nil
}

func documentRefused(msg string) error {
	return &flags.DocumentError{ValidationError: flags.ValidationError{Problems: []flags.Problem{{Message: msg}}}}
}

// byline is "(alice: errors up)", with the release when there is one.
func byline(c flagstore.Change) string {
	if c.ReleaseID != "" {
		return fmt.Sprintf("(%s: %s; release %s)", c.Actor, c.Reason, c.ReleaseID)
	}
	return fmt.Sprintf("(%s: %s)", c.Actor, c.Reason)
}

func flagsPullCommand() command {
	return command{
		name:    "pull",
		summary: "write the store's flags as a flagd file, or to stdout",
		usage: "rollsafe flags pull [--format text|json] --dialect D --dsn DSN [FILE]\n\n" +
			"Writes the store's flags as a flagd document (indented JSON, keys sorted), the\n" +
			"file that rollsafe flags push and a file source read: to FILE, atomically (a\n" +
			"temporary file beside it, then a rename), or to stdout without FILE.\n\n" +
			"With FILE, JSON output is {\"revision\": N, \"file\", \"flags\": the number of flags};\n" +
			"without FILE the document is the output, whatever the format." + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf := newStoreFlags(fs)
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, flagsPullCommand, args)
				if !ok {
					return code
				}
				if len(args) > 1 {
					e.errorf("flags pull: want at most one FILE, got %d arguments", len(args))
					return exitCantRun
				}
				db, store, code := sf.open(e, "pull", false)
				if code != exitOK {
					return code
				}
				defer db.Close()
				var b bytes.Buffer
				rev, err := store.Export(e.ctx, &b)
				if err != nil {
					return sf.fail(e, "pull", err)
				}
				if len(args) == 0 {
					if _, err := e.stdout.Write(b.Bytes()); err != nil {
						e.errorf("flags pull: write: %v", err)
						return exitCantRun
					}
					return exitOK
				}
				return flagsPullFile(e, sf, args[0], rev, b.Bytes())
			}
		},
	}
}

func flagsPullFile(e *env, sf *storeFlags, path string, rev int64, doc []byte) int {
	if err := writeFileAtomic(path, doc); err != nil {
		e.errorf("flags pull: %v", err)
		return exitCantRun
	}
	var n struct {
		Flags map[string]json.RawMessage `json:"flags"`
	}
	_ = json.Unmarshal(doc, &n) // Export wrote it: it decodes
	if sf.json() {
		return writeJSON(e, "pull", struct {
			Revision int64  `json:"revision"`
			File     string `json:"file"`
			Flags    int    `json:"flags"`
		}{rev, path, len(n.Flags)})
	}
	fmt.Fprintf(e.stdout, "revision %d (%s) written to %s\n", rev, plural(len(n.Flags), "flag", "flags"), path)
	return exitOK
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, renamed over path: a reader sees the old file or the new one,
// never half of one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()           // already failing; the first error is reported
			_ = os.Remove(tmp.Name()) // likewise
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return nil
}

// writeResult is the JSON form of a write.
type writeResult struct {
	Revision  int64     `json:"revision"`
	Changed   bool      `json:"changed"`
	Keys      []string  `json:"keys"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	ReleaseID string    `json:"releaseId,omitempty"`
	File      string    `json:"file,omitempty"`
	Wait      *waitJSON `json:"wait,omitempty"`
	// Error says why the wait could not run, after the write was made.
	Error string `json:"error,omitempty"`
}

func newWriteResult(res flagstore.Result, c flagstore.Change) writeResult {
	keys := res.Keys
	if keys == nil {
		keys = []string{}
	}
	return writeResult{Revision: res.Revision, Changed: len(res.Keys) > 0, Keys: keys,
		Actor: c.Actor, Reason: c.Reason, ReleaseID: c.ReleaseID}
}

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func newWaitFlags(fs *flag.FlagSet) *waitFlags {
	wt := &waitFlags{}
	fs.BoolVar(&wt.wait, "wait", false, "wait until every live instance in the fleet registry serves the new revision")
	fs.DurationVar(&wt.timeout, "timeout", 30*time.Second, "give up waiting after this `duration` (with --wait)")
	return wt
}

func flagsKillCommand() command {
	return stateCommand("kill", flags.Disabled, "killed", "switch a flag off (state DISABLED) in the store", flagsKillCommand)
}

func flagsReviveCommand() command {
	return stateCommand("revive", flags.Enabled, "revived", "switch a flag back on (state ENABLED) in the store", flagsReviveCommand)
}

func stateCommand(name string, state flags.State, verb, summary string, self func() command) command {
	return command{
		name:    name,
		summary: summary,
		usage: "rollsafe flags " + name + " KEY --reason WHY [--actor WHO] [--release ID] [--base REV] [--wait [--timeout D]] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Sets the state of the flag KEY to " + string(state) + ", as one change under a new revision,\n" +
			"recorded with the actor and the reason." + waitUsage + writeJSONUsage + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf, wf, wt := newStoreFlags(fs), newWriteFlags(fs), newWaitFlags(fs)
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, self, args)
				if !ok {
					return code
				}
				if len(args) != 1 {
					e.errorf("flags %s: want one KEY, got %d arguments", name, len(args))
					return exitCantRun
				}
				key := args[0]
				return flagsEdit(e, name, sf, wf, wt, flagstore.SetState(key, state), func(res flagstore.Result, c flagstore.Change) string {
					if len(res.Keys) == 0 {
						return fmt.Sprintf("%s is already %s; the store stays at revision %d", key, strings.ToLower(string(state)), res.Revision)
					}
					return fmt.Sprintf("%s %s at revision %d %s", key, verb, res.Revision, byline(c))
				})
			}
		},
	}
}

func flagsWeightsCommand() command {
	return command{
		name:    "weights",
		summary: "set the weights of a flag's fractional split in the store",
		usage: "rollsafe flags weights KEY VARIANT=N... --reason WHY [--actor WHO] [--release ID] [--base REV] [--wait [--timeout D]] [--format text|json] --dialect D --dsn DSN\n\n" +
			"Replaces the weights of the fractional split of the flag KEY, keeping its\n" +
			"bucketing expression: on=10 off=90 sends one user in ten to \"on\". The order\n" +
			"is kept, since it decides which users fall in which bucket. Weights are whole\n" +
			"numbers from 0 and must name variants of the flag." + waitUsage + writeJSONUsage + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf, wf, wt := newStoreFlags(fs), newWriteFlags(fs), newWaitFlags(fs)
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, flagsWeightsCommand, args)
				if !ok {
					return code
				}
				if len(args) < 2 {
					e.errorf("flags weights: want KEY and at least one VARIANT=N, got %d arguments", len(args))
					return exitCantRun
				}
				key := args[0]
				weights, err := parseWeights(args[1:])
				if err != nil {
					e.errorf("flags weights: %v", err)
					return exitCantRun
				}
				split := strings.Join(args[1:], " ")
				return flagsEdit(e, "weights", sf, wf, wt, flagstore.SetWeights(key, weights...), func(res flagstore.Result, c flagstore.Change) string {
					if len(res.Keys) == 0 {
						return fmt.Sprintf("%s already has weights %s; the store stays at revision %d", key, split, res.Revision)
					}
					return fmt.Sprintf("%s weights %s at revision %d %s", key, split, res.Revision, byline(c))
				})
			}
		},
	}
}

// parseWeights reads VARIANT=N arguments, in order.
func parseWeights(args []string) ([]flags.Weight, error) {
	ws := make([]flags.Weight, 0, len(args))
	seen := map[string]bool{}
	for _, a := range args {
		v, n, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("%q is not VARIANT=N", a)
		}
		w, err := strconv.Atoi(n)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("the weight of variant %q in %q is not a whole number from 0", v, a)
		}
		if seen[v] {
			return nil, fmt.Errorf("variant %q is given twice", v)
		}
		seen[v] = true
		ws = append(ws, flags.Weight{Variant: v, Weight: w})
	}
	return ws, nil
}

// flagsEdit applies one edit, prints what it did (text from describe) and,
// with --wait, follows it through the fleet.
func flagsEdit(e *env, cmd string, sf *storeFlags, wf *writeFlags, wt *waitFlags, edit flagstore.Edit,
	describe func(flagstore.Result, flagstore.Change) string) int {
	if wt.timeout <= 0 {
		e.errorf("flags %s: --timeout %v is not positive", cmd, wt.timeout)
		return exitCantRun
	}
	c, ok := wf.change(e, cmd)
	if !ok {
		return exitCantRun
	}
	c.Edits = []flagstore.Edit{edit}
	db, store, code := sf.open(e, cmd, false)
	if code != exitOK {
		return code
	}
	defer db.Close()
	res, err := store.Apply(e.ctx, c)
	if err != nil {
		return sf.fail(e, cmd, err)
	}
	committed := time.Now()
	out := newWriteResult(res, c)
	if !sf.json() {
		fmt.Fprintln(e.stdout, describe(res, c))
	}
	code = exitOK
	if wt.wait {
		code = waitFleet(e, cmd, sf, db, store.Dialect(), res.Revision, wt.timeout, committed, &out)
	}
	if sf.json() && writeJSON(e, cmd, out) != exitOK {
		return exitCantRun
	}
	return code
}

// waitJSON is the "wait" object of a write's JSON.
type waitJSON struct {
	Instances int           `json:"instances"`
	Confirmed int           `json:"confirmed"`
	Seconds   float64       `json:"seconds"`
	TimedOut  bool          `json:"timedOut"`
	Pending   []pendingJSON `json:"pending"`
}

type pendingJSON struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Revision is the one the instance serves; nil when it reports none.
	Revision *int64 `json:"revision"`
}

// waitFleet waits until every live instance in the fleet registry serves
// revision rev, at most timeout, prints the outcome and records it in out.
// It returns 0 when all do (or none is live), 1 when some did not in time,
// and 2 when the registry cannot be read or the command was interrupted.
func waitFleet(e *env, cmd string, sf *storeFlags, db *sql.DB, d dialect.Dialect, rev int64, timeout time.Duration,
	since time.Time, out *writeResult) int {
	cantWait := func(err error) int {
		out.Error = fmt.Sprintf("flags %s: revision %d is written, but waiting for the fleet failed: %s", cmd, rev, sf.scrub(err.Error()))
		e.errorf("%s", out.Error)
		return exitCantRun
	}
	rctx, cancel := context.WithTimeout(e.ctx, pingTimeout)
	reg, err := fleet.NewRegistry(rctx, db, d)
	cancel()
	if err != nil {
		return cantWait(err)
	}
	var w *waitJSON
	timedOut, err := followFleet(e.ctx, reg, timeout, func(ins []fleet.Instance) bool {
		w = tally(ins, rev, since)
		out.Wait = w
		return len(w.Pending) == 0
	})
	switch {
	case err != nil:
		return cantWait(err)
	case timedOut && w == nil:
		return cantWait(fmt.Errorf("the fleet registry gave no answer within --timeout %v", timeout))
	case timedOut:
		w.TimedOut = true
		if !sf.json() {
			printPending(e, w, rev, timeout)
		}
		e.errorf("flags %s: %s of %d did not confirm revision %d within %v", cmd,
			plural(len(w.Pending), "instance", "instances"), w.Instances, rev, timeout)
		return exitFailed
	}
	if !sf.json() {
		switch w.Instances {
		case 0:
			fmt.Fprintln(e.stdout, "no live instances in the fleet registry: nothing to wait for")
		case 1:
			fmt.Fprintf(e.stdout, "the one instance serves revision %d after %.2fs\n", rev, w.Seconds)
		default:
			fmt.Fprintf(e.stdout, "all %d instances serve revision %d after %.2fs\n", w.Instances, rev, w.Seconds)
		}
	}
	return exitOK
}

// followFleet reads the live instances of reg at once and then every
// waitPoll, and gives each read to done, until done returns true (false,
// nil), timeout passes (true, nil: the last read is what done saw last,
// and done may have seen none), or the registry cannot be read or ctx ends
// (the error). No read outlasts the timeout, and a read that comes back
// after it is not given to done: a confirmation after the timeout is none.
func followFleet(ctx context.Context, reg *fleet.Registry, timeout time.Duration, done func([]fleet.Instance) bool) (timedOut bool, err error) {
	end := time.Now().Add(timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		budget := min(pingTimeout, time.Until(end))
		if budget <= 0 {
			return true, nil
		}
		lctx, cancel := context.WithTimeout(ctx, budget)
		ins, err := reg.List(lctx)
		cancel()
		over := !time.Now().Before(end)
		switch {
		case err != nil && ctx.Err() == nil && budget < pingTimeout && over:
			// Cut by the timeout, not refused by the registry.
			return true, nil
		case err != nil:
			return false, err
		case over:
			return true, nil
		case done(ins):
			return false, nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return true, nil
		case <-ctx.Done():
			return false, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
}

func tally(ins []fleet.Instance, rev int64, since time.Time) *waitJSON {
	w := &waitJSON{Instances: len(ins), Pending: []pendingJSON{},
		Seconds: math.Round(time.Since(since).Seconds()*1000) / 1000}
	for _, in := range ins {
		if in.FlagsRevision != nil && *in.FlagsRevision >= rev {
			w.Confirmed++
			continue
		}
		w.Pending = append(w.Pending, pendingJSON{ID: in.ID, Address: in.Address, Revision: in.FlagsRevision})
	}
	return w
}

func printPending(e *env, w *waitJSON, rev int64, timeout time.Duration) {
	fmt.Fprintf(e.stdout, "%d of %d instances serve revision %d; %d did not within %v:\n",
		w.Confirmed, w.Instances, rev, len(w.Pending), timeout)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tADDRESS\tSERVES")
	for _, p := range w.Pending {
		serves := "no revision reported (no flag store?)"
		if p.Revision != nil {
			serves = fmt.Sprintf("revision %d", *p.Revision)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.ID, p.Address, serves)
	}
	_ = tw.Flush() // stdout failing is beyond reporting; the exit code says it
}
