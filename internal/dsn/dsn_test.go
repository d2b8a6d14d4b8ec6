package dsn_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/internal/dsn"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:secret@127.0.0.1:5432/db?sslmode=disable", "postgres://u:xxxxx@127.0.0.1:5432/db?sslmode=disable"},
		{"postgres://u@127.0.0.1/db", "postgres://u@127.0.0.1/db"},
		{"postgres://u@h/db?password=secret", "postgres://u@h/db?password=xxxxx"},
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='se cret' dbname=d", "host=h password=xxxxx dbname=d"},
		{"root:secret@tcp(127.0.0.1:3306)/db?parseTime=true", "root:xxxxx@tcp(127.0.0.1:3306)/db?parseTime=true"},
		{"root@tcp(127.0.0.1:3306)/db", "root@tcp(127.0.0.1:3306)/db"},
		{"u:p@ss@tcp(h)/db", "u:xxxxx@tcp(h)/db"},
		{"root://secret#@tcp(127.0.0.1:3306)/db", "root:xxxxx@tcp(127.0.0.1:3306)/db"},
		{"file:/tmp/x.db?_pragma=busy_timeout(5000)", "file:/tmp/x.db?_pragma=busy_timeout(5000)"},

		// sslpassword, the passphrase of the client key, in both forms.
		{"postgres://u@h/db?sslmode=require&sslpassword=secret&sslkey=/k.pem", "postgres://u@h/db?sslmode=require&sslpassword=xxxxx&sslkey=/k.pem"},
		{"postgres://u:secret@h/db?SSLPassword=secret2", "postgres://u:xxxxx@h/db?SSLPassword=xxxxx"},
		{"host=h sslpassword=secret sslkey=/k.pem", "host=h sslpassword=xxxxx sslkey=/k.pem"},
		{"host=h sslpassword = 'se cret' password=secret2", "host=h sslpassword = xxxxx password=xxxxx"},
		// An inline client key is a secret; a key's file name is not.
		{"host=h sslinline=true sslkey='-----BEGIN PRIVATE KEY----- secret'", "host=h sslinline=true sslkey=xxxxx"},
		{"postgres://h/db?sslinline=true&sslkey=secret", "postgres://h/db?sslinline=true&sslkey=xxxxx"},
		// A raw '@' in a URL password: the user info ends at the last '@'.
		{"postgres://u:p@ssword@127.0.0.1:5432/db", "postgres://u:xxxxx@127.0.0.1:5432/db"},
		{"postgres://u:pa@ss/word@127.0.0.1:5432/db", "postgres://u:xxxxx@127.0.0.1:5432/db"},
		{"postgres://u:pa@ss#word@127.0.0.1:5432/db", "postgres://u:xxxxx@127.0.0.1:5432/db"},
		{"postgres://u:pa@ss?word@127.0.0.1:5432/db?sslmode=disable", "postgres://u:xxxxx@127.0.0.1:5432/db?sslmode=disable"},
		{"postgres://u:pa@ss%zzword@127.0.0.1:5432/db", "postgres://u:xxxxx@127.0.0.1:5432/db"},
		{"postgres://u@h/db?password=se@cret", "postgres://u@h/db?password=xxxxx"},
		// A backslash-escaped space in a bare keyword value.
		{`host=h password=se\ cret dbname=d`, "host=h password=xxxxx dbname=d"},
		{`host=h password=se\\ dbname=d`, "host=h password=xxxxx dbname=d"},
		{`host=h password='it\'s secret' dbname=d`, "host=h password=xxxxx dbname=d"},
		// libpq's whitespace, \v and \f included, separates keywords.
		{"host=h\vpassword=secret\fdbname=d", "host=h\vpassword=xxxxx\fdbname=d"},
		// A keyword string whose password looks like a URL is still a keyword string.
		{"host=h password=x://secret@y", "host=h password=xxxxx"},
		// MySQL: the password runs to the last '@'.
		{"u:p@ss/wo:rd@tcp(127.0.0.1:3306)/x", "u:xxxxx@tcp(127.0.0.1:3306)/x"},
		{":secret@/db", ":xxxxx@/db"},
	}
	for _, tt := range tests {
		got := dsn.Redact(tt.in)
		assert.Equal(t, tt.want, got, "Redact(%q)", tt.in)
		assert.NotContains(t, got, "secret")
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		name, dsn, msg, want string
	}{
		{
			name: "the DSN itself",
			dsn:  "postgres://u:hunter22@h/db", msg: `cannot parse "postgres://u:hunter22@h/db": bad`,
			want: `cannot parse "postgres://u:xxxxx@h/db": bad`,
		},
		{
			name: "the whole password",
			dsn:  "root:hunter22@tcp(h:3306)/db", msg: "access denied: hunter22",
			want: "access denied: xxxxx",
		},
		{
			name: "a piece after a raw @, as pgx prints the host it misread",
			dsn:  "postgres://u:hunter2@Secret99@127.0.0.1:5432/db",
			msg:  "failed to connect to `user=u database=db`: hostname resolving error: lookup Secret99@127.0.0.1: no such host",
			want: "failed to connect to `user=u database=db`: hostname resolving error: lookup xxxxx@127.0.0.1: no such host",
		},
		{
			name: "pieces split at : / and space",
			dsn:  "host=h password='alpha:bravo/charlie delta'",
			msg:  "alpha then bravo then charlie then delta",
			want: "xxxxx then xxxxx then xxxxx then xxxxx",
		},
		{
			name: "short pieces stay",
			dsn:  "postgres://u:ab@cd@h/db", msg: "lookup cd@h: no such host",
			want: "lookup cd@h: no such host",
		},
		{
			name: "sslpassword",
			dsn:  "postgres://u@h/db?sslpassword=keypass1", msg: "decrypt key with keypass1: bad",
			want: "decrypt key with xxxxx: bad",
		},
		{
			name: "escaped and unescaped",
			dsn:  "postgres://u:p%40ssw0rd@h/db", msg: "p@ssw0rd or p%40ssw0rd",
			want: "xxxxx or xxxxx",
		},
		{
			name: "keyword backslash escape, read unescaped",
			dsn:  `host=h password=open\ sesame`, msg: "password 'open sesame' refused",
			want: "password 'xxxxx' refused",
		},
		{
			name: "nothing secret",
			dsn:  "postgres://u@h/db", msg: "connection refused",
			want: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, dsn.Scrub(tt.msg, tt.dsn))
		})
	}
	assert.Empty(t, dsn.Scrub("", "postgres://u:p@h/db"))
	assert.Equal(t, "msg", dsn.Scrub("msg", ""))
}

// The driver reads a raw '@' in the password otherwise than Redact does, and
// its error prints what it took for the host: Scrub removes that piece.
func TestScrubPgxError(t *testing.T) {
	const password = "hunter2@Secret99"
	s := "postgres://u:" + password + "@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=1"
	db, err := sql.Open("pgx", s)
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = db.PingContext(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "Secret99", "pgx no longer prints the piece; this test shows nothing")
	got := dsn.Scrub(err.Error(), s)
	assert.NotContains(t, got, "Secret99")
	assert.NotContains(t, got, "hunter2")
}

// FuzzRedact builds DSNs of every form around a random password: Redact must
// never panic, and the password must not survive it. Scrub of a message that
// quotes the password must not keep it either.
func FuzzRedact(f *testing.F) {
	for _, p := range []string{"secret", "p@ss:word", "a b", "%zz", "x'y", `\`, "ünï", "pa@ss/wo#rd?x", `se\ cret`} {
		f.Add(p)
	}
	// A bare keyword value ends at whitespace, as libpq's isspace has it,
	// unless a backslash escapes it.
	keyword := strings.NewReplacer(`\`, `\\`, "'", `\'`, " ", `\ `, "\f", "\\\f", "\v", "\\\v")
	forms := []func(p string) string{
		func(p string) string {
			return "postgres://u:" + url.PathEscape(p) + "@127.0.0.1:5432/db?sslmode=disable"
		},
		func(p string) string { return "postgres://u:" + p + "@127.0.0.1:5432/db?sslmode=disable" },
		func(p string) string { return "postgres://u@h/db?password=" + url.QueryEscape(p) },
		func(p string) string { return "postgres://u@h/db?sslmode=require&sslpassword=" + url.QueryEscape(p) },
		func(p string) string {
			return "host=h user=u password='" + strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), "'", `\'`) + "' dbname=d"
		},
		func(p string) string { return "host=h user=u password=" + keyword.Replace(p) + " dbname=d" },
		func(p string) string { return "host=h sslpassword=" + keyword.Replace(p) + " sslmode=require" },
		func(p string) string { return "root:" + p + "@tcp(127.0.0.1:3306)/db?parseTime=true" },
	}
	f.Fuzz(func(t *testing.T, password string) {
		// Too short or too common to be told apart from the rest of the DSN.
		if len(password) < 4 || strings.ContainsAny(password, "\x00\n\r\t") {
			return
		}
		for i, form := range forms {
			in := form(password)
			if strings.Contains(form("xxxxx"), password) {
				continue // the password is part of the DSN's own text
			}
			if got := dsn.Redact(in); strings.Contains(got, password) {
				t.Errorf("form %d: Redact(%q) = %q keeps the password", i, in, got)
			}
			msg := "connect " + in + " failed: password " + password + " refused"
			if got := dsn.Scrub(msg, in); strings.Contains(got, password) {
				t.Errorf("form %d: Scrub(%q, %q) = %q keeps the password", i, msg, in, got)
			}
		}
		_ = dsn.Redact(password) // any string: no panic
		_ = dsn.Scrub(password, password)
	})
}

func TestWithSearchPath(t *testing.T) {
	assert.Equal(t, "postgres://u@h/db?search_path=scratch&sslmode=disable",
		dsn.WithSearchPath("postgres://u@h/db?sslmode=disable", "scratch"))
	assert.Equal(t, "host=h user=u search_path=scratch", dsn.WithSearchPath("host=h user=u", "scratch"))
}
