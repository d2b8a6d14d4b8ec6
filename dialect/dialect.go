// Package dialect names the database families rollsafe speaks — SQLite,
// PostgreSQL and MySQL (with MariaDB) — and the few ways in which their SQL
// differs for rollsafe's own queries: placeholders and identifier quoting.
//
// Every rollsafe package that talks SQL takes a [Dialect] next to the
// caller's *sql.DB. A Dialect is parsed once, where the user names it (a
// command-line flag, a configuration file), and is then a closed set of three
// values: the zero value is not a dialect, and constructors refuse it.
//
// The package has no dependencies beyond the standard library and imports no
// SQL driver.
package dialect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Dialect is a database family. The zero value is no dialect: [Dialect.Validate]
// refuses it, and so does every rollsafe constructor that takes one.
type Dialect uint8

// The supported dialects.
const (
	SQLite   Dialect = iota + 1 // SQLite 3 (the embedded default)
	Postgres                    // PostgreSQL
	MySQL                       // MySQL and MariaDB
)

// All returns the supported dialects in a stable order.
func All() []Dialect { return []Dialect{SQLite, Postgres, MySQL} }

// ErrUnknown is returned (wrapped) by [Parse], [Dialect.UnmarshalText] and
// [Dialect.Validate] for a name or value that is not a supported dialect.
var ErrUnknown = errors.New("unknown dialect")

// want is the list of names given in errors.
const want = "want sqlite, postgres or mysql"

// Parse returns the Dialect named s. The names are "sqlite", "postgres" and
// "mysql", in any case and with surrounding spaces ignored; the aliases
// "sqlite3", "postgresql", "pgx" and "mariadb" are accepted too.
func Parse(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	}
	return 0, fmt.Errorf("dialect: %w %q (%s)", ErrUnknown, truncate(s), want)
}

// String returns the dialect's canonical name ("sqlite", "postgres" or
// "mysql"), or "dialect(N)" for a value that is not a dialect.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// Validate returns nil for a supported dialect and an error wrapping
// [ErrUnknown] otherwise (the zero value included).
func (d Dialect) Validate() error {
	switch d {
	case SQLite, Postgres, MySQL:
		return nil
	case 0:
		return fmt.Errorf("dialect: %w: none given (%s)", ErrUnknown, want)
	}
	return fmt.Errorf("dialect: %w %s (%s)", ErrUnknown, d, want)
}

// Driver returns the database/sql driver name conventionally registered for
// the dialect: "sqlite" (modernc.org/sqlite), "pgx"
// (github.com/jackc/pgx/v5/stdlib) or "mysql" (github.com/go-sql-driver/mysql).
// The package imports none of them; the program that opens the pool does.
// It returns "" for a value that is not a dialect.
func (d Dialect) Driver() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "pgx"
	case MySQL:
		return "mysql"
	}
	return ""
}

// MarshalText returns the canonical name, so that a Dialect reads as a
// string in JSON and YAML. A value that is not a dialect is an error.
func (d Dialect) MarshalText() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses a name as [Parse] does.
func (d *Dialect) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Set parses a name as [Parse] does; with String it makes a *Dialect a
// [flag.Value].
func (d *Dialect) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Placeholder returns the n-th (1-based) bind parameter: "$n" on PostgreSQL,
// "?" on SQLite and MySQL.
func (d Dialect) Placeholder(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// QuoteIdent quotes an identifier: `name` on MySQL, "name" elsewhere. A quote
// character inside the name is doubled.
func (d Dialect) QuoteIdent(name string) string {
	q := `"`
	if d == MySQL {
		q = "`"
	}
	return q + strings.ReplaceAll(name, q, q+q) + q
}

// Rebind rewrites a query written with '?' placeholders for the dialect: on
// PostgreSQL each '?' becomes $1, $2, … in order; on SQLite and MySQL the
// query is returned unchanged. A '?' inside a quoted string ('…'), a quoted
// identifier ("…") or a comment (-- to the end of the line, or /* … */) is
// left alone, and "??" (written for PostgreSQL's '?' operator) becomes one
// '?'. It is meant for rollsafe's own queries: it does not know
// PostgreSQL's E'…' and dollar-quoted strings.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := closing(query, i+1, c)
			b.WriteString(query[i:j])
			i = j - 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			end := len(query)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(query[i:end])
			i = end - 1
		case c == '?' && i+1 < len(query) && query[i+1] == '?':
			b.WriteByte('?')
			i++
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// closing returns the index just past the quote q that closes a quoted run
// starting at from (a doubled quote inside it does not close it), or
// len(s) when it is never closed.
func closing(s string, from int, q byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// truncate bounds a name quoted in an error, cutting at a rune boundary.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	end := max
	for end > 0 && s[end]&0xC0 == 0x80 {
		end--
	}
	return s[:end] + "…"
}
