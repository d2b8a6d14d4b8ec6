package check

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// SumFile is the name of the sum file beside the migrations.
const SumFile = "rollsafe.sum"

// Finding codes of the sum file. Each is an error: a shipped migration must
// never change, because databases that already ran it will not run it again.
const (
	// CodeSumChanged: a migration listed in the sum file was edited.
	CodeSumChanged Code = "sum_changed"
	// CodeSumMissing: a migration listed in the sum file is gone (deleted or
	// renamed).
	CodeSumMissing Code = "sum_missing"
	// CodeSumTampered: the sum file itself was edited by hand (its last
	// line no longer sums its entries) or cannot be read as a sum file.
	CodeSumTampered Code = "sum_tampered"
)

// ErrNoMigrations is wrapped by the error of Run, Sums and WriteSums when the
// directory holds no migration file.
var ErrNoMigrations = errors.New("check: no migrations")

// sumHeader is the comment that opens every sum file. Comment lines are not
// summed, so editing one is harmless.
const sumHeader = "# SHA-256 of every shipped migration; written by \"rollsafe migrate hash\", verified by \"rollsafe migrate check\". Do not edit.\n"

// sumEntry is one line of a sum file.
type sumEntry struct {
	version int64
	name    string
	hash    string // "sha256:<hex>"
}

func (e sumEntry) line() string { return fmt.Sprintf("%d %s %s", e.version, e.name, e.hash) }

// Sums returns the sum file for the migrations in fsys: one line per migration
// file ("VERSION FILE sha256:HEX", in version order) and a last line "sum
// sha256:HEX" over those lines. Migration files are goose's: a name
// "NUMBER_anything.sql" or ".go" at the root of fsys (Go test files excluded);
// other files are ignored, as goose ignores them. Line endings are hashed as
// "\n", so a checkout that turns them into "\r\n" changes no sum.
func Sums(fsys fs.FS) ([]byte, error) {
	entries, err := hashMigrations(fsys)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if len(entries) == 0 {
		return nil, ErrNoMigrations
	}
	var b bytes.Buffer
	b.WriteString(sumHeader)
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = e.line()
		b.WriteString(lines[i] + "\n")
	}
	b.WriteString("sum " + totalSum(lines) + "\n")
	return b.Bytes(), nil
}

// WriteSums writes the sum file of the migrations in dir to dir/rollsafe.sum,
// replacing any earlier one, and returns how many migrations it lists. Run it
// when a release ships: from then on VerifySums reports every change to those
// migrations. It fails with ErrNoMigrations when dir holds no migration.
func WriteSums(dir string) (int, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("check: migrations directory: %w", err)
	}
	if !st.IsDir() {
		return 0, fmt.Errorf("check: migrations directory %s: not a directory", dir)
	}
	sums, err := Sums(os.DirFS(dir))
	if errors.Is(err, ErrNoMigrations) {
		return 0, fmt.Errorf("%w in %s", err, dir)
	}
	if err != nil {
		return 0, err
	}
	target := filepath.Join(dir, SumFile)
	// Write aside and rename, so an interrupted run never leaves half a file.
	tmp, err := os.CreateTemp(dir, SumFile+".*")
	if err != nil {
		return 0, fmt.Errorf("check: write %s: %w", target, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(sums); err != nil {
		_ = tmp.Close()
		return 0, fmt.Errorf("check: write %s: %w", target, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("check: write %s: %w", target, err)
	}
	// CreateTemp makes the file private; the sum file is shared like the
	// migrations beside it.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("check: write %s: %w", target, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return 0, fmt.Errorf("check: write %s: %w", target, err)
	}
	return bytes.Count(sums, []byte("\n")) - 2, nil // less header and sum line
}

// VerifySums compares the migrations in fsys with the sum file at its root
// and returns a finding (severity error) for every listed migration that was
// edited (sum_changed) or removed (sum_missing), and one when the sum file
// was edited by hand or is not a sum file (sum_tampered). Migrations the sum
// file does not list are the upcoming release's and are not reported. Without
// a sum file it returns no finding. The error is for a directory it cannot
// read.
func VerifySums(fsys fs.FS) ([]Finding, error) {
	raw, err := fs.ReadFile(fsys, SumFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SumFile, err)
	}
	listed, problem := parseSums(raw)
	var findings []Finding
	if problem != "" {
		findings = append(findings, Finding{
			Code: CodeSumTampered, Severity: SeverityError, Source: SumFile,
			Message: fmt.Sprintf("%s was edited by hand: %s; restore it from version control, or rewrite it with \"rollsafe migrate hash\" if every change is intended", SumFile, problem),
		})
	}
	current, err := hashMigrations(fsys)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]sumEntry, len(current))
	for _, e := range current {
		byName[e.name] = e
	}
	for _, want := range listed {
		got, ok := byName[want.name]
		switch {
		case !ok:
			findings = append(findings, Finding{
				Code: CodeSumMissing, Severity: SeverityError, Version: want.version, Source: want.name,
				Message: fmt.Sprintf("%s was shipped (listed in %s) but is gone; databases that ran it keep its changes, so restore the file and undo it with a new migration", want.name, SumFile),
			})
		case got.hash != want.hash:
			findings = append(findings, Finding{
				Code: CodeSumChanged, Severity: SeverityError, Version: want.version, Source: want.name,
				Message: fmt.Sprintf("%s was shipped (listed in %s) but has been edited; databases that ran it will not run it again, so restore it and put the change in a new migration", want.name, SumFile),
			})
		}
	}
	return findings, nil
}

// parseSums reads a sum file. It returns the entries it could read and, when
// the file is not exactly what Sums writes, what is wrong with it.
func parseSums(raw []byte) ([]sumEntry, string) {
	var entries []sumEntry
	var lines []string
	var problems []string
	total := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case total != "":
			problems = append(problems, fmt.Sprintf("line %d follows the sum line", n))
			continue
		case strings.HasPrefix(line, "sum "):
			total = strings.TrimPrefix(line, "sum ")
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[2], "sha256:") {
			problems = append(problems, fmt.Sprintf("line %d is not \"VERSION FILE sha256:HEX\"", n))
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: version %q is not a number", n, f[0]))
			continue
		}
		entries = append(entries, sumEntry{version: v, name: f[1], hash: f[2]})
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	switch {
	case total == "":
		problems = append(problems, "the last line \"sum sha256:HEX\" is missing")
	case total != totalSum(lines):
		problems = append(problems, "its entries no longer match its last line")
	}
	return entries, strings.Join(problems, "; ")
}

func totalSum(lines []string) string {
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// hashMigrations hashes every goose migration file at the root of fsys, in
// version order.
func hashMigrations(fsys fs.FS) ([]sumEntry, error) {
	des, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations directory: %w", err)
	}
	var entries []sumEntry
	for _, de := range des {
		name := de.Name()
		v, ok := migrationVersion(name)
		if !ok || de.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		sum := sha256.Sum256(body)
		entries = append(entries, sumEntry{version: v, name: name, hash: "sha256:" + hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(entries, func(a, b sumEntry) int {
		if a.version != b.version {
			return cmp.Compare(a.version, b.version)
		}
		return strings.Compare(a.name, b.name)
	})
	return entries, nil
}

// migrationVersion returns the version of a goose migration file name
// ("00042_add_orders.sql" is 42) and whether name is one.
func migrationVersion(name string) (int64, bool) {
	ext := path.Ext(name)
	if ext != ".sql" && ext != ".go" || strings.HasSuffix(name, "_test.go") {
		return 0, false
	}
	num, _, ok := strings.Cut(name, "_")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// dirFindings is the part of the check that looks at the directory as a
// whole: the sum file. A directory it cannot read gives a sum_tampered
// finding rather than stopping the check. It runs even when the analysis is
// off (WithCompat(false)): a sum file is an explicit request, and removing
// it is the way to stop the check.
func dirFindings(fsys fs.FS) []Finding {
	findings, err := VerifySums(fsys)
	if err != nil {
		return []Finding{{Code: CodeSumTampered, Severity: SeverityError, Source: SumFile,
			Message: fmt.Sprintf("%s: cannot be verified: %v", SumFile, err)}}
	}
	return findings
}
