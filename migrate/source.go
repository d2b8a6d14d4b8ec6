package migrate

import (
	"strings"

	"github.com/rollsafe/rollsafe/internal/annotation"
)

// SQLFile is a goose SQL migration file as rollsafe reads it: its sections,
// its transaction mode and its rollsafe annotations. ParseSQL makes one; it is
// the one reader of goose files that the Runner and the check
// (migrate/check) share.
type SQLFile struct {
	// Up and Down are the text of the "-- +goose Up" and "-- +goose Down"
	// sections, one line after another, each ended by "\n", with goose's
	// directive lines removed and everything else (comments, blank lines)
	// kept. A section the file lacks is "". Text before the first Up or Down
	// belongs to neither.
	Up, Down string
	// NoTx reports "-- +goose NO TRANSACTION": goose runs both directions of
	// the file outside a transaction.
	NoTx bool
	// Irreversible is the file's `-- rollsafe:irreversible reason="..."`
	// annotation and Contract its `-- rollsafe:contract reason="..."`; nil
	// when the file carries none. The first of each kind counts.
	Irreversible, Contract *Annotation
}

// Annotation is one rollsafe annotation of a SQL migration file.
type Annotation struct {
	// Reason is the annotation's reason="..." argument; never blank.
	Reason string
	// Line is the annotation's line in the file, counted from 1.
	Line int
}

// ParseSQL reads a goose SQL migration file.
//
// Directives are found as goose finds them: a line that begins with "--"
// and holds "+goose" is one, and what remains once the dashes and "+goose"
// are removed names it, in any case ("Up", "Down", "StatementBegin",
// "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF"). Every such
// line is left out of the sections. A directive that goose refuses (an
// indented one, an unknown name) has no effect here; goose reports it when
// it runs the file. ParseSQL does not split statements and does not
// substitute environment variables.
//
// The error, when not nil, is about annotations only: it names every
// malformed rollsafe annotation, one line each ("bad rollsafe annotation:
// line 3: ..."), and wraps [ErrAnnotation], as New's errors do. The caller
// adds the file's name (New's errors read "migrate: 00003_x.sql: bad
// rollsafe annotation: ..."). The SQLFile is filled either way, with the
// well-formed annotations.
func ParseSQL(body []byte) (SQLFile, error) {
	var f SQLFile
	var up, down strings.Builder
	var cur *strings.Builder
	for rest := string(body); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSuffix(line, "\r")
		if cmd, ok := gooseDirective(line); ok {
			switch {
			case strings.EqualFold(cmd, "Up"):
				cur = &up
			case strings.EqualFold(cmd, "Down"):
				cur = &down
			case strings.EqualFold(cmd, "NO TRANSACTION"):
				f.NoTx = true
			}
			continue
		}
		if cur != nil {
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	f.Up, f.Down = up.String(), down.String()
	set, err := annotation.Parse(body)
	if a, ok := set.Get(annotation.Irreversible); ok {
		f.Irreversible = &Annotation{Reason: a.Reason, Line: a.Line}
	}
	if a, ok := set.Get(annotation.Contract); ok {
		f.Contract = &Annotation{Reason: a.Reason, Line: a.Line}
	}
	return f, err
}

// gooseDirective reports whether line is a goose directive line, and the
// directive's name when goose would accept the line ("" when it would
// refuse it: indented, or naming "+goose" twice).
func gooseDirective(line string) (string, bool) {
	if !strings.HasPrefix(strings.TrimSpace(line), "--") || !strings.Contains(line, "+goose") {
		return "", false
	}
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return "", true
	}
	cmd := strings.Replace(strings.ReplaceAll(line, "--", ""), "+goose", "", 1)
	if strings.Contains(cmd, "+goose") {
		return "", true
	}
	return strings.TrimSpace(cmd), true
}
