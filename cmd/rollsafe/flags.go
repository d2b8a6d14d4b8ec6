package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/rollsafe/rollsafe/flags"
)

func flagsCommand() command {
	return command{
		name:    "flags",
		summary: "validate flag files; evaluate a flag for a user",
		usage:   "rollsafe flags SUBCOMMAND [flags] ARGS",
		subs: []command{
			flagsValidateCommand(),
			flagsEvalCommand(),
		},
	}
}

func flagsValidateCommand() command {
	return command{
		name:    "validate",
		summary: "check a flag definitions file (flagd format, JSON or YAML)",
		usage: "rollsafe flags validate [--format text|json|github] FILE\n\n" +
			"Exit 0 when the file is valid; 1 when it is not, listing every problem by\n" +
			"flag and field: invalid flags (kept out, answering PARSE_ERROR, while the\n" +
			"others load, as in flagd) or a file refused whole (malformed JSON or YAML,\n" +
			"a problem of the document itself); 2 when it cannot be read.",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			format := newFormatFlag(fs, "text", "json", "github")
			return func(e *env, args []string) int {
				if len(args) != 1 {
					e.errorf("flags validate: want one FILE, got %d arguments", len(args))
					return exitCantRun
				}
				return flagsValidate(e, args[0], format.value)
			}
		},
	}
}

func flagsValidate(e *env, path, format string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		e.errorf("flags validate: %v", err)
		return exitCantRun
	}
	set, err := flags.ParseFile(path, data)
	var ve *flags.ValidationError
	if err != nil && !errors.As(err, &ve) {
		e.errorf("flags validate: %s: %v", path, err)
		return exitCantRun
	}
	var problems []flags.Problem
	var invalid []string
	if ve != nil {
		problems, invalid = ve.Problems, ve.Keys()
	}
	switch format {
	case "json":
		type problem struct {
			Flag    string `json:"flag,omitempty"`
			Field   string `json:"field,omitempty"`
			Message string `json:"message"`
		}
		out := struct {
			File         string    `json:"file"`
			Valid        bool      `json:"valid"`
			Refused      bool      `json:"refused"`
			Flags        []string  `json:"flags"`
			InvalidFlags []string  `json:"invalidFlags"`
			Problems     []problem `json:"problems"`
		}{File: path, Valid: err == nil, Refused: set == nil, Flags: set.Keys(), InvalidFlags: invalid, Problems: []problem{}}
		if out.Flags == nil {
			out.Flags = []string{}
		}
		if out.InvalidFlags == nil {
			out.InvalidFlags = []string{}
		}
		for _, p := range problems {
			out.Problems = append(out.Problems, problem{p.Flag, p.Field, p.Message})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			e.errorf("flags validate: write: %v", err)
			return exitCantRun
		}
	case "github":
		for _, p := range problems {
			fmt.Fprintf(e.stdout, "::error file=%s,title=invalid flag definitions::%s\n", githubProperty(path), githubData(p.String()))
		}
	default:
		for _, p := range problems {
			fmt.Fprintf(e.stdout, "%s: %s\n", path, p)
		}
		switch {
		case err == nil:
			fmt.Fprintf(e.stdout, "%s: valid, %s\n", path, plural(len(set.Keys()), "flag", "flags"))
		case set == nil:
			fmt.Fprintf(e.stdout, "%s: invalid, %s; the whole file is refused\n", path, plural(len(problems), "problem", "problems"))
		default:
			fmt.Fprintf(e.stdout, "%s: invalid, %s in %s; the %s load\n", path,
				plural(len(problems), "problem", "problems"), plural(len(invalid), "flag", "flags"),
				plural(len(set.Keys()), "other flag", "other flags"))
		}
	}
	if err != nil {
		return exitFailed
	}
	return exitOK
}

func flagsEvalCommand() command {
	return command{
		name:    "eval",
		summary: "evaluate one flag for an evaluation context, as a service would",
		usage: "rollsafe flags eval --file FILE [--context JSON] KEY\n\n" +
			"Prints one JSON object: {\"key\", \"value\", \"variant\", \"reason\", \"errorCode\"}.\n" +
			"value is the variant's value in the flag's own type, null where the calling\n" +
			"code's default would apply; errorCode appears only on errors. The context\n" +
			"JSON holds \"targetingKey\" and attributes: '{\"targetingKey\":\"u1\",\"plan\":\"pro\"}'.\n" +
			"Exit 0 whenever the evaluation ran (a FLAG_NOT_FOUND answer included);\n" +
			"1 when the file is invalid, as for flags validate: it does not parse or\n" +
			"validate, the answer printed is PARSE_ERROR (as a service's would be) and\n" +
			"each problem is printed on stderr; 2 for an unreadable file or bad\n" +
			"--context JSON.",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			file := fs.String("file", "", "flag definitions file (JSON, or YAML by extension)")
			evalCtx := fs.String("context", "", "evaluation context as a JSON object")
			return func(e *env, args []string) int {
				if *file == "" {
					e.errorf("flags eval: --file is required")
					return exitCantRun
				}
				if len(args) != 1 {
					e.errorf("flags eval: want one flag KEY after the flags, got %d arguments", len(args))
					return exitCantRun
				}
				return flagsEval(e, *file, *evalCtx, args[0])
			}
		},
	}
}

// evalOutput is what flags eval prints; the field order is the documented one.
type evalOutput struct {
	Key       string  `json:"key"`
	Value     any     `json:"value"`
	Variant   *string `json:"variant"`
	Reason    string  `json:"reason"`
	ErrorCode string  `json:"errorCode,omitempty"`
}

func flagsEval(e *env, path, rawCtx, key string) int {
	evalCtx, err := parseEvalContext(rawCtx)
	if err != nil {
		e.errorf("flags eval: --context: %v", err)
		return exitCantRun
	}
	data, err := os.ReadFile(path)
	if err != nil {
		e.errorf("flags eval: %v", err)
		return exitCantRun
	}
	// The kind decides which typed evaluation a program would make; a file
	// that does not parse still goes through the provider, which answers
	// PARSE_ERROR, and the command fails as flags validate does.
	code := exitOK
	var kind flags.Kind
	set, parseErr := flags.ParseFile(path, data)
	if parseErr == nil {
		kind, _ = set.Kind(key)
	} else {
		var ve *flags.ValidationError
		if !errors.As(parseErr, &ve) {
			e.errorf("flags eval: %s: %v", path, parseErr)
			return exitCantRun
		}
		problems := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			problems[i] = p.String()
		}
		e.errorf("flags eval: %s is invalid (%s): %s", path, plural(len(problems), "problem", "problems"), strings.Join(problems, "; "))
		code = exitFailed
	}
	provider, err := flags.NewProvider(fileOnce{set: set, err: parseErr})
	if err != nil {
		e.errorf("flags eval: %v", err)
		return exitCantRun
	}
	api := isolated.NewAPI()
	defer func() { _ = api.Shutdown(context.WithoutCancel(e.ctx)) }()
	// An error here is a refused file: the evaluation below reports it.
	_ = api.SetProviderAndWait(e.ctx, provider)
	details := evaluate(e.ctx, api.NewClient(), kind, key, evalCtx)

	out := evalOutput{Key: key, Reason: string(details.Reason)}
	if details.Variant != "" {
		v := details.Variant
		out.Variant = &v
		out.Value = details.Value
	}
	if details.ErrorCode != "" {
		out.ErrorCode = string(details.ErrorCode)
		out.Value, out.Variant = nil, nil
		if details.ErrorMessage != "" && details.ErrorCode != openfeature.ParseErrorCode {
			e.errorf("flags eval: %s: %s", details.ErrorCode, details.ErrorMessage)
		}
	}
	if details.Reason == openfeature.DisabledReason {
		out.Value, out.Variant = nil, nil
	}
	enc := json.NewEncoder(e.stdout)
	if err := enc.Encode(out); err != nil {
		e.errorf("flags eval: write: %v", err)
		return exitCantRun
	}
	return code
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

// evaluation is the common part of the SDK's typed evaluation details.
type evaluation struct {
	Value        any
	Variant      string
	Reason       openfeature.Reason
	ErrorCode    openfeature.ErrorCode
	ErrorMessage string
}

func evaluate(ctx context.Context, c *openfeature.Client, kind flags.Kind, key string, evalCtx openfeature.EvaluationContext) evaluation {
	var out evaluation
	fill := func(v any, d openfeature.EvaluationDetails) {
		out = evaluation{Value: v, Variant: d.Variant, Reason: d.Reason, ErrorCode: d.ErrorCode, ErrorMessage: d.ErrorMessage}
	}
	switch kind {
	case flags.KindBool:
		d, _ := c.BooleanValueDetails(ctx, key, false, evalCtx)
		fill(d.Value, d.EvaluationDetails)
	case flags.KindString:
		d, _ := c.StringValueDetails(ctx, key, "", evalCtx)
		fill(d.Value, d.EvaluationDetails)
	case flags.KindNumber:
		// Float answers whole and fractional numbers alike; a whole number
		// prints without a fraction either way.
		d, _ := c.FloatValueDetails(ctx, key, 0, evalCtx)
		fill(d.Value, d.EvaluationDetails)
	default:
		// Objects, and flags the file does not hold (FLAG_NOT_FOUND) or
		// cannot give (PARSE_ERROR).
		d, _ := c.ObjectValueDetails(ctx, key, nil, evalCtx)
		fill(d.Value, d.EvaluationDetails)
	}
	// The error is also in the details, which is what gets printed.
	return out
}

// parseEvalContext reads {"targetingKey": "...", attributes...}.
func parseEvalContext(raw string) (openfeature.EvaluationContext, error) {
	if strings.TrimSpace(raw) == "" {
		return openfeature.EvaluationContext{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	var attrs map[string]any
	if err := dec.Decode(&attrs); err != nil {
		return openfeature.EvaluationContext{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if attrs == nil {
		return openfeature.EvaluationContext{}, errors.New("not a JSON object: null")
	}
	if dec.More() {
		return openfeature.EvaluationContext{}, errors.New("data after the JSON object")
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
