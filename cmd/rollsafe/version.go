package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	rsversion "github.com/rollsafe/rollsafe/version"
)

func versionCommand() command {
	return command{
		name:    "version",
		summary: "check a build's version manifest against its peers (can-i-deploy); show a manifest",
		usage:   "rollsafe version SUBCOMMAND [flags] ...",
		subs:    []command{versionCheckCommand(), versionShowCommand()},
	}
}

// stringList is a flag that may be repeated.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*s = append(*s, v)
	return nil
}

// The synopses of the version commands: every flag a command defines is in
// its synopsis (a test holds them to it).
const (
	versionCheckSynopsis = "rollsafe version check --self FILE|URL --against FILE|URL [--against ...] [--require-all] [--prereleases] [--timeout DURATION] [--format text|json]"
	versionShowSynopsis  = "rollsafe version show [--timeout DURATION] [--format text|json] FILE|URL"
)

func versionCheckCommand() command {
	return command{
		name:    "check",
		summary: "may this build run beside these peers? (exit 0 yes, 1 no, 2 could not tell)",
		usage: versionCheckSynopsis + `

Negotiates the manifest in --self (a file, or a URL fetched like a peer's)
with every --against: a manifest file, a peer's base URL
(/.well-known/rollsafe is appended) or the URL of a manifest. A peer is compatible when our constraint on it admits its version
and its constraint on us admits ours. Verdicts: compatible, incompatible,
unreachable, invalid, and missing (a service in our requires that no
--against answers for; it fails the check only with --require-all).
Exit status: 0 every peer compatible, 1 any other verdict that fails the
check, 2 bad usage, an unreadable file, an unreachable or malformed --self
manifest.`,
		flags: func(fs *flag.FlagSet) func(e *env, args []string) int {
			self := fs.String("self", "", "this build's manifest: a `FILE` or a URL (required)")
			var against stringList
			fs.Var(&against, "against", "a peer: manifest `FILE`, base URL or manifest URL (required, repeatable)")
			requireAll := fs.Bool("require-all", false, "fail when a required service has no peer (verdict missing)")
			prereleases := fs.Bool("prereleases", false, "let constraints admit prerelease versions (beware: >=1.2.0 <2.0.0 then admits 2.0.0-rc.1)")
			timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each URL, --self's included")
			format := newFormatFlag(fs, "text", "json")
			return func(e *env, args []string) int {
				return runVersionCheck(e, args, versionCheckFlags{
					self: *self, against: against, requireAll: *requireAll,
					prereleases: *prereleases, timeout: *timeout, format: format.String(),
				})
			}
		},
	}
}

type versionCheckFlags struct {
	self        string
	against     []string
	requireAll  bool
	prereleases bool
	timeout     time.Duration
	format      string
}

// checkOutput is the JSON the check prints: a stable contract for tools.
type checkOutput struct {
	OK    bool                   `json:"ok"`
	Peers []rsversion.PeerResult `json:"peers"`
}

func runVersionCheck(e *env, args []string, f versionCheckFlags) int {
	const cmd = "version check"
	const usage = "usage: " + versionCheckSynopsis
	if len(args) > 0 {
		e.errorf("%s: unexpected argument %q (peers are given with --against)", cmd, args[0])
		fmt.Fprintln(e.stderr, usage)
		return exitCantRun
	}
	if f.self == "" {
		e.errorf("%s: --self is required", cmd)
		fmt.Fprintln(e.stderr, usage)
		return exitCantRun
	}
	if f.timeout <= 0 {
		e.errorf("%s: --timeout %v is not positive", cmd, f.timeout)
		return exitCantRun
	}
	self, err := readSelf(e, f.self, f.timeout)
	if err != nil {
		e.errorf("%s: %v", cmd, err)
		return exitCantRun
	}
	// With no peer at all the check would pass having checked nothing (an
	// empty list in a CI variable, say).
	if len(f.against) == 0 {
		e.errorf("%s: --against is required (at least one peer)", cmd)
		fmt.Fprintln(e.stderr, usage)
		return exitCantRun
	}
	peers := make([]rsversion.Peer, 0, len(f.against))
	for _, a := range f.against {
		if isURL(a) {
			peers = append(peers, rsversion.Peer{Source: a})
			continue
		}
		data, err := os.ReadFile(a)
		if err != nil {
			e.errorf("%s: --against: %v", cmd, err)
			return exitCantRun
		}
		if data == nil {
			data = []byte{}
		}
		peers = append(peers, rsversion.Peer{Source: a, Manifest: data})
	}
	opts := []rsversion.NegotiateOption{rsversion.WithTimeout(f.timeout)}
	if f.prereleases {
		opts = append(opts, rsversion.WithPrereleases())
	}
	report, err := rsversion.Negotiate(e.ctx, self, peers, opts...)
	if err != nil {
		e.errorf("%s: %v", cmd, err)
		return exitCantRun
	}
	problems := rsversion.Refuse.Problems(report, f.requireAll)
	out := checkOutput{OK: len(problems) == 0, Peers: report.Peers}
	if out.Peers == nil {
		out.Peers = []rsversion.PeerResult{}
	}
	for i := range out.Peers {
		if out.Peers[i].Reasons == nil {
			out.Peers[i].Reasons = []string{}
		}
	}
	if f.format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // constraints read ">=1.2.0 <2.0.0", not "\u003e=1.2.0 \u003c2.0.0"
		if err := enc.Encode(out); err != nil {
			e.errorf("%s: %v", cmd, err)
			return exitCantRun
		}
	} else {
		printCheckText(e.stdout, report, out.OK, f.requireAll)
	}
	if !out.OK {
		return exitFailed
	}
	return exitOK
}

// readSelf reads our own manifest from a file or, like a peer's, from a URL
// (bounded by the timeout and the manifest size limit).
func readSelf(e *env, src string, timeout time.Duration) (rsversion.Manifest, error) {
	if isURL(src) {
		m, err := rsversion.Fetch(e.ctx, src, rsversion.WithTimeout(timeout))
		if err != nil {
			return m, fmt.Errorf("--self: %w", err)
		}
		return m, nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return rsversion.Manifest{}, fmt.Errorf("--self: %w", err)
	}
	m, err := rsversion.ParseManifest(data)
	if err != nil {
		return m, fmt.Errorf("--self %s: %w", src, err)
	}
	return m, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func printCheckText(w io.Writer, r rsversion.Report, ok, requireAll bool) {
	missing := r.Count(rsversion.Missing)
	fmt.Fprintf(w, "%s %s against %s:\n", r.Self.Service, r.Self.Version, plural(len(r.Peers)-missing, "peer", "peers"))
	who := make([]string, len(r.Peers))
	width := 0
	for i, p := range r.Peers {
		who[i] = strings.TrimSpace(p.Service + " " + p.Version)
		if who[i] == "" {
			who[i] = "?"
		}
		width = max(width, len(who[i]))
	}
	for i, p := range r.Peers {
		line := fmt.Sprintf("  %-12s  %-*s  %s", p.Verdict, width, who[i], p.Source)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		for _, r := range p.Reasons {
			fmt.Fprintf(w, "      - %s\n", r)
		}
	}
	var counts []string
	for _, v := range []rsversion.Verdict{rsversion.Compatible, rsversion.Incompatible, rsversion.Unreachable, rsversion.Invalid, rsversion.Missing} {
		if n := r.Count(v); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, v))
		}
	}
	if len(counts) == 0 {
		counts = append(counts, "no peers")
	}
	verdict := "ok"
	if !ok {
		verdict = "FAILED"
	}
	note := ""
	if !requireAll && missing > 0 {
		note = " (missing services do not fail the check without --require-all)"
	}
	fmt.Fprintf(w, "%s: %s%s\n", verdict, strings.Join(counts, ", "), note)
}

func versionShowCommand() command {
	return command{
		name:    "show",
		summary: "validate a version manifest (file or URL) and print it",
		usage: versionShowSynopsis + `

Reads a manifest from a file, a peer's base URL or a manifest URL, validates
it and prints it. Exit status: 0 valid, 1 invalid, 2 unreadable or
unreachable.`,
		flags: func(fs *flag.FlagSet) func(e *env, args []string) int {
			format := newFormatFlag(fs, "text", "json")
			timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for a URL")
			return func(e *env, args []string) int {
				return runVersionShow(e, args, format.String(), *timeout)
			}
		},
	}
}

func runVersionShow(e *env, args []string, format string, timeout time.Duration) int {
	const cmd = "version show"
	if len(args) != 1 {
		e.errorf("%s: want one manifest file or URL, got %d arguments", cmd, len(args))
		fmt.Fprintln(e.stderr, "usage: "+versionShowSynopsis)
		return exitCantRun
	}
	if timeout <= 0 {
		e.errorf("%s: --timeout %v is not positive", cmd, timeout)
		return exitCantRun
	}
	src := args[0]
	var m rsversion.Manifest
	var err error
	if isURL(src) {
		m, err = rsversion.Fetch(e.ctx, src, rsversion.WithTimeout(timeout))
	} else {
		var data []byte
		if data, err = os.ReadFile(src); err != nil {
			e.errorf("%s: %v", cmd, err)
			return exitCantRun
		}
		if m, err = rsversion.ParseManifest(data); err != nil {
			err = fmt.Errorf("%s: %w", src, err)
		}
	}
	switch {
	case errors.Is(err, rsversion.ErrInvalidManifest):
		e.errorf("%s: %v", cmd, err)
		return exitFailed
	case err != nil:
		e.errorf("%s: %v", cmd, err)
		return exitCantRun
	}
	if format == "json" {
		data, err := m.JSON()
		if err != nil {
			e.errorf("%s: %v", cmd, err)
			return exitCantRun
		}
		fmt.Fprintf(e.stdout, "%s\n", data)
		return exitOK
	}
	printManifest(e.stdout, m)
	return exitOK
}

// maxShownField is how much of one manifest field the text output of
// version show prints: a manifest comes from outside and may be 1 MiB.
const maxShownField = 200

// shown bounds a manifest field for the text output, saying how long it was.
func shown(s string) string {
	if len(s) <= maxShownField {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:maxShownField], ""), len(s))
}

func printManifest(w io.Writer, m rsversion.Manifest) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "service\t%s\n", shown(m.Service))
	fmt.Fprintf(tw, "version\t%s\n", shown(m.Version))
	label := "requires"
	names := make([]string, 0, len(m.Requires))
	for name := range m.Requires {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t%s %s\n", label, shown(name), shown(m.Requires[name]))
		label = ""
	}
	if len(names) == 0 {
		fmt.Fprintf(tw, "requires\t(nothing)\n")
	}
	schema := m.Schema
	if schema == "" {
		schema = "(any)"
	}
	fmt.Fprintf(tw, "schema\t%s\n", shown(schema))
	if m.ReleaseID != "" {
		fmt.Fprintf(tw, "release\t%s\n", shown(m.ReleaseID))
	}
	if len(m.APIs) > 0 {
		fmt.Fprintf(tw, "apis\t%s\n", shown(strings.Join(m.APIs, ", ")))
	}
	if b := m.Build; b != nil {
		var parts []string
		if b.Revision != "" {
			rev := "revision " + shown(b.Revision)
			if b.Modified {
				rev += " (modified)"
			}
			parts = append(parts, rev)
		}
		if b.Time != "" {
			parts = append(parts, shown(b.Time))
		}
		if b.GoVersion != "" {
			parts = append(parts, shown(b.GoVersion))
		}
		fmt.Fprintf(tw, "build\t%s\n", strings.Join(parts, ", "))
	}
	_ = tw.Flush() // writes to w, whose errors the caller cannot act on
}
