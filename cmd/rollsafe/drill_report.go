package main

// What a drill reports: the JSON object, the text table and the markdown
// record.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// drillReport is the JSON output of a drill; drillUsage documents it.
type drillReport struct {
	Flag             string           `json:"flag"`
	Actor            string           `json:"actor"`
	Reason           string           `json:"reason"`
	RanBy            string           `json:"ranBy"`
	StartedAt        time.Time        `json:"startedAt"`
	Timeout          string           `json:"timeout"`
	BaseRevision     int64            `json:"baseRevision"`
	Definition       json.RawMessage  `json:"definition"`
	KillRevision     *int64           `json:"killRevision"`
	RestoreRevision  *int64           `json:"restoreRevision"`
	Instances        []*drillInstance `json:"instances"`
	SlowestKillMs    *int64           `json:"slowestKillMs"`
	SlowestRestoreMs *int64           `json:"slowestRestoreMs"`
	Unconfirmed      []drillPending   `json:"unconfirmed"`
	ChangedBy        []drillChange    `json:"changedBy,omitempty"`
	Restored         bool             `json:"restored"`
	RestoreCommand   string           `json:"restoreCommand,omitempty"`
	RestoreNote      string           `json:"restoreNote,omitempty"`
	OK               bool             `json:"ok"`
	Error            string           `json:"error,omitempty"`
	ExitCode         int              `json:"exitCode"`
}

// drillInstance is one instance's times: from each write's commit to the
// registry read that showed it serving the write; nil when it did not.
type drillInstance struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	KillMs    *int64 `json:"killMs"`
	RestoreMs *int64 `json:"restoreMs"`
	// Gone: it left the registry before confirming (stopped, or its
	// heartbeats lapsed, while it may serve its last flag set still); it
	// is unconfirmed.
	Gone bool `json:"gone,omitempty"`
}

func (di *drillInstance) phaseMs(phase string) **int64 {
	if phase == phaseKill {
		return &di.KillMs
	}
	return &di.RestoreMs
}

// drillPending is an instance that did not confirm a write.
type drillPending struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Phase   string `json:"phase"`
	// Serves is the revision it reports (last reported, when Gone); nil
	// when it reports none.
	Serves *int64 `json:"serves"`
	// Gone: it left the registry without confirming.
	Gone bool `json:"gone,omitempty"`
}

// drillChange is a change of the flag by someone else during the drill.
type drillChange struct {
	Revision int64 `json:"revision"`
	// Time is zero (left out) for a change made outside rollsafe, which
	// no record dates.
	Time      time.Time `json:"time,omitzero"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	ReleaseID string    `json:"releaseId,omitempty"`
}

// slowest returns the slowest confirmation of phase, and who gave it.
func (r *drillReport) slowest(phase string) (*int64, *drillInstance) {
	var ms *int64
	var who *drillInstance
	for _, di := range r.Instances {
		if v := *di.phaseMs(phase); v != nil && (ms == nil || *v > *ms) {
			ms, who = v, di
		}
	}
	return ms, who
}

// goneIn reports whether di left the registry without confirming phase.
// After an interrupted wait no entry of Unconfirmed says which: then it is
// the first phase it did not confirm.
func (r *drillReport) goneIn(di *drillInstance, phase string) bool {
	if !di.Gone {
		return false
	}
	listed := false
	for _, p := range r.Unconfirmed {
		if p.ID == di.ID && p.Gone {
			if p.Phase == phase {
				return true
			}
			listed = true
		}
	}
	if listed {
		return false
	}
	if di.KillMs == nil {
		return phase == phaseKill
	}
	return phase == phaseRestore && di.RestoreMs == nil
}

// finish settles the exit code from err (why the drill ended early) and
// the report, prints the report and returns the code.
func (d *drill) finish(e *env, err error) int {
	code := exitOK
	if err != nil {
		de := &drillError{code: exitCantRun, msg: "drill: " + d.scrub(err.Error())}
		errors.As(err, &de)
		code, d.rep.Error = de.code, de.msg
		e.errorf("%s", de.msg)
		for _, line := range de.extra {
			e.errorf("%s", line)
		}
	}
	if n := len(d.rep.Unconfirmed); n > 0 {
		if code == exitOK {
			code = exitFailed
		}
		e.errorf("drill: not confirmed within %v (%s): %s", d.timeout, plural(n, "write", "writes"), d.pendingList())
	}
	d.rep.SlowestKillMs, _ = d.rep.slowest(phaseKill)
	d.rep.SlowestRestoreMs, _ = d.rep.slowest(phaseRestore)
	d.rep.OK, d.rep.ExitCode = code == exitOK, code
	if !d.opened {
		// Nothing was read: the error says it all (in JSON, as every
		// command that could not run says it).
		return code
	}
	var werr error
	switch d.format.String() {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		werr = enc.Encode(d.rep)
	case "markdown":
		werr = d.markdown(e.stdout)
	default:
		if d.rep.KillRevision != nil {
			werr = d.text(e.stdout)
		}
	}
	if werr != nil {
		e.errorf("drill: write the report: %v", werr)
		return exitCantRun
	}
	return code
}

func (d *drill) pendingList() string {
	var parts []string
	for _, p := range d.rep.Unconfirmed {
		parts = append(parts, fmt.Sprintf("the %s by %s (%s), which %s", p.Phase, p.ID, p.Address, servesText(p)))
	}
	return strings.Join(parts, ", ")
}

// servesText says what an unconfirmed instance serves, or served when it
// left the registry.
func servesText(p drillPending) string {
	if p.Gone {
		return "left the registry, last seen serving " + revText(p.Serves)
	}
	return "serves " + revText(p.Serves)
}

func msText(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return fmt.Sprintf("%dms", *ms)
}

func revText(rev *int64) string {
	if rev == nil {
		return "none"
	}
	return fmt.Sprintf("revision %d", *rev)
}

// outcome is the report's last line, in words.
func (d *drill) outcome() string {
	r := &d.rep
	switch {
	case r.OK:
		return fmt.Sprintf("OK: every instance confirmed the kill and the restore; %s is back as it was (revision %d)", r.Flag, *r.RestoreRevision)
	case r.KillRevision == nil:
		msg := strings.TrimPrefix(r.Error, "drill: ")
		for _, p := range []string{"refused, nothing written: ", "refused: "} {
			msg = strings.TrimPrefix(msg, p)
		}
		return "refused, nothing written: " + msg
	case len(r.ChangedBy) > 0:
		return "STOPPED: someone else changed the flag during the drill; the drill left it as they did"
	case !r.Restored:
		if r.RestoreNote != "" {
			return "THE FLAG IS STILL KILLED: the restore failed; put it back with: " + r.RestoreCommand + " (" + r.RestoreNote + ")"
		}
		return "THE FLAG IS STILL KILLED: the restore failed; put it back with: " + r.RestoreCommand
	case r.Error != "":
		return fmt.Sprintf("restored at revision %d, but the drill did not finish: %s", *r.RestoreRevision, strings.TrimPrefix(r.Error, "drill: "))
	default:
		gone := 0
		for _, p := range r.Unconfirmed {
			if p.Gone {
				gone++
			}
		}
		left := ""
		if gone > 0 {
			left = fmt.Sprintf(" (%d by an instance that left the registry)", gone)
		}
		return fmt.Sprintf("FAILED: %s not confirmed within %s%s; the flag is restored (revision %d)",
			plural(len(r.Unconfirmed), "write was", "writes were"), r.Timeout, left, *r.RestoreRevision)
	}
}

// text writes the table and the summary that end the text output.
func (d *drill) text(w io.Writer) error {
	r := &d.rep
	fmt.Fprintln(w)
	gone := false
	for _, di := range r.Instances {
		gone = gone || di.Gone
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "INSTANCE\tADDRESS\tKILL\tRESTORE"
	if gone {
		header += "\tNOTE"
	}
	fmt.Fprintln(tw, header)
	for _, di := range r.Instances {
		row := fmt.Sprintf("%s\t%s\t%s\t%s", di.ID, di.Address, msText(di.KillMs), msText(di.RestoreMs))
		if di.Gone {
			row += "\tleft the registry"
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "slowest: kill %s, restore %s\n", d.slowestText(phaseKill), d.slowestText(phaseRestore))
	for _, p := range r.Unconfirmed {
		fmt.Fprintf(w, "unconfirmed: %s (%s) did not confirm the %s within %s; it %s\n", p.ID, p.Address, p.Phase, r.Timeout, servesText(p))
	}
	for _, c := range r.ChangedBy {
		fmt.Fprintf(w, "changed by %s at %s: revision %d (%s)\n", c.Actor, changeTime(c), c.Revision, oneLine(c.Reason))
	}
	fmt.Fprintln(w, "outcome:", d.outcome())
	return nil
}

func changeTime(c drillChange) string {
	if c.Time.IsZero() {
		return "an unknown time"
	}
	return c.Time.Format(time.RFC3339)
}

func (d *drill) slowestText(phase string) string {
	ms, who := d.rep.slowest(phase)
	if ms == nil {
		return "none confirmed"
	}
	return fmt.Sprintf("%dms (%s)", *ms, who.ID)
}

// markdown writes the record of the drill.
func (d *drill) markdown(w io.Writer) error {
	r := &d.rep
	var b strings.Builder
	fmt.Fprintf(&b, "# Rollback drill: `%s`, %s\n\n", mdCode(r.Flag), r.StartedAt.Format("2006-01-02"))
	who := r.RanBy
	if who == "" {
		who = "an unknown user"
	}
	fmt.Fprintf(&b, "- **Run by:** %s (store actor `%s`), %s\n", mdText(who), r.Actor, r.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(&b, "- **Why:** %s\n", mdText(r.Reason))
	fmt.Fprintf(&b, "- **Recorded:** revision %d\n", r.BaseRevision)
	fmt.Fprintf(&b, "- **Kill:** %s\n", revText(r.KillRevision))
	fmt.Fprintf(&b, "- **Restore:** %s\n", revText(r.RestoreRevision))
	fmt.Fprintf(&b, "- **Timeout of each wait:** %s\n", r.Timeout)
	if r.Definition != nil {
		fmt.Fprintf(&b, "\nDefinition recorded before the kill (what the restore puts back):\n\n```json\n%s\n```\n", r.Definition)
	}
	if len(r.Instances) > 0 {
		b.WriteString("\n| Instance | Address | Kill confirmed | Restore confirmed |\n|---|---|---:|---:|\n")
		for _, di := range r.Instances {
			kill, restore := msText(di.KillMs), msText(di.RestoreMs)
			if r.goneIn(di, phaseKill) {
				kill += " (left the registry)"
			}
			if r.goneIn(di, phaseRestore) {
				restore += " (left the registry)"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", mdCode(di.ID), mdText(di.Address), kill, restore)
		}
		fmt.Fprintf(&b, "\n**Slowest:** kill %s, restore %s\n", d.slowestText(phaseKill), d.slowestText(phaseRestore))
		b.WriteString("\n**Unconfirmed:**")
		if len(r.Unconfirmed) == 0 {
			b.WriteString(" none\n")
		} else {
			b.WriteString("\n\n")
			for _, p := range r.Unconfirmed {
				fmt.Fprintf(&b, "- `%s` (%s): the %s, within %s; it %s\n", mdCode(p.ID), mdText(p.Address), p.Phase, r.Timeout, servesText(p))
			}
		}
	}
	if len(r.ChangedBy) > 0 {
		b.WriteString("\n**Changed by someone else during the drill:**\n\n")
		for _, c := range r.ChangedBy {
			fmt.Fprintf(&b, "- revision %d, %s, by %s: %s\n", c.Revision, changeTime(c), mdText(c.Actor), mdText(c.Reason))
		}
	}
	fmt.Fprintf(&b, "\n**Outcome:** %s\n", mdText(d.outcome()))
	_, err := io.WriteString(w, b.String())
	return err
}

// mdText escapes what markdown would read as markup in a line of text.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|#", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode keeps a code span whole: no backtick, no pipe that a table would
// split on.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", "¦").Replace(oneLine(s))
}
