package check

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/rollsafe/rollsafe/migrate"
)

// migration is one migration as the check sees it.
type migration struct {
	version int64
	source  string // base name, or a placeholder for a Go migration without file
	goMig   bool
	// upSQL, downSQL, noTx, irreversible and contract are what
	// migrate.ParseSQL read from a SQL file; zero for a Go migration.
	upSQL, downSQL         string
	noTx                   bool
	irreversible, contract *migrate.Annotation
	downMissing            bool
	annotationErr          error
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
			f, err := migrate.ParseSQL(src)
			m.upSQL, m.downSQL, m.noTx = f.Up, f.Down, f.NoTx
			m.irreversible, m.contract, m.annotationErr = f.Irreversible, f.Contract, err
			m.downMissing = isBlankSQL(m.downSQL)
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
