// Package dsn removes secrets from database connection strings before they
// reach an error message or a log line.
package dsn

import (
	"net/url"
	"regexp"
	"strings"
)

// Redact returns s with any password replaced by "xxxxx". It understands URL
// DSNs (postgres://user:pass@host/db), PostgreSQL keyword/value strings
// (host=h password=p), and go-sql-driver/mysql DSNs (user:pass@tcp(host)/db).
// A string it cannot parse is returned with everything between the first ':'
// and the last '@' replaced, which errs on the side of hiding too much.
func Redact(s string) string {
	if s == "" {
		return s
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		// A '@' that the URL does not read as the end of its user info may
		// end a MySQL password that starts with "//": leave it to the
		// fallback below.
		if u, err := url.Parse(s); err == nil && (u.User != nil || !strings.Contains(rest, "@")) {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
	}
	if keywordPassword.MatchString(s) {
		return keywordPassword.ReplaceAllString(s, "${1}xxxxx")
	}
	if at := strings.LastIndex(s, "@"); at > 0 {
		userinfo := s[:at]
		if colon := strings.Index(userinfo, ":"); colon >= 0 {
			return userinfo[:colon+1] + "xxxxx" + s[at:]
		}
	}
	return s
}

// keywordPassword matches password=... in a keyword/value connection string,
// quoted ('p a s s') or bare.
var keywordPassword = regexp.MustCompile(`((?:^|\s)password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

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
