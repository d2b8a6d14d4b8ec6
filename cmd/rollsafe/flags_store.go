package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rollsafe/rollsafe/dialect"
	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/flags/flagstore"
	"github.com/rollsafe/rollsafe/internal/dsn"
)

// storeConnUsage is the part of every store command's usage that says how
// it reaches the store and what its exit codes mean.
const storeConnUsage = `

The store is the flags table of the service's own database (rollsafe_flags,
created on first use): --dialect and --dsn say which, as for rollsafe migrate.

Exit codes: 0 done; 1 refused (the flags changed since --base, a definition
that does not validate, named by flag and field, no such flag, instances that
did not confirm in time); 2 could not run (bad usage, a database that does not
answer, a file that cannot be read or written).`

// storeFlags are the flags every flag-store command takes.
type storeFlags struct {
	group   string // the command group, first in messages: "flags"
	dialect string
	dsnFlag *string
	dsn     string // --dsn, or $ROLLSAFE_DSN
	format  *formatFlag
}

func newStoreFlags(fs *flag.FlagSet) *storeFlags {
	sf := &storeFlags{group: "flags"}
	fs.StringVar(&sf.dialect, "dialect", "", "database `dialect`: sqlite, postgres or mysql (MariaDB too)")
	sf.dsnFlag = dsnFlag(fs, "database `DSN`: a file path (SQLite), postgres://user:pass@host:5432/db (PostgreSQL), "+
		"user:pass@tcp(127.0.0.1:3306)/app (MySQL/MariaDB, go-sql-driver style)")
	sf.format = newFormatFlag(fs, "text", "json")
	return sf
}

func (sf *storeFlags) json() bool { return sf.format.String() == "json" }

// scrub removes the DSN and its secrets from a message.
func (sf *storeFlags) scrub(msg string) string { return dsn.Scrub(msg, sf.dsn) }

// open opens and pings the database and returns the store on it. A SQLite
// file that does not exist is refused unless create is set: opening it
// would create an empty database and report on that. On failure it has
// printed why and returns exit code 2.
func (sf *storeFlags) open(e *env, cmd string, create bool) (*sql.DB, *flagstore.Store, int) {
	fail := func(format string, a ...any) (*sql.DB, *flagstore.Store, int) {
		e.errorf("%s: %s", strings.TrimSpace(sf.group+" "+cmd), sf.scrub(fmt.Sprintf(format, a...)))
		return nil, nil, exitCantRun
	}
	sf.dsn = e.dsn(*sf.dsnFlag)
	if sf.dialect == "" || sf.dsn == "" {
		return fail("--dialect and --dsn (or $%s) are required", envDSN)
	}
	d, err := dialect.Parse(sf.dialect)
	if err != nil {
		return fail("--dialect: %s", strings.TrimPrefix(err.Error(), "dialect: "))
	}
	db, err := openDatabase(e.ctx, d, sf.dsn, create)
	if err != nil {
		return fail("%v", err)
	}
	store, err := flagstore.New(db, d)
	if err != nil {
		_ = db.Close() // the store error is what matters
		return fail("%v", err)
	}
	return db, store, exitOK
}

// refusalJSON is what a store command prints for --format json when the
// store refused it (exit 1): the error, and the problems or the conflict.
type refusalJSON struct {
	Error    string        `json:"error"`
	ExitCode int           `json:"exitCode"`
	Meaning  string        `json:"meaning"`
	Problems []problemJSON `json:"problems,omitempty"`
	// Current is the store's revision when a --base conflicted with it.
	Current *int64 `json:"current,omitempty"`
}

type problemJSON struct {
	Flag    string `json:"flag,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// fail prints err, the outcome of a store call, and returns its exit code:
// 1 for what the store refused (a conflict, definitions that do not
// validate, no such flag), 2 for a malformed change (the command line's
// values) and for everything else, which kept the command from running.
func (sf *storeFlags) fail(e *env, cmd string, err error) int {
	return sf.failOn(e, cmd, "", err)
}

// failOn is fail for an error about subject (a file), which the message
// names first.
func (sf *storeFlags) failOn(e *env, cmd, subject string, err error) int {
	msg := sf.scrub(trimPrefixes(err.Error()))
	if subject != "" {
		msg = subject + ": " + msg
	}
	var (
		ce  *flagstore.ConflictError
		ve  *flags.ValidationError
		out = refusalJSON{ExitCode: exitFailed, Meaning: meanings[exitFailed]}
	)
	switch {
	case errors.As(err, &ce):
		out.Current = &ce.Current
		msg = fmt.Sprintf("refused: the flags changed since revision %d (--base), the store is at %d; nothing written", ce.Base, ce.Current)
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			out.Problems = append(out.Problems, problemJSON{p.Flag, p.Field, p.Message})
		}
		msg = "refused, nothing written: " + msg
	case errors.Is(err, flags.ErrNotFound):
		msg = "refused: " + msg
	default:
		e.errorf("flags %s: %s", cmd, msg)
		return exitCantRun
	}
	e.errorf("flags %s: %s", cmd, msg)
	if sf.json() {
		out.Error = "flags " + cmd + ": " + msg
		writeJSON(e, cmd, out)
	}
	return exitFailed
}

// trimPrefixes removes the package names that start the store's messages:
// the command's name says where they come from.
func trimPrefixes(msg string) string {
	for {
		m := msg
		for _, p := range []string{"flagstore: ", "import: ", "flags: "} {
			m = strings.TrimPrefix(m, p)
		}
		if m == msg {
			return msg
		}
		msg = m
	}
}

// writeJSON prints v as one line of JSON; a failed write is exit 2.
func writeJSON(e *env, cmd string, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		e.errorf("flags %s: write JSON: %v", cmd, err)
		return exitCantRun
	}
	return exitOK
}

// positional parses the flags that follow positional arguments too, as in
// "rollsafe flags kill KEY --reason ...", which the flag package alone
// stops at, and returns the positional arguments. After "--" everything is
// positional. On a bad flag it prints why and returns false and the exit
// code.
func positional(e *env, fs *flag.FlagSet, c func() command, args []string) ([]string, bool, int) {
	return positionalIn(e, fs, "flags", c, args)
}

// positionalIn is positional for a command of group ("flags", "release").
func positionalIn(e *env, fs *flag.FlagSet, group string, c func() command, args []string) ([]string, bool, int) {
	var pos []string
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos, args = append(pos, a), args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			cmd := c()
			if errors.Is(err, flag.ErrHelp) {
				printUsage(e.stdout, cmd, "rollsafe "+group+" "+cmd.name)
				return nil, false, exitOK
			}
			e.errorf("%s %s: %v", group, cmd.name, err)
			fmt.Fprintf(e.stderr, "usage: %s\n", firstLine(cmd.usage))
			return nil, false, exitCantRun
		}
		args = fs.Args()
	}
	return pos, true, exitOK
}

func flagsListCommand() command {
	return command{
		name:    "list",
		summary: "list the flags in the store: key, state, kind, variants, and its revision",
		usage: "rollsafe flags list [--format text|json] --dialect D --dsn DSN\n\n" +
			"Lists the store's flags with their state, kind and variants (the default\n" +
			"marked), and the store's revision. Exit 1 when some flag's definition is\n" +
			"invalid (rows changed by hand, outside rollsafe): instances serve the others.\n\n" +
			"JSON output: {\"revision\": N, \"flags\": [{\"key\", \"state\", \"kind\" (boolean,\n" +
			"string, number, object; \"\" when invalid), \"variants\": [names, sorted],\n" +
			"\"defaultVariant\" (when set), \"valid\": bool}], \"problems\": [{\"flag\",\n" +
			"\"field\", \"message\"}]}." + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf := newStoreFlags(fs)
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, flagsListCommand, args)
				if !ok {
					return code
				}
				if len(args) != 0 {
					e.errorf("flags list: want no arguments, got %d", len(args))
					return exitCantRun
				}
				return flagsList(e, sf)
			}
		},
	}
}

type listJSON struct {
	Revision int64         `json:"revision"`
	Flags    []flagJSON    `json:"flags"`
	Problems []problemJSON `json:"problems"`
}

type flagJSON struct {
	Key            string   `json:"key"`
	State          string   `json:"state"`
	Kind           string   `json:"kind"`
	Variants       []string `json:"variants"`
	DefaultVariant string   `json:"defaultVariant,omitempty"`
	Valid          bool     `json:"valid"`
}

func flagsList(e *env, sf *storeFlags) int {
	db, store, code := sf.open(e, "list", false)
	if code != exitOK {
		return code
	}
	defer db.Close()
	// Export reads the flags as they are, invalid ones too, in one read:
	// the list shows what the table holds, and which flags instances refuse.
	var b bytes.Buffer
	rev, err := store.Export(e.ctx, &b)
	if err != nil {
		return sf.fail(e, "list", err)
	}
	out := listJSON{Revision: rev, Flags: []flagJSON{}, Problems: []problemJSON{}}
	set, perr := flags.Parse(b.Bytes())
	var ve *flags.ValidationError
	if errors.As(perr, &ve) {
		for _, p := range ve.Problems {
			out.Problems = append(out.Problems, problemJSON{p.Flag, p.Field, p.Message})
		}
	}
	var doc struct {
		Flags map[string]json.RawMessage `json:"flags"`
	}
	_ = json.Unmarshal(b.Bytes(), &doc) // Export wrote it: it decodes
	for _, key := range sortedKeys(doc.Flags) {
		f := flagJSON{Key: key, Variants: []string{}}
		var def struct {
			State          string                     `json:"state"`
			Variants       map[string]json.RawMessage `json:"variants"`
			DefaultVariant string                     `json:"defaultVariant"`
		}
		// A definition changed by hand may not decode: it lists as invalid.
		if json.Unmarshal(doc.Flags[key], &def) == nil {
			f.State, f.Variants, f.DefaultVariant = def.State, sortedKeys(def.Variants), def.DefaultVariant
		}
		if k, ok := set.Kind(key); ok {
			f.Kind, f.Valid = k.String(), true
		}
		out.Flags = append(out.Flags, f)
	}
	code = exitOK
	if len(out.Problems) > 0 {
		code = exitFailed
	}
	if sf.json() {
		if writeJSON(e, "list", out) != exitOK {
			return exitCantRun
		}
		return code
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tKIND\tVARIANTS")
	for _, f := range out.Flags {
		kind := f.Kind
		if !f.Valid {
			kind = "(invalid)"
		}
		variants := strings.Join(f.Variants, ", ")
		if f.DefaultVariant != "" {
			variants += " (default " + f.DefaultVariant + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Key, f.State, kind, variants)
	}
	if err := tw.Flush(); err != nil {
		e.errorf("flags list: %v", err)
		return exitCantRun
	}
	fmt.Fprintf(e.stdout, "revision %d, %s\n", rev, plural(len(out.Flags), "flag", "flags"))
	for _, p := range out.Problems {
		fmt.Fprintf(e.stdout, "invalid: %s\n", flags.Problem{Flag: p.Flag, Field: p.Field, Message: p.Message})
	}
	if code == exitFailed {
		e.errorf("flags list: %s invalid (changed outside rollsafe?): instances serve the other flags; replace them with rollsafe flags push",
			plural(len(ve.Keys()), "flag is", "flags are"))
	}
	return code
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func flagsHistoryCommand() command {
	return command{
		name:    "history",
		summary: "show the audit trail of the store, or of one flag, newest first",
		usage: "rollsafe flags history [--limit N] [--format text|json] --dialect D --dsn DSN [KEY]\n\n" +
			"Shows who changed which flags, when, why, and what changed, newest first: the\n" +
			"last N changes (default 20, at most 1000), of the flag KEY alone when given.\n\n" +
			"JSON output: {\"records\": [{\"revision\", \"time\" (RFC 3339, UTC), \"actor\",\n" +
			"\"reason\", \"releaseId\" (when set), \"keys\": [the flags changed], \"before\",\n" +
			"\"after\": flagd documents of those flags (a flag absent from before was created,\n" +
			"from after deleted)}]}." + storeConnUsage,
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			sf := newStoreFlags(fs)
			limit := fs.Int("limit", 20, "show at most `N` changes (1 to 1000)")
			return func(e *env, args []string) int {
				args, ok, code := positional(e, fs, flagsHistoryCommand, args)
				if !ok {
					return code
				}
				if len(args) > 1 {
					e.errorf("flags history: want at most one KEY, got %d arguments", len(args))
					return exitCantRun
				}
				if *limit < 1 || *limit > flagstore.MaxHistoryLimit {
					e.errorf("flags history: --limit %d is not between 1 and %d", *limit, flagstore.MaxHistoryLimit)
					return exitCantRun
				}
				f := flagstore.Filter{Limit: *limit}
				if len(args) == 1 {
					f.Key = args[0]
				}
				return flagsHistory(e, sf, f)
			}
		},
	}
}

func flagsHistory(e *env, sf *storeFlags, f flagstore.Filter) int {
	db, store, code := sf.open(e, "history", false)
	if code != exitOK {
		return code
	}
	defer db.Close()
	recs, err := store.History(e.ctx, f)
	if err != nil {
		return sf.fail(e, "history", err)
	}
	if recs == nil {
		recs = []flagstore.Record{}
	}
	if sf.json() {
		return writeJSON(e, "history", struct {
			Records []flagstore.Record `json:"records"`
		}{recs})
	}
	if len(recs) == 0 {
		if f.Key != "" {
			fmt.Fprintf(e.stdout, "no changes of flag %q\n", f.Key)
		} else {
			fmt.Fprintln(e.stdout, "no changes")
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tTIME\tACTOR\tREASON\tCHANGES")
	for _, r := range recs {
		reason := r.Reason
		if r.ReleaseID != "" {
			reason += " [release " + r.ReleaseID + "]"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Revision, r.Time.UTC().Format(time.RFC3339), oneLine(r.Actor), oneLine(reason), describeChange(r))
	}
	if err := tw.Flush(); err != nil {
		e.errorf("flags history: %v", err)
		return exitCantRun
	}
	return exitOK
}

// oneLine keeps a table row on one line whatever a reason holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// describeChange says in a few words what a record changed: per flag,
// created, deleted, or the fields that changed.
func describeChange(r flagstore.Record) string {
	before, after := docFlags(r.Before), docFlags(r.After)
	var parts []string
	for _, k := range r.Keys {
		b, inBefore := before[k]
		a, inAfter := after[k]
		switch {
		case !inBefore:
			parts = append(parts, k+" created")
		case !inAfter:
			parts = append(parts, k+" deleted")
		default:
			parts = append(parts, k+" "+fieldChanges(b, a))
		}
	}
	if len(parts) == 0 {
		return "shared rules or metadata"
	}
	return strings.Join(parts, "; ")
}

func docFlags(doc json.RawMessage) map[string]map[string]any {
	var d struct {
		Flags map[string]map[string]any `json:"flags"`
	}
	_ = json.Unmarshal(doc, &d) // a damaged record describes as "changed"
	return d.Flags
}

func fieldChanges(b, a map[string]any) string {
	var ch []string
	if !reflect.DeepEqual(b["state"], a["state"]) {
		ch = append(ch, fmt.Sprintf("state %v -> %v", b["state"], a["state"]))
	}
	if !reflect.DeepEqual(b["targeting"], a["targeting"]) {
		bw, brest, bn := fractionalOf(b["targeting"])
		aw, arest, an := fractionalOf(a["targeting"])
		if bn == 1 && an == 1 && reflect.DeepEqual(brest, arest) {
			ch = append(ch, "weights "+bw+" -> "+aw)
		} else {
			ch = append(ch, "targeting")
		}
	}
	if !reflect.DeepEqual(b["defaultVariant"], a["defaultVariant"]) {
		ch = append(ch, fmt.Sprintf("defaultVariant %v -> %v", orNone(b["defaultVariant"]), orNone(a["defaultVariant"])))
	}
	for _, field := range []string{"variants", "metadata"} {
		if !reflect.DeepEqual(b[field], a[field]) {
			ch = append(ch, field)
		}
	}
	if len(ch) == 0 {
		return "changed"
	}
	return strings.Join(ch, ", ")
}

func orNone(v any) any {
	if v == nil {
		return "none"
	}
	return v
}

// fractionalOf finds the fractional splits in rule: n of them, the weights
// of the last as "on=10 off=90", and rule with every split's variants
// blanked, so that two rules compare equal apart from their weights.
func fractionalOf(rule any) (weights string, rest any, n int) {
	switch x := rule.(type) {
	case map[string]any:
		if args, ok := x["fractional"].([]any); ok && len(x) == 1 {
			var ws []string
			kept := []any{}
			for _, arg := range args {
				if e, ok := arg.([]any); ok && len(e) == 2 {
					if v, ok := e[0].(string); ok {
						ws = append(ws, fmt.Sprintf("%s=%v", v, e[1]))
						continue
					}
				}
				kept = append(kept, arg) // the bucketing expression
			}
			return strings.Join(ws, " "), map[string]any{"fractional": kept}, 1
		}
		out := make(map[string]any, len(x))
		for k, v := range x {
			w, r, m := fractionalOf(v)
			out[k], n = r, n+m
			if m > 0 {
				weights = w
			}
		}
		return weights, out, n
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			w, r, m := fractionalOf(v)
			out[i], n = r, n+m
			if m > 0 {
				weights = w
			}
		}
		return weights, out, n
	}
	return "", rule, 0
}
