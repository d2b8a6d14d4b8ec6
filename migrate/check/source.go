package check

import (
	"bufio"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/rollsafe/rollsafe/internal/annotation"
)

// migration is one migration as the check sees it.
type migration struct {
	version       int64
	source        string // base name, or a placeholder for a Go migration without file
	goMig         bool
	upSQL         string
	downSQL       string
	noTx          bool
	downMissing   bool
	annotations   annotation.Set
	annotationErr error
}

// collect reads the migrations that goose lists, in version order.
func collect(fsys fs.FS, sources []*goose.Source, goMigs []*goose.Migration) ([]migration, error) {
	byVersion := map[int64]*goose.Migration{}
	for _, m := range goMigs {
		byVersion[m.Version] = m
	}
	out := make([]migration, 0, len(sources))
	for _, s := range sources {
		m := migration{version: s.Version, source: path.Base(s.Path)}
		switch s.Type {
		case goose.TypeSQL:
			src, err := fs.ReadFile(fsys, s.Path)
			if err != nil {
				return nil, fmt.Errorf("check: read migration %s: %w", s.Path, err)
			}
			m.upSQL, m.downSQL, m.noTx = gooseSections(string(src))
			m.downMissing = isBlankSQL(m.downSQL)
			m.annotations, m.annotationErr = annotation.Parse(src)
		case goose.TypeGo:
			m.goMig = true
			g := byVersion[s.Version]
			if m.source == "." || m.source == "" {
				if g != nil && g.Source != "" {
					m.source = path.Base(g.Source)
				} else {
					m.source = fmt.Sprintf("%d (Go)", s.Version)
				}
			}
			m.downMissing = g == nil || (g.DownFnContext == nil && g.DownFnNoTxContext == nil && g.DownFn == nil && g.DownFnNoTx == nil)
		}
		out = append(out, m)
	}
	return out, nil
}

// gooseSections returns the Up and Down sections of a goose SQL file with goose's
// directives removed, and whether the file runs outside a transaction.
func gooseSections(src string) (up, down string, noTx bool) {
	var upB, downB strings.Builder
	var cur *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := gooseDirective(line); ok {
			switch strings.ToLower(d) {
			case "up":
				cur = &upB
			case "down":
				cur = &downB
			case "no transaction":
				noTx = true
			}
			continue
		}
		if cur != nil {
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	return upB.String(), downB.String(), noTx
}

func gooseDirective(line string) (string, bool) {
	t := strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(t, "--")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	d, ok := strings.CutPrefix(rest, "+goose")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(d), true
}

// isBlankSQL reports whether sql holds nothing but white space, comments
// and semicolons.
func isBlankSQL(sql string) bool {
	for len(sql) > 0 {
		switch {
		case strings.HasPrefix(sql, "--"):
			i := strings.IndexByte(sql, '\n')
			if i < 0 {
				return true
			}
			sql = sql[i+1:]
		case strings.HasPrefix(sql, "/*"):
			i := strings.Index(sql[2:], "*/")
			if i < 0 {
				return true
			}
			sql = sql[i+4:]
		case strings.ContainsRune(" \t\r\n;", rune(sql[0])):
			sql = sql[1:]
		default:
			return false
		}
	}
	return true
}

// goFiles lists the Go migration files of fsys (files named
// NUMBER_name.go, not tests), which the CLI cannot run.
func goFiles(fsys fs.FS) ([]string, error) {
	files, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if _, err := goose.NumericComponent(f); err == nil {
			out = append(out, f)
		}
	}
	return out, nil
}
