package release

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rollsafe/rollsafe/dialect"
)

// RunbookOptions are the settings of [Plan.Runbook].
type RunbookOptions struct {
	// Dialect is the database dialect the commands of the runbook name
	// (sqlite, postgres or mysql, as rollsafe's --dialect takes); empty
	// writes the placeholder DIALECT.
	Dialect string
	// DSNVar is what the commands pass as --dsn; empty means
	// "$ROLLSAFE_DSN", the variable the CLI reads, so that the password
	// stays out of the runbook and the process list.
	DSNVar string
}

// Runbook writes, in Markdown, what the release does and what to do when
// it goes wrong: the flags it moves, its steps, what is watched and the
// thresholds in words, what an automatic rollback does, the exact commands
// that abort it by hand or, as a last resort, set its flags directly, what
// the schema floor leaves in place, and its webhooks. Zero fields are
// written as their defaults (see [Plan.WithDefaults]).
//
// An invalid plan is refused with its [*PlanError] before anything is
// written; so is an unknown Dialect.
func (p *Plan) Runbook(w io.Writer, o RunbookOptions) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d := "DIALECT"
	if o.Dialect != "" {
		parsed, err := dialect.Parse(o.Dialect)
		if err != nil {
			return fmt.Errorf("release: runbook: %w", err)
		}
		d = parsed.String()
	}
	dsn := o.DSNVar
	if dsn == "" {
		dsn = "$ROLLSAFE_DSN"
	}
	bw := bufio.NewWriter(w)
	rb := &runbook{w: bw, p: p.WithDefaults(), conn: "--dialect " + d + " --dsn " + strconv.Quote(dsn)}
	rb.write()
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("release: runbook: write: %w", err)
	}
	return nil
}

// runbook writes one plan's runbook; a write error is kept by the
// bufio.Writer and reported by Flush.
type runbook struct {
	w    *bufio.Writer
	p    *Plan
	conn string // --dialect D --dsn "$ROLLSAFE_DSN"
}

func (r *runbook) f(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func (r *runbook) write() {
	p := r.p
	r.f("# Release %s\n\n", p.ID)
	if p.Description != "" {
		r.f("%s\n\n", oneParagraph(p.Description))
	}
	r.moves()
	r.steps()
	r.watched()
	r.failure()
	r.abort()
	r.schema()
	r.webhooks()
}

func (r *runbook) moves() {
	p := r.p
	r.f("## What moves\n\n")
	r.f("| flag | baseline (old path) | canary (new path) |\n|---|---|---|\n")
	for _, f := range p.Flags {
		r.f("| %s | %s | %s |\n", code(f.Key), code(f.Baseline), code(f.Canary))
	}
	r.f("\n")
	if p.Requires != "" {
		r.f("Before the first step, every live instance of the fleet must run a version that meets %s: the new code path must be everywhere before any traffic goes to it.\n\n", code(p.Requires))
	}
}

func (r *runbook) steps() {
	p := r.p
	r.f("## Steps\n\n")
	r.f("| step | canary weights | bake | min samples per arm | approval |\n|---|---|---|---|---|\n")
	approval := map[int]bool{}
	for _, n := range p.Approval.Steps {
		approval[n] = true
	}
	for i, s := range p.Steps {
		ws := make([]string, len(p.Flags))
		for j, f := range p.Flags {
			ws[j] = code(f.Key) + " " + strconv.Itoa(s.Weights[f.Key]) + "%"
		}
		bake, approve := "none", "—"
		if s.Bake > 0 {
			bake = human(s.Bake)
		}
		if approval[i+1] {
			approve = "waits for a promote"
		}
		r.f("| %d | %s | %s | %d | %s |\n", i+1, strings.Join(ws, ", "), bake, s.MinSamples, approve)
	}
	r.f("\nA step moves on when it has run for its bake time, every arm has its minimum samples and the analysis is successful; too few samples hold the step, they never promote it. ")
	if len(p.Approval.Steps) > 0 {
		r.f("A step that waits for a promote then holds until `rollsafe release promote %s %s`", r.conn, p.ID)
		if len(p.Approval.Promoters) > 0 {
			ps := make([]string, len(p.Approval.Promoters))
			for i, who := range p.Approval.Promoters {
				ps[i] = code(who)
			}
			r.f(", given by one of %s", strings.Join(ps, ", "))
		}
		r.f(". ")
	}
	then := "the release pauses for a person (`rollsafe release resume` or `abort`)"
	if p.OnTimeout == TimeoutRollback {
		then = "the release rolls back"
	}
	r.f("A step that has held for %s (the step timeout): %s.\n\n", human(p.StepTimeout), then)
}

func (r *runbook) watched() {
	a := r.p.Analysis
	r.f("## What is watched\n\n")
	r.f("A measurement every %s, per flag, canary against baseline over the same window:\n\n", human(a.Interval))
	if e := a.ErrorRate; e.Disabled {
		r.f("- **Error rate**: disabled.\n")
	} else {
		r.f("- **Error rate**%s: fails when the canary's error rate is more than %s above the baseline's, by a sequential test whose false-failure rate is %v per step", critical(e.Critical), points(e.Margin), e.Alpha)
		if e.MaxErrorRate > 0 {
			r.f("; and whenever the canary's error rate is above %s, with or without a baseline", percent(e.MaxErrorRate))
		}
		r.f(".\n")
	}
	if l := a.Latency; l.Disabled {
		r.f("- **Latency**: disabled.\n")
	} else {
		r.f("- **Latency**%s: fails when the canary's %s latency is more than %v× the baseline's and more than %v above it, and a one-sided Mann-Whitney U test finds it slower at significance %v", critical(l.Critical), quantileName(l.Quantile), l.MaxRatio, l.Slack, l.Alpha)
		if l.MaxP99 > 0 {
			r.f("; and whenever the canary's %s is above %v, with or without a baseline", quantileName(l.Quantile), l.MaxP99)
		}
		r.f(".\n")
	}
	for _, m := range a.Prometheus {
		r.f("- **%s**%s (Prometheus at %s, each query bounded by %v): canary `%s`", m.Name, critical(m.Critical), m.Address, m.Timeout, inlineCode(m.Canary))
		if m.Baseline != "" {
			r.f(", baseline `%s`", inlineCode(m.Baseline))
		}
		var fails []string
		if m.MaxRatio > 0 {
			fails = append(fails, fmt.Sprintf("the canary's value is more than %v× the baseline's", m.MaxRatio))
		}
		if m.Max > 0 {
			fails = append(fails, fmt.Sprintf("the canary's value is above %v", m.Max))
		}
		r.f("; fails when %s.\n", strings.Join(fails, ", or when "))
	}
	r.f("\nLimits: ")
	if a.FailureLimit == 0 {
		r.f("the first Failed measurement of a metric fails the release")
	} else {
		r.f("%s of a metric are tolerated, one more fails the release", count(a.FailureLimit, "Failed measurement", "Failed measurements"))
	}
	r.f(" (a critical metric fails it at its first); ")
	if a.InconclusiveLimit == 0 {
		r.f("Inconclusive measurements hold the step until its timeout; ")
	} else {
		r.f("after %s with enough samples the release pauses for a person; ", count(a.InconclusiveLimit, "consecutive Inconclusive measurement", "consecutive Inconclusive measurements"))
	}
	if n := *a.ConsecutiveErrorLimit; n == 0 {
		r.f("the first Error measurement (a query that fails) rolls the release back, since it can no longer be judged.\n\n")
	} else {
		r.f("after %s (queries that fail) one more rolls the release back, since it can no longer be judged.\n\n",
			count(n, "consecutive Error measurement", "consecutive Error measurements"))
	}
}

func (r *runbook) failure() {
	r.f("## On failure\n\n")
	r.f("A failed analysis rolls the release back at once and by itself: every flag of the plan returns to its baseline in one change of the flag store (one revision, one entry in the ledger), without re-running the steps:\n\n")
	for _, f := range r.p.Flags {
		r.f("- %s: all traffic to %s\n", code(f.Key), code(f.Baseline))
	}
	r.f("\n")
}

func (r *runbook) abort() {
	p := r.p
	r.f("## Aborting by hand\n\n")
	r.f("To stop the release and send every flag back to its baseline, as an automatic rollback does:\n\n")
	r.f("```sh\nrollsafe release abort %s %s --reason \"...\"\n```\n\n", r.conn, p.ID)
	r.f("Last resort, when the release cannot be reached through `rollsafe release`: set each flag's weights in the store directly. These are separate changes, one per flag, where the abort is one:\n\n```sh\n")
	for _, f := range p.Flags {
		r.f("rollsafe flags weights %s %s %s=100 %s=0 --release %s --actor \"$USER\" --reason \"...\"\n",
			r.conn, shellWord(f.Key), shellWord(f.Baseline), shellWord(f.Canary), p.ID)
	}
	r.f("```\n\nOr switch a flag off altogether (state DISABLED: it answers the caller's default value, the old code path of a `flags.Switch`):\n\n```sh\n")
	for _, f := range p.Flags {
		r.f("rollsafe flags kill %s %s --release %s --actor \"$USER\" --reason \"...\"\n", r.conn, shellWord(f.Key), p.ID)
	}
	r.f("```\n\n")
}

func (r *runbook) schema() {
	p := r.p
	r.f("## Schema\n\n")
	if p.SchemaFloor == 0 {
		r.f("The plan gives no schema floor: a rollback of this release leaves the schema as it is, and no schema rollback is allowed.\n\n")
		return
	}
	r.f("The schema floor is migration %d, the lowest version the previous release runs on. `rollsafe release rollback --schema --migrations DIR %s %s --reason \"...\"` (DIR: the service's migrations) aborts the release if it still runs, then rolls back the migrations above %d, newest first; migration %d and those below stay in place. An irreversible migration above the floor stops the schema rollback at it: it stays, with everything under it, and the command says so.\n\n",
		p.SchemaFloor, r.conn, p.ID, p.SchemaFloor, p.SchemaFloor)
}

func (r *runbook) webhooks() {
	p := r.p
	if len(p.Webhooks) == 0 {
		return
	}
	r.f("## Webhooks\n\n")
	r.f("Each is an HTTP POST of the release's status; a 2xx answer passes, anything else (another status, a timeout, no connection) fails.\n\n")
	for _, w := range p.Webhooks {
		when := "before each promotion to the next step"
		if w.Type == WebhookRollback {
			when = "at every measurement"
		}
		then := "the step holds and asks again"
		if w.OnFailure == WebhookRollback {
			then = "the release rolls back"
		}
		r.f("- **%s** (%s): asked %s, POST %s within %v; on failure %s.\n", w.Name, w.Type, when, w.URL, w.Timeout, then)
	}
	r.f("\n")
}

// human writes a duration without its zero tails: 30m, 1h, 1m30s.
func human(d Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func critical(c bool) string {
	if c {
		return " (critical: its first Failed measurement fails the release)"
	}
	return ""
}

// points writes a fraction as percentage points: 0.01 is "1 percentage
// point".
func points(f float64) string {
	v := strconv.FormatFloat(f*100, 'f', -1, 64)
	if v == "1" {
		return "1 percentage point"
	}
	return v + " percentage points"
}

func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// code is s as a Markdown code span inside a table cell.
func code(s string) string { return "`" + strings.ReplaceAll(inlineCode(s), "|", `\|`) + "`" }

// inlineCode makes s fit in a one-line code span: no backticks, no line
// breaks.
func inlineCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
}

// oneParagraph keeps a description from starting a heading, list or code
// block of its own.
func oneParagraph(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s != "" && strings.ContainsRune("#>-+*=|`~0123456789", rune(s[0])) {
		s = `\` + s
	}
	return s
}

// shellWord quotes s for a POSIX shell unless it needs none.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !isIDRune(r) && r != '/' && r != ':' }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
