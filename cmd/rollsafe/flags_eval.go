package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
)

func flagsEvalCommand() command {
	return command{
		name:    "eval",
		summary: "evaluate a flag for an evaluation context, or a file of them, as a service would",
		usage: "rollsafe flags eval --file FILE [--type TYPE] [--context JSON | --contexts FILE] [--format json|text] KEY\n\n" +
			"Prints one JSON object (one per context line with --contexts): {\"key\", \"value\", \"variant\", \"reason\", \"errorCode\",\n" +
			"\"metadata\"}. value is the variant's value, null where the calling code's\n" +
			"default would apply; errorCode appears only on errors, metadata only when\n" +
			"the flag or its set has some (the flag's own keys win over the set's).\n" +
			"--type makes the typed evaluation a program would make (boolean, string,\n" +
			"integer, float, object): a flag whose variants are of another type answers\n" +
			"TYPE_MISMATCH. Without --type the flag's own type is asked for.\n" +
			"The context JSON holds \"targetingKey\" and attributes:\n" +
			"'{\"targetingKey\":\"u1\",\"plan\":\"pro\"}'. --format text prints\n" +
			"KEY: VALUE (variant \"V\", reason R, errorCode C), then one line per metadata key.\n\n" +
			"--contexts FILE (- for stdin) evaluates once per line of FILE, each line one\n" +
			"JSON context (blank lines are skipped), and prints one JSON result a line,\n" +
			"in order, each with its \"line\" number; a line that is not a context\n" +
			"answers INVALID_CONTEXT and the run goes on. Error messages go to stderr,\n" +
			"each distinct message once.\n\n" +
			"Exit 0 whenever the evaluations ran (FLAG_NOT_FOUND, TYPE_MISMATCH and\n" +
			"INVALID_CONTEXT answers included); 1 when the answer is PARSE_ERROR, as\n" +
			"a service's would be: the file is refused whole, or KEY is one of its\n" +
			"invalid flags. The file's problems are printed on stderr whenever it has\n" +
			"some, also when KEY itself is valid and answers; 2 for an unreadable\n" +
			"file, bad --context JSON, or bad usage.",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			var o evalOptions
			fs.StringVar(&o.file, "file", "", "flag definitions file (JSON, or YAML by extension)")
			fs.StringVar(&o.context, "context", "", "evaluation context as a JSON object")
			fs.StringVar(&o.contexts, "contexts", "", "file of evaluation contexts, one JSON object a line (- for stdin)")
			typ := &evalTypeFlag{}
			fs.Var(typ, "type", "typed evaluation to make: "+strings.Join(evalTypes, "|")+" (default: the flag's own type)")
			format := newFormatFlag(fs, "json", "text")
			return func(e *env, args []string) int {
				if o.file == "" {
					e.errorf("flags eval: --file is required")
					return exitCantRun
				}
				if o.context != "" && o.contexts != "" {
					e.errorf("flags eval: --context and --contexts cannot be used together")
					return exitCantRun
				}
				if len(args) != 1 {
					e.errorf("flags eval: want one flag KEY after the flags, got %d arguments", len(args))
					return exitCantRun
				}
				o.key, o.typ, o.format = args[0], typ.value, format.value
				if o.contexts != "" {
					return flagsEvalContexts(e, o)
				}
				return flagsEval(e, o)
			}
		},
	}
}

// evalOptions are flags eval's flags and argument.
type evalOptions struct {
	file     string
	context  string
	contexts string
	typ      string // one of evalTypes, or "" for the flag's own type
	format   string
	key      string
}

// evalTypes are the values of --type, in the order help lists them.
var evalTypes = []string{"boolean", "string", "integer", "float", "object"}

// evalTypeFlag is --type; an unknown value is a usage error naming it.
type evalTypeFlag struct{ value string }

func (f *evalTypeFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *evalTypeFlag) Set(s string) error {
	if !slices.Contains(evalTypes, s) {
		return fmt.Errorf("unknown type %q (want %s)", s, strings.Join(evalTypes, "|"))
	}
	f.value = s
	return nil
}

// evalOutput is what flags eval prints; the field order is the documented one.
type evalOutput struct {
	Line      int            `json:"line,omitempty"` // --contexts only
	Key       string         `json:"key"`
	Value     any            `json:"value"`
	Variant   *string        `json:"variant"`
	Reason    string         `json:"reason"`
	ErrorCode string         `json:"errorCode,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

func flagsEval(e *env, o evalOptions) int {
	evalCtx, err := parseEvalContext([]byte(o.context))
	if err != nil {
		e.errorf("flags eval: --context: %v", err)
		return exitCantRun
	}
	ev, code, ok := newEvaluator(e, o)
	if !ok {
		return code
	}
	defer ev.close()
	w := newEvalWriter(e.stdout, o.format)
	out, msg := ev.evaluate(evalCtx)
	if msg != "" {
		e.errorf("flags eval: %s", msg)
	}
	w.write(out)
	if err := w.flush(); err != nil {
		e.errorf("flags eval: write: %v", err)
		return exitCantRun
	}
	return code
}

// flagsEvalContexts evaluates the flag once per context line, with one
// provider and one client for all, the output buffered: CI runs thousands of
// cases in one process.
func flagsEvalContexts(e *env, o evalOptions) int {
	var in io.Reader
	name := o.contexts // for messages
	if o.contexts == "-" {
		name, in = "stdin", e.stdin
		if in == nil {
			in = strings.NewReader("")
		}
	} else {
		f, err := os.Open(o.contexts)
		if err != nil {
			e.errorf("flags eval: --contexts: %v", err)
			return exitCantRun
		}
		defer f.Close()
		in = f
	}
	ev, code, ok := newEvaluator(e, o)
	if !ok {
		return code
	}
	defer ev.close()
	w := newEvalWriter(e.stdout, o.format)
	said := map[string]bool{} // error messages printed, each once
	say := func(line int, msg string) {
		if !said[msg] {
			said[msg] = true
			e.errorf("flags eval: %s line %d: %s", name, line, msg)
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxContextLine)
	n := 0 // the line number
	for w.err == nil && sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		evalCtx, err := parseEvalContext(line)
		if err != nil {
			say(n, err.Error())
			w.write(evalOutput{Line: n, Key: o.key, Reason: string(openfeature.ErrorReason), ErrorCode: string(openfeature.InvalidContextCode)})
			continue
		}
		out, msg := ev.evaluate(evalCtx)
		if msg != "" {
			say(n, msg)
		}
		out.Line = n
		w.write(out)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d MiB", n+1, maxContextLine>>20)
		}
		_ = w.flush() // the results so far; the read error decides the exit code
		e.errorf("flags eval: --contexts %s: %v", name, err)
		return exitCantRun
	}
	if err := w.flush(); err != nil {
		e.errorf("flags eval: write: %v", err)
		return exitCantRun
	}
	return code
}

// maxContextLine bounds one line of --contexts.
const maxContextLine = 16 << 20

// evaluator makes one typed evaluation of one flag, through the OpenFeature
// SDK as a service would.
type evaluator struct {
	ctx    context.Context
	api    *openfeature.EvaluationAPI
	client *openfeature.Client
	call   string // one of evalTypes
	key    string
}

// newEvaluator reads the flag file and starts a provider on it. ok is false
// when the file cannot be read; code is then the exit code. Otherwise code is
// exitFailed when the answer is PARSE_ERROR — the file is refused whole, or
// the flag asked for is one of its invalid flags — and exitOK otherwise. The
// problems of the file are printed on stderr either way: a valid flag in a
// file whose other flags are invalid answers as a service would, which loads
// every valid flag.
func newEvaluator(e *env, o evalOptions) (ev *evaluator, code int, ok bool) {
	data, err := os.ReadFile(o.file)
	if err != nil {
		e.errorf("flags eval: %v", err)
		return nil, exitCantRun, false
	}
	// A file that does not parse still goes through the provider, which
	// answers PARSE_ERROR, and the command fails as flags validate does.
	code = exitOK
	set, parseErr := flags.ParseFile(o.file, data)
	if parseErr != nil {
		var ve *flags.ValidationError
		if !errors.As(parseErr, &ve) {
			e.errorf("flags eval: %s: %v", o.file, parseErr)
			return nil, exitCantRun, false
		}
		problems := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			problems[i] = p.String()
		}
		e.errorf("flags eval: %s is invalid (%s): %s", o.file, plural(len(problems), "problem", "problems"), strings.Join(problems, "; "))
		if set == nil || slices.Contains(ve.Keys(), o.key) {
			code = exitFailed
		}
	}
	call := o.typ
	if call == "" {
		call = ownType(set, o.key)
	}
	provider, err := flags.NewProvider(fileOnce{set: set, err: parseErr})
	if err != nil {
		e.errorf("flags eval: %v", err)
		return nil, exitCantRun, false
	}
	api := isolated.NewAPI()
	// An error here is a refused file: the evaluations report it.
	_ = api.SetProviderAndWait(e.ctx, provider)
	return &evaluator{ctx: e.ctx, api: api, client: api.NewClient(), call: call, key: o.key}, code, true
}

// ownType is the typed evaluation a program would make for the flag key of
// set: float for numbers, as it answers whole and fractional numbers alike
// (a whole number prints without a fraction either way); object for objects
// and for flags the set does not hold (FLAG_NOT_FOUND, or PARSE_ERROR).
func ownType(set *flags.Set, key string) string {
	if set == nil {
		return "object"
	}
	kind, _ := set.Kind(key)
	switch kind {
	case flags.KindBool:
		return "boolean"
	case flags.KindString:
		return "string"
	case flags.KindNumber:
		return "float"
	}
	return "object"
}

func (ev *evaluator) close() { _ = ev.api.Shutdown(context.WithoutCancel(ev.ctx)) }

// evaluate answers the flag for evalCtx. msg is the error message to print
// on stderr, "" for none: a PARSE_ERROR's problems were printed already.
func (ev *evaluator) evaluate(evalCtx openfeature.EvaluationContext) (out evalOutput, msg string) {
	var (
		value any
		d     openfeature.EvaluationDetails
	)
	// The error is also in the details, which is what gets printed.
	c, ctx, key := ev.client, ev.ctx, ev.key
	switch ev.call {
	case "boolean":
		r, _ := c.BooleanValueDetails(ctx, key, false, evalCtx)
		value, d = r.Value, r.EvaluationDetails
	case "string":
		r, _ := c.StringValueDetails(ctx, key, "", evalCtx)
		value, d = r.Value, r.EvaluationDetails
	case "integer":
		r, _ := c.IntValueDetails(ctx, key, 0, evalCtx)
		value, d = r.Value, r.EvaluationDetails
	case "float":
		r, _ := c.FloatValueDetails(ctx, key, 0, evalCtx)
		value, d = r.Value, r.EvaluationDetails
	default:
		r, _ := c.ObjectValueDetails(ctx, key, nil, evalCtx)
		value, d = r.Value, r.EvaluationDetails
	}
	out = evalOutput{Key: key, Reason: string(d.Reason), Metadata: d.FlagMetadata}
	if d.Variant != "" && d.ErrorCode == "" && d.Reason != openfeature.DisabledReason {
		v := d.Variant
		out.Variant, out.Value = &v, value
	}
	if d.ErrorCode != "" {
		out.ErrorCode = string(d.ErrorCode)
		if d.ErrorMessage != "" && d.ErrorCode != openfeature.ParseErrorCode {
			msg = string(d.ErrorCode) + ": " + d.ErrorMessage
		}
	}
	return out, msg
}

// evalWriter prints results, buffered, as JSON lines or as text.
type evalWriter struct {
	w    *bufio.Writer
	enc  *json.Encoder
	text bool
	err  error // the first write error
}

func newEvalWriter(w io.Writer, format string) *evalWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &evalWriter{w: bw, enc: json.NewEncoder(bw), text: format == "text"}
}

func (w *evalWriter) write(out evalOutput) {
	if w.err != nil {
		return
	}
	if !w.text {
		w.err = w.enc.Encode(out)
		return
	}
	// KEY: VALUE (variant "V", reason R, errorCode C), then one line per
	// metadata key, in key order; values as JSON. Written in one piece, so
	// that the first write error stops the run (a bufio.Writer keeps it).
	var b strings.Builder
	if out.Line != 0 {
		fmt.Fprintf(&b, "line %d: ", out.Line)
	}
	fmt.Fprintf(&b, "%s: %s (", out.Key, jsonText(out.Value))
	if out.Variant != nil {
		fmt.Fprintf(&b, "variant %q, ", *out.Variant)
	}
	fmt.Fprintf(&b, "reason %s", out.Reason)
	if out.ErrorCode != "" {
		fmt.Fprintf(&b, ", errorCode %s", out.ErrorCode)
	}
	b.WriteString(")\n")
	for _, k := range slices.Sorted(maps.Keys(out.Metadata)) {
		fmt.Fprintf(&b, "  metadata %s: %s\n", k, jsonText(out.Metadata[k]))
	}
	_, w.err = w.w.WriteString(b.String())
}

func (w *evalWriter) flush() error {
	if err := w.w.Flush(); w.err == nil {
		w.err = err
	}
	return w.err
}

// jsonText is v as compact JSON; the values printed come from JSON, so they
// encode.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// fileOnce is a source holding the file as it was read: eval answers for the
// file as it is now and has no use for a watch.
type fileOnce struct {
	set *flags.Set
	err error
}

func (f fileOnce) Watch(ctx context.Context, changed func(*flags.Set, error)) error {
	changed(f.set, f.err)
	<-ctx.Done()
	return nil
}

// parseEvalContext reads {"targetingKey": "...", attributes...}; blank input
// is the empty context.
func parseEvalContext(raw []byte) (openfeature.EvaluationContext, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return openfeature.EvaluationContext{}, nil
	}
	var attrs map[string]any
	if err := json.Unmarshal(raw, &attrs); err != nil {
		// Unmarshal, the faster for --contexts, also refuses an object
		// followed by more data: say so plainly.
		if json.NewDecoder(bytes.NewReader(raw)).Decode(new(map[string]any)) == nil {
			return openfeature.EvaluationContext{}, errors.New("data after the JSON object")
		}
		return openfeature.EvaluationContext{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if attrs == nil {
		return openfeature.EvaluationContext{}, errors.New("not a JSON object: null")
	}
	var key string
	if tk, ok := attrs[openfeature.TargetingKey]; ok {
		s, isString := tk.(string)
		if !isString {
			return openfeature.EvaluationContext{}, fmt.Errorf("targetingKey must be a string, not %v", tk)
		}
		key = s
		delete(attrs, openfeature.TargetingKey)
	}
	return openfeature.NewEvaluationContext(key, attrs), nil
}
