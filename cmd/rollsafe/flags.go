package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

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
			"Exit 0 when the file is valid, 1 when it is not (malformed JSON included;\n" +
			"each problem names its flag and field), 2 when it cannot be read.",
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
	if ve != nil {
		problems = ve.Problems
	}
	switch format {
	case "json":
		type problem struct {
			Flag    string `json:"flag,omitempty"`
			Field   string `json:"field,omitempty"`
			Message string `json:"message"`
		}
		out := struct {
			File     string    `json:"file"`
			Valid    bool      `json:"valid"`
			Flags    []string  `json:"flags"`
			Problems []problem `json:"problems"`
		}{File: path, Valid: set != nil, Flags: set.Keys(), Problems: []problem{}}
		if out.Flags == nil {
			out.Flags = []string{}
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
		if set != nil {
			fmt.Fprintf(e.stdout, "%s: valid, %s\n", path, plural(len(set.Keys()), "flag", "flags"))
		} else {
			fmt.Fprintf(e.stdout, "%s: invalid, %s\n", path, plural(len(problems), "problem", "problems"))
		}
	}
	if set == nil {
		return exitFailed
	}
	return exitOK
}
