package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func migrateCreateCommand() command {
	return command{
		name:    "create",
		summary: "create the next migration file, with Up and Down sections",
		usage: "rollsafe migrate create [--timestamp] NAME [DIR]\n\n" +
			"Creates DIR/VERSION_NAME.sql (DIR: the current directory by default) with empty\n" +
			"-- +goose Up and -- +goose Down sections. VERSION is the next number after the\n" +
			"highest in DIR, zero-padded as goose writes it (00001, 00002, ...), or with\n" +
			"--timestamp the current UTC time (20060102150405). NAME is letters, digits and\n" +
			"underscores (add_users_email). An existing file or version is never overwritten.\n\n" +
			"Exit codes: 0 created; 2 could not (a bad NAME, no such directory, the file or\n" +
			"version exists).",
		flags: func(fs *flag.FlagSet) func(*env, []string) int {
			stamp := fs.Bool("timestamp", false, "number the file with the current UTC time instead of the next sequential version")
			return func(e *env, args []string) int {
				return runMigrateCreate(e, args, *stamp, time.Now)
			}
		},
	}
}

// migrationName is what NAME may be: goose reads the version up to the first
// '_', and the rest is for people.
var migrationName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]{0,99}$`)

// migrationFile matches goose's migration files: VERSION_anything.sql or .go.
var migrationFile = regexp.MustCompile(`^(\d+)_.*\.(sql|go)$`)

const createTemplate = `-- %s
--
-- If the down cannot give back what the up removes, say so with the line
--   -- rollsafe:irreversible reason="why"

-- +goose Up


-- +goose Down

`

func runMigrateCreate(e *env, args []string, stamp bool, now func() time.Time) int {
	const cmd = "migrate create"
	if len(args) < 1 || len(args) > 2 {
		e.errorf("%s: want NAME and at most one directory, got %d arguments", cmd, len(args))
		fmt.Fprintln(e.stderr, "usage: rollsafe migrate create [--timestamp] NAME [DIR]")
		return exitCantRun
	}
	name, dir := args[0], "."
	if len(args) == 2 {
		dir = args[1]
	}
	if !migrationName.MatchString(name) {
		e.errorf("%s: NAME %q: use letters, digits and underscores, up to 100 (add_users_email)", cmd, name)
		return exitCantRun
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			e.errorf("%s: no migration directory %s", cmd, dir)
		} else {
			e.errorf("%s: %v", cmd, err)
		}
		return exitCantRun
	}
	versions := map[int64]string{}
	var highest int64
	for _, en := range entries {
		m := migrationFile.FindStringSubmatch(en.Name())
		if m == nil || en.IsDir() || strings.HasSuffix(en.Name(), "_test.go") {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		versions[v] = en.Name()
		highest = max(highest, v)
	}
	var version string
	if stamp {
		version = now().UTC().Format("20060102150405")
	} else {
		version = fmt.Sprintf("%05d", highest+1)
	}
	v, _ := strconv.ParseInt(version, 10, 64) // digits only, by construction
	if other, ok := versions[v]; ok {
		e.errorf("%s: version %d exists already (%s)", cmd, v, other)
		return exitCantRun
	}
	file := filepath.Join(dir, version+"_"+name+".sql")
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			e.errorf("%s: %s exists already", cmd, file)
		} else {
			e.errorf("%s: %v", cmd, err)
		}
		return exitCantRun
	}
	_, werr := fmt.Fprintf(f, createTemplate, name)
	if err := errors.Join(werr, f.Close()); err != nil {
		e.errorf("%s: writing %s: %v", cmd, file, err)
		return exitCantRun
	}
	fmt.Fprintf(e.stdout, "created %s\n", file)
	return exitOK
}
