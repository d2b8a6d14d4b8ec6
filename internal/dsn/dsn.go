// Package dsn removes secrets from database connection strings, and from the
// messages that drivers make of them, before they reach an error message or
// a log line.
package dsn

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// hidden replaces every secret.
const hidden = "xxxxx"

// Redact returns s with every secret replaced by "xxxxx". It understands
//
//   - URL DSNs (postgres://user:pass@host/db?sslpassword=p): the password of
//     the user info, and the query parameters password and sslpassword (and
//     sslkey when sslinline is set, for then it holds the key itself);
//   - PostgreSQL keyword/value strings (host=h password=p sslpassword=p),
//     with values quoted ('p a s s') or bare with backslash escapes (p\ a);
//   - go-sql-driver/mysql DSNs (user:pass@tcp(host)/db).
//
// A password may hold characters that its DSN should have escaped: a raw '@'
// in the user info of a URL, a '/' or a '#'. Redact takes the user info to
// end at the last '@', as no reading of the DSN can end it later, and so
// hides the password however a driver splits it (it may hide the host too).
// A string of no known form is returned with everything between the first
// ':' and the last '@' replaced, which errs on the side of hiding too much.
// Redact does not touch a password that a driver's message quotes apart
// from its DSN: [Scrub] does.
func Redact(s string) string {
	if s == "" {
		return s
	}
	if isMySQL(s) {
		return redactUserInfo(s)
	}
	if scheme.MatchString(s) {
		return redactURL(s)
	}
	if kw := keysOf(s).keyword; kw.MatchString(s) {
		return kw.ReplaceAllString(s, "${1}"+hidden)
	}
	return redactUserInfo(s)
}

// scheme matches the start of a URL DSN. A keyword/value string cannot match
// it: '=' and spaces are not allowed in a scheme.
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// mysqlNet matches what follows the user info of a go-sql-driver/mysql DSN:
// a network with its address in parentheses, "tcp(host:3306)".
var mysqlNet = regexp.MustCompile(`^[a-z0-9]*\(`)

// isMySQL reports whether s has the form user:pass@net(addr)/db. A MySQL
// password may start with "//", which makes the DSN look like a URL.
func isMySQL(s string) bool {
	at := strings.LastIndex(s, "@")
	return at > 0 && strings.Contains(s[:at], ":") && mysqlNet.MatchString(s[at+1:])
}

// redactUserInfo hides what lies between the first ':' and the last '@'.
func redactUserInfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at <= 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(s[:at], ":")
	if !hasPassword {
		return s
	}
	return user + ":" + hidden + s[at:]
}

// redactURL hides the secret query parameters, then the user info's
// password. The query goes first so that a raw '@' in a query password is
// gone before the last '@' is looked for.
func redactURL(s string) string {
	loc := scheme.FindStringIndex(s)
	head, rest := s[:loc[1]], s[loc[1]:]
	rest = keysOf(s).query.ReplaceAllString(rest, "${1}"+hidden)
	return head + redactUserInfo(rest)
}

// inline matches sslinline=true, under which sslkey holds the client key
// itself instead of a file name: a secret like the password and the key's
// passphrase (sslpassword).
var inline = regexp.MustCompile(`(?i)(?:^|[\t\n\v\f\r ?&])sslinline[\t\n\v\f\r ]*=[\t\n\v\f\r ]*'?(?:true|t|1|yes|on)`)

// secretKeys finds the secrets of one DSN.
type secretKeys struct {
	// keyword matches KEY=VALUE in a keyword/value string, the value quoted
	// ('p a s s', with \' and \\ escapes) or bare (with backslash escapes,
	// as libpq reads them: p\ a is "p a"). Whitespace is what libpq's
	// isspace takes for it, \v included (RE2's \s leaves it out).
	keyword *regexp.Regexp
	// query matches ?KEY=VALUE or &KEY=VALUE in a URL query; the value runs
	// to the next '&', fragment included.
	query *regexp.Regexp
}

func newSecretKeys(keys string) *secretKeys {
	const space, notSpace = `[\t\n\v\f\r ]`, `[^\t\n\v\f\r \\]`
	return &secretKeys{
		keyword: regexp.MustCompile(`(?is)((?:^|` + space + `)(?:` + keys + `)` + space + `*=` + space + `*)` +
			`('(?:[^'\\]|\\.)*'|(?:` + notSpace + `|\\.)*)`),
		query: regexp.MustCompile(`(?i)([?&](?:` + keys + `)=)[^&]*`),
	}
}

var (
	passwords          = newSecretKeys("password|sslpassword")
	passwordsInlineKey = newSecretKeys("password|sslpassword|sslkey")
)

// keysOf returns what to look for in s.
func keysOf(s string) *secretKeys {
	if inline.MatchString(s) {
		return passwordsInlineKey
	}
	return passwords
}

// minPiece is the length below which a piece of a password is too common to
// be told apart from the rest of a message ("ss", "tcp"); a whole password
// is removed from 3 bytes on (shorter ones would match too much of any
// message to be told apart).
const (
	minPiece = 4
	minWhole = 3
)

// Scrub returns msg (a driver's error text, a log line) with the secrets of
// the DSN s removed: s itself becomes [Redact] of s, and each password,
// quoted, escaped or not, becomes "xxxxx" wherever it appears (from 3 bytes
// on). So do its pieces, split at the characters where a driver may cut a misread DSN ('@',
// ':', '/', '?', '#', '&', '=', quotes, spaces and backslashes), when they
// are at least 4 bytes long: a driver that reads "p@ssw0rd!@host" as the
// password "p" at host "ssw0rd!@host" prints the piece "ssw0rd!". Shorter
// pieces are left, being too common to tell apart from the rest of msg.
func Scrub(msg, s string) string {
	if msg == "" || s == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, s, Redact(s))
	var words []string
	for _, secret := range secrets(s) {
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			if len(form) >= minWhole {
				words = append(words, form)
			}
			for _, piece := range strings.FieldsFunc(form, cut) {
				if len(piece) >= minPiece {
					words = append(words, piece)
				}
			}
		}
	}
	if len(words) == 0 {
		return msg
	}
	// Longest first: at each position of msg the Replacer tries the words in
	// order, so that a piece never breaks up a longer word that contains it.
	slices.SortFunc(words, func(a, b string) int {
		if n := len(b) - len(a); n != 0 {
			return n
		}
		return strings.Compare(a, b)
	})
	words = slices.Compact(words)
	pairs := make([]string, 0, 2*len(words))
	for _, w := range words {
		pairs = append(pairs, w, hidden)
	}
	msg = strings.NewReplacer(pairs...).Replace(msg)
	return msg
}

// cut reports whether a driver may split a misread DSN at r.
func cut(r rune) bool {
	switch r {
	case '@', ':', '/', '?', '#', '&', '=', '\'', '"', '\\', ' ', '\t', '\n', '\v', '\f', '\r', '(', ')', ',', ';':
		return true
	}
	return false
}

// secrets returns every reading of the secrets in s: as written and
// decoded, by the rules of its form as [Redact] tells it. Where a driver
// reads the DSN otherwise, what it takes for the password is a piece of one
// of these.
func secrets(s string) []string {
	var out []string
	add := func(v string) {
		out = append(out, v)
		if d, err := url.PathUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
	}
	switch {
	case isMySQL(s):
		add(userInfoPassword(s))
	case scheme.MatchString(s):
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p) // net/url's reading, which ends the user info sooner
			}
		}
		rest := s[scheme.FindStringIndex(s)[1]:]
		q := keysOf(s).query
		for _, m := range q.FindAllStringSubmatchIndex(rest, -1) {
			add(rest[m[3]:m[1]])
		}
		add(userInfoPassword(q.ReplaceAllString(rest, "")))
	case keysOf(s).keyword.MatchString(s):
		for _, kv := range keysOf(s).keyword.FindAllStringSubmatch(s, -1) {
			add(kv[2])
			add(unquote(kv[2]))
		}
	default:
		add(userInfoPassword(s))
	}
	return out
}

// userInfoPassword returns what lies between the first ':' and the last
// '@', as [redactUserInfo] hides it.
func userInfoPassword(s string) string {
	at := strings.LastIndex(s, "@")
	if at <= 0 {
		return ""
	}
	_, p, _ := strings.Cut(s[:at], ":")
	return p
}

// unquote reads a keyword/value value as libpq does: without its quotes,
// with each backslash escape replaced by the character it escapes.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// WithSearchPath returns the PostgreSQL DSN base (URL or keyword/value form)
// with its connections' search_path set to schema.
func WithSearchPath(base, schema string) string {
	if strings.Contains(base, "://") {
		if u, err := url.Parse(base); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return base + " search_path=" + schema
}
