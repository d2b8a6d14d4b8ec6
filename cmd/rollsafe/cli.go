package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
)

// Exit codes, as the package documentation describes them.
const (
	exitOK      = 0 // ran, found nothing wrong
	exitFailed  = 1 // ran, found something wrong
	exitCantRun = 2 // could not run: usage, unreadable input, unreachable database
)

// version is the CLI's own version. Release builds set it with
// -ldflags "-X main.version=1.2.3"; otherwise it comes from the build info.
var version = ""

// meanings says in words what each exit code means; `--format json` prints it
// beside the error of a command that could not run.
var meanings = [...]string{
	exitOK:      "ran and found nothing wrong",
	exitFailed:  "ran and found something wrong",
	exitCantRun: "could not run (bad usage, unreadable input, or a database or peer that does not answer)",
}

// envDSN is the environment variable a --dsn flag falls back to, so that a
// password need not appear in the process list.
const envDSN = "ROLLSAFE_DSN"

// env is what a command reads and writes: never the process's globals, so that
// tests run commands in-process.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// getenv reads the environment (os.Getenv in main; a map in tests).
	getenv func(string) string

	// errs holds the messages errorf printed, for the JSON error object.
	errs []string
}

// errorf prints "rollsafe: ..." on stderr. The message names the command
// without the program's name ("migrate up: ..."), so that the program's name
// is said once.
func (e *env) errorf(format string, args ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, args...), "rollsafe: ")
	e.errs = append(e.errs, msg)
	fmt.Fprintf(e.stderr, "rollsafe: %s\n", msg)
}

// countingWriter remembers whether anything was written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jsonError is what a command asked for `--format json` prints on stdout when
// it could not run and had printed nothing else: one JSON object, as for
// every other outcome.
type jsonError struct {
	Error    string `json:"error"`
	ExitCode int    `json:"exitCode"`
	Meaning  string `json:"meaning"`
}

// writeJSONError prints the errors of a command that exited with code as one
// JSON object.
func writeJSONError(w io.Writer, code int, errs []string) {
	msg := strings.Join(errs, "; ")
	if msg == "" {
		msg = "unknown error"
	}
	out := jsonError{Error: msg, ExitCode: code}
	if code >= 0 && code < len(meanings) {
		out.Meaning = meanings[code]
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out) // a write error cannot be reported anywhere better than the exit code
}

// wantsJSON reports whether args ask for --format json (read before the flags
// are parsed, so that a usage error is answered in JSON too).
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--format=json" || a == "-format=json":
			return true
		case (a == "--format" || a == "-format") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// dsnFlag declares --dsn, falling back to $ROLLSAFE_DSN when the flag is not
// given. The value is read with e.dsn after parsing.
func dsnFlag(fs *flag.FlagSet, usage string) *string {
	return fs.String("dsn", "", usage+" (default $"+envDSN+", so that a password stays out of the process list)")
}

// dsn returns the --dsn value, or $ROLLSAFE_DSN when the flag was empty.
func (e *env) dsn(flagValue string) string {
	if flagValue != "" || e.getenv == nil {
		return flagValue
	}
	return e.getenv(envDSN)
}

// plural returns "1 error", "2 errors": n followed by one or many.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// commandName is a command path without the program's name: "migrate up"
// for "rollsafe migrate up", "" for "rollsafe".
func commandName(path string) string {
	if path == "rollsafe" {
		return ""
	}
	return strings.TrimPrefix(path, "rollsafe ")
}

// command is one verb of the CLI. A command either runs (run) or dispatches to
// its sub-commands (subs).
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // "rollsafe migrate check [flags] DIR" and what it does; flags are appended
	// flags declares the command's flags on fs and returns the function that
	// runs it with the remaining arguments. Nil for a group of sub-commands.
	flags func(fs *flag.FlagSet) func(e *env, args []string) int
	subs  []command
}

// commands is the CLI's command table.
func commands() []command {
	return []command{
		helpCommand(),
		migrateCommand(),
		versionCommand(),
		flagsCommand(),
		releaseCommand(),
		drillCommand(),
		serveCommand(),
	}
}

func helpCommand() command {
	return command{
		name:    "help",
		summary: "show help for rollsafe or one of its commands",
		usage:   "rollsafe help [COMMAND [SUBCOMMAND]]",
	}
}

// run executes the CLI with args (without the program name) and returns the
// process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, stdin, stdout, stderr, nil)
}

// runEnv is run with the environment read through getenv (nil: none).
func runEnv(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	out := &countingWriter{w: stdout}
	e := &env{ctx: ctx, stdin: stdin, stdout: out, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		printOverview(e.stderr)
		return exitCantRun
	}
	switch args[0] {
	case "--version", "-version", "-v":
		fmt.Fprintf(e.stdout, "rollsafe %s\n", cliVersion())
		return exitOK
	case "--help", "-help", "-h":
		printOverview(e.stdout)
		return exitOK
	case "help":
		return runHelp(e, args[1:])
	}
	code := dispatch(e, commands(), args, "rollsafe")
	if code == exitCantRun && out.n == 0 && wantsJSON(args) {
		writeJSONError(stdout, code, e.errs)
	}
	return code
}

// dispatch finds the command named by args[0] in cmds and runs it.
func dispatch(e *env, cmds []command, args []string, prefix string) int {
	if len(args) == 0 {
		if name := commandName(prefix); name != "" {
			e.errorf("%s: missing command", name)
		} else {
			e.errorf("missing command")
		}
		printList(e.stderr, cmds, prefix)
		return exitCantRun
	}
	c, ok := find(cmds, args[0])
	if !ok {
		e.errorf("unknown command %q; run %q", prefix+" "+args[0], "rollsafe help")
		return exitCantRun
	}
	path := prefix + " " + c.name
	if c.subs != nil {
		if len(args) > 1 && isHelpFlag(args[1]) {
			printUsage(e.stdout, c, path)
			return exitOK
		}
		return dispatch(e, c.subs, args[1:], path)
	}
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runFn := c.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, c, path)
			return exitOK
		}
		e.errorf("%s: %v", commandName(path), err)
		fmt.Fprintf(e.stderr, "usage: %s\n", firstLine(c.usage))
		return exitCantRun
	}
	return runFn(e, fs.Args())
}

func runHelp(e *env, args []string) int {
	cmds, prefix := commands(), "rollsafe"
	if len(args) == 0 {
		printOverview(e.stdout)
		return exitOK
	}
	for i, name := range args {
		c, ok := find(cmds, name)
		if !ok {
			e.errorf("help: unknown command %q", strings.Join(args[:i+1], " "))
			return exitCantRun
		}
		prefix += " " + c.name
		if c.subs == nil && i < len(args)-1 {
			e.errorf("help: unknown command %q", strings.Join(args[:i+2], " "))
			return exitCantRun
		}
		if i == len(args)-1 {
			printUsage(e.stdout, c, prefix)
			return exitOK
		}
		cmds = c.subs
	}
	return exitOK
}

func find(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func printOverview(w io.Writer) {
	fmt.Fprintf(w, "rollsafe %s: rollback safety for services\n\n", cliVersion())
	fmt.Fprintln(w, "usage: rollsafe COMMAND [SUBCOMMAND] [flags] [args]")
	fmt.Fprintln(w)
	printList(w, commands(), "rollsafe")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "exit codes: 0 nothing wrong, 1 something wrong was found, 2 the command could not run")
	fmt.Fprintln(w, `run "rollsafe help COMMAND" for details; "rollsafe --version" prints the version`)
}

func printList(w io.Writer, cmds []command, prefix string) {
	fmt.Fprintln(w, "commands:")
	sorted := append([]command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimPrefix(prefix+" "+c.name, "rollsafe "), c.summary)
	}
}

func printUsage(w io.Writer, c command, path string) {
	if c.usage != "" {
		fmt.Fprintf(w, "usage: %s\n", c.usage)
	} else {
		fmt.Fprintf(w, "usage: %s\n", path)
	}
	if c.summary != "" {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	if c.subs != nil {
		fmt.Fprintln(w)
		printList(w, c.subs, path)
		return
	}
	if c.flags != nil {
		fs := flag.NewFlagSet(path, flag.ContinueOnError)
		c.flags(fs)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(w, "\nflags:")
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// cliVersion is the version set at link time, else the module version from the
// build info, else "(devel)".
func cliVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// formatFlag is the --format flag of commands that report findings.
type formatFlag struct {
	value   string
	allowed []string
}

func newFormatFlag(fs *flag.FlagSet, allowed ...string) *formatFlag {
	f := &formatFlag{value: allowed[0], allowed: allowed}
	fs.Var(f, "format", "output format: "+strings.Join(allowed, "|"))
	return f
}

func (f *formatFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *formatFlag) Set(s string) error {
	for _, a := range f.allowed {
		if s == a {
			f.value = s
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (want %s)", s, strings.Join(f.allowed, "|"))
}
