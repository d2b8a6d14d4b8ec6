package dsn

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Scrub returns msg with the connection string s and every secret it holds
// removed, wherever a driver may have quoted them: s itself becomes
// Redact(s), and each password (see Passwords), in its plain, URL-escaped
// and query-escaped forms, becomes "xxxxx". So do the pieces of a password
// that holds '@', ':' or '/', which a driver that split the string at those
// characters may print apart (a piece shorter than 3 characters is left, as
// it would match too much of any message).
func Scrub(msg, s string) string {
	if s == "" {
		return msg
	}
	if red := Redact(s); red != s {
		msg = strings.ReplaceAll(msg, s, red)
	}
	var secrets []string
	for _, pw := range Passwords(s) {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
		for _, piece := range strings.FieldsFunc(pw, func(r rune) bool { return strings.ContainsRune("@:/", r) }) {
			if len(piece) >= 3 {
				secrets = append(secrets, piece)
			}
		}
	}
	// Longest first, so that a piece never leaves the rest of its whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "xxxxx")
		}
	}
	return msg
}

// secretKeys are the parameters of a connection string that carry secrets.
var secretKeys = []string{"password", "sslpassword"}

// keywordSecret matches password=... or sslpassword=... in a PostgreSQL
// keyword/value string: single-quoted (with \' and \\ escapes) or bare (with
// backslash-escaped spaces).
var keywordSecret = regexp.MustCompile(`(?:^|\s)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s\\]|\\.)*)`)

// Passwords returns the secrets written in the connection string s — the
// password of a URL's user info (also when it holds a raw '@' that the URL
// parser reads as the host), password and sslpassword parameters of a URL or
// a keyword/value string, and the password of a go-sql-driver/mysql DSN —
// unescaped as the driver reads them. It returns nil when s holds none.
func Passwords(s string) []string {
	var out []string
	add := func(pw string) {
		if pw != "" && !slices.Contains(out, pw) {
			out = append(out, pw)
		}
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok && !strings.ContainsAny(scheme, " @/") {
		// The user info ends at the last '@' before the path: a raw '@' in
		// a password belongs to the password.
		authority, query := rest, ""
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
			query = rest[i:]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
				if u, err := url.PathUnescape(pw); err == nil {
					add(u)
				}
				add(pw)
			}
		}
		if _, q, ok := strings.Cut(query, "?"); ok {
			q, _, _ = strings.Cut(q, "#")
			if vals, err := url.ParseQuery(q); err == nil {
				for _, k := range secretKeys {
					add(vals.Get(k))
				}
			}
		}
		return out
	}
	for _, m := range keywordSecret.FindAllStringSubmatch(s, -1) {
		v := m[1]
		if strings.HasPrefix(v, "'") {
			v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		}
		add(unescapeKeyword(v))
	}
	if len(out) > 0 {
		return out
	}
	add(mysqlPassword(s))
	return out
}

// mysqlPassword returns the password of a go-sql-driver/mysql DSN
// ([user[:password]@][net[(addr)]]/dbname[?params]), read as that driver
// reads it: the user info ends at the last '@' before the last '/', and the
// password starts after its first ':'.
func mysqlPassword(s string) string {
	slash := strings.LastIndex(s, "/")
	if slash < 0 {
		return ""
	}
	at := strings.LastIndex(s[:slash], "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(s[:at], ":")
	return pw
}

// unescapeKeyword undoes the backslash escapes of a keyword/value value.
func unescapeKeyword(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
