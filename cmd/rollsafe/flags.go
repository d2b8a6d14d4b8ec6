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
		summary: "validate flag files; evaluate a flag for a user; read and change the fleet's flag store",
		usage:   "rollsafe flags SUBCOMMAND [flags] ARGS",
		subs: []command{
			flagsValidateCommand(),
			flagsEvalCommand(),
			flagsListCommand(),
			flagsHistoryCommand(),
			flagsKillCommand(),
			flagsReviveCommand(),
			flagsWeightsCommand(),
			flagsPushCommand(),
			flagsPullCommand(),
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
