package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/rollsafe/rollsafe/migrate"
)

func migrateRepairCommand() command {
	return command{
		name:    "repair",
		summary: "mark a failed or interrupted migration as applied or pending, after fixing the schema by hand",
		usage: "rollsafe migrate repair --version VERSION --as applied|pending --dialect sqlite|postgres|mysql --dsn DSN DIR\n\n" +
			"A migration that failed or was interrupted where its statements commit by\n" +
			"themselves (MySQL/MariaDB DDL, NO TRANSACTION) may have left part of itself in the\n" +
			"database, so up and down refuse to run it again: \"rollsafe migrate status\" shows\n" +
			"the statements that had started. Make the schema match one side by hand, then\n" +
			"say which:\n\n" +
			"  --as applied   every change of the migration is there (you completed it): the\n" +
			"                 version is recorded as applied; up goes on with the next one.\n" +
			"  --as pending   none of it is there (you undid it): up runs the migration again.\n\n" +
			"For an interrupted down, applied means the down left nothing (the version stays\n" +
			"applied), pending that it is fully rolled back. repair changes only goose's version\n" +
			"table and rollsafe_migrations, never the schema, under the migration lock.\n\n" +
			"Exit codes: 0 repaired; 2 could not (bad usage, no such version, a migration that\n" +
			"is neither failed nor interrupted, a database that does not answer).",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			rf := newRunnerFlags(fs)
			version := &versionFlag{min: 1}
			fs.Var(version, "version", "the `VERSION` of the failed or interrupted migration")
			as := fs.String("as", "", "what the schema now holds: `applied` or pending")
			return func(e *env, args []string) int {
				return rf.repair(e, args, version, *as)
			}
		},
	}
}

func (rf *runnerFlags) repair(e *env, args []string, version *versionFlag, as string) int {
	const cmd = "migrate repair"
	if !version.set {
		e.errorf("%s: --version is required", cmd)
		return exitCantRun
	}
	var state migrate.State
	switch as {
	case "applied":
		state = migrate.Applied
	case "pending":
		state = migrate.Pending
	default:
		e.errorf("%s: --as %q: want applied (you completed the migration by hand) or pending (you undid it)", cmd, as)
		return exitCantRun
	}
	db, r, code := rf.open(e, "repair", args)
	if code != exitOK {
		return code
	}
	defer db.Close()
	if err := r.Repair(e.ctx, version.v, state); err != nil {
		e.errorf("%s", rf.scrub(err.Error()))
		return exitCantRun
	}
	m := fmt.Sprintf("version %d", version.v)
	for _, x := range r.Migrations() {
		if x.Version == version.v {
			m = x.Name()
		}
	}
	if rf.format.String() == "json" {
		out := struct {
			Version int64  `json:"version"`
			Source  string `json:"source"`
			As      string `json:"as"`
		}{version.v, m, as}
		if err := json.NewEncoder(e.stdout).Encode(out); err != nil {
			e.errorf("%s: writing JSON: %v", cmd, err)
			return exitCantRun
		}
		return exitOK
	}
	fmt.Fprintf(e.stdout, "repaired %s: marked %s\n", m, as)
	return exitOK
}
