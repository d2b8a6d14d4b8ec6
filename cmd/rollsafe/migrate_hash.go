package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/rollsafe/rollsafe/migrate/check"
)

func migrateHashCommand() command {
	return command{
		name:    "hash",
		summary: "write the sum file that freezes the shipped migrations (rollsafe.sum)",
		usage: `rollsafe migrate hash DIR

Writes DIR/rollsafe.sum: one line per migration file ("VERSION FILE
sha256:HEX") and a last line summing those lines. Run it when a release
ships and commit the file. From then on "rollsafe migrate check DIR" fails
(sum_changed, sum_missing, sum_tampered) when a listed migration is edited
or removed or the sum file is edited by hand; migrations added later are
the next release's and are not reported. Running hash again accepts the
current files. Exit status: 0 written, 2 the directory holds no migration
or cannot be written.`,
		flags: func(*flag.FlagSet) func(e *env, args []string) int { return runMigrateHash },
	}
}

func runMigrateHash(e *env, args []string) int {
	const cmd = "migrate hash"
	if len(args) != 1 {
		e.errorf("%s: want one migrations directory, got %s", cmd, plural(len(args), "argument", "arguments"))
		fmt.Fprintln(e.stderr, "usage: rollsafe migrate hash DIR")
		return exitCantRun
	}
	n, err := check.WriteSums(args[0])
	if err != nil {
		if errors.Is(err, check.ErrNoMigrations) {
			e.errorf("%s: %s holds no migration files (NUMBER_name.sql or .go)", cmd, args[0])
		} else {
			e.errorf("%s: %v", cmd, err)
		}
		return exitCantRun
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s)\n", filepath.Join(args[0], check.SumFile), plural(n, "migration", "migrations"))
	return exitOK
}
