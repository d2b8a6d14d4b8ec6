package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/rollsafe/rollsafe/release"
)

func releaseValidateCommand() command {
	return command{
		name:    "validate",
		summary: "check a release plan (JSON or YAML)",
		usage: "rollsafe release validate [--format text|json] PLAN\n\n" +
			"Reads the plan (JSON for .json, YAML for .yaml and .yml, else JSON when it\n" +
			"starts with '{') and checks every rule a release is started with. Exit 0\n" +
			"when it is valid; 1 when it is not, listing every problem by field\n" +
			"(steps[2].weights[\"orders-v2\"], 0-based as in a JSON path); 2 when the\n" +
			"file cannot be read.\n\n" +
			"JSON output (one object): {\"file\", \"valid\": bool, \"id\": the plan's id when\n" +
			"valid, \"flags\": [its flag keys], \"steps\": how many, \"problems\":\n" +
			"[{\"field\", \"message\"}]}.",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			format := newFormatFlag(fs, "text", "json")
			return func(e *env, args []string) int {
				if len(args) != 1 {
					e.errorf("release validate: want one PLAN, got %d arguments", len(args))
					return exitCantRun
				}
				return releaseValidate(e, args[0], format.value)
			}
		},
	}
}

// readPlan reads the plan at path. A plan that is not valid returns its
// problems and exit code 1; a file that cannot be read, code 2, printed.
func readPlan(e *env, cmd, path string) (*release.Plan, *release.PlanError, int) {
	p, err := release.ParsePlanFile(path)
	var pe *release.PlanError
	switch {
	case err == nil:
		return p, nil, exitOK
	case errors.As(err, &pe):
		return nil, pe, exitFailed
	}
	e.errorf("release %s: %s", cmd, strings.TrimPrefix(err.Error(), "release: plan: "))
	return nil, nil, exitCantRun
}

func releaseValidate(e *env, path, format string) int {
	p, pe, code := readPlan(e, "validate", path)
	if code == exitCantRun {
		return code
	}
	var problems []release.PlanProblem
	if pe != nil {
		problems = pe.Problems
	}
	if format == "json" {
		out := struct {
			File     string                `json:"file"`
			Valid    bool                  `json:"valid"`
			ID       string                `json:"id,omitempty"`
			Flags    []string              `json:"flags"`
			Steps    int                   `json:"steps"`
			Problems []release.PlanProblem `json:"problems"`
		}{File: path, Valid: p != nil, Flags: []string{}, Problems: problems}
		if out.Problems == nil {
			out.Problems = []release.PlanProblem{}
		}
		if p != nil {
			out.ID, out.Steps = p.ID, len(p.Steps)
			for _, f := range p.Flags {
				out.Flags = append(out.Flags, f.Key)
			}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			e.errorf("release validate: write: %v", err)
			return exitCantRun
		}
		return code
	}
	for _, pr := range problems {
		fmt.Fprintf(e.stdout, "%s: %s\n", path, pr)
	}
	if p == nil {
		fmt.Fprintf(e.stdout, "%s: invalid, %s\n", path, plural(len(problems), "problem", "problems"))
		return code
	}
	fmt.Fprintf(e.stdout, "%s: valid, release %s: %s in %s\n", path, p.ID,
		plural(len(p.Flags), "flag", "flags"), plural(len(p.Steps), "step", "steps"))
	return code
}

func releaseRunbookCommand() command {
	return command{
		name:    "runbook",
		summary: "write a release plan's runbook in Markdown: its steps, what is watched, how to abort it",
		usage: "rollsafe release runbook [--dialect D] PLAN\n\n" +
			"Writes to stdout, in Markdown, what the release does and what to do when it\n" +
			"goes wrong, with the exact commands to abort it or set its flags by hand;\n" +
			"those commands name --dialect D (DIALECT when it is not given) and --dsn\n" +
			"\"$ROLLSAFE_DSN\". Exit 0 written; 1 the plan is not valid (its problems on\n" +
			"stderr); 2 the file cannot be read.",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			d := fs.String("dialect", "", "database `dialect` the commands name: sqlite, postgres or mysql (MariaDB too)")
			return func(e *env, args []string) int {
				if len(args) != 1 {
					e.errorf("release runbook: want one PLAN, got %d arguments", len(args))
					return exitCantRun
				}
				return releaseRunbook(e, args[0], *d)
			}
		},
	}
}

func releaseRunbook(e *env, path, d string) int {
	p, pe, code := readPlan(e, "runbook", path)
	if pe != nil {
		for _, pr := range pe.Problems {
			e.errorf("release runbook: %s: %s", path, pr)
		}
		return code
	}
	if p == nil {
		return code
	}
	if err := p.Runbook(e.stdout, release.RunbookOptions{Dialect: d}); err != nil {
		e.errorf("release runbook: %s", strings.TrimPrefix(err.Error(), "release: runbook: "))
		return exitCantRun
	}
	return exitOK
}
