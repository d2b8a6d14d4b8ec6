package dsn_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

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
	}
	for _, tt := range tests {
		got := dsn.Redact(tt.in)
		assert.Equal(t, tt.want, got, "Redact(%q)", tt.in)
		assert.NotContains(t, got, "secret")
	}
}

// FuzzRedact builds DSNs of every form around a random password: Redact must
// never panic, and the password must not survive it.
func FuzzRedact(f *testing.F) {
	for _, p := range []string{"secret", "p@ss:word", "a b", "%zz", "x'y", `\`, "ünï"} {
		f.Add(p)
	}
	forms := []func(p string) string{
		func(p string) string {
			return "postgres://u:" + url.PathEscape(p) + "@127.0.0.1:5432/db?sslmode=disable"
		},
		func(p string) string { return "postgres://u@h/db?password=" + url.QueryEscape(p) },
		func(p string) string {
			return "host=h user=u password='" + strings.ReplaceAll(p, "'", `\'`) + "' dbname=d"
		},
		func(p string) string { return "root:" + p + "@tcp(127.0.0.1:3306)/db?parseTime=true" },
	}
	f.Fuzz(func(t *testing.T, password string) {
		// Too short or too common to be told apart from the rest of the DSN.
		if len(password) < 4 || strings.ContainsAny(password, "\x00\n\r\t ") {
			return
		}
		for i, form := range forms {
			in := form(password)
			got := dsn.Redact(in)
			if strings.Contains(got, password) && !strings.Contains(form("xxxxx"), password) {
				t.Errorf("form %d: Redact(%q) = %q keeps the password", i, in, got)
			}
		}
		_ = dsn.Redact(password) // any string: no panic
	})
}

func TestWithSearchPath(t *testing.T) {
	assert.Equal(t, "postgres://u@h/db?search_path=scratch&sslmode=disable",
		dsn.WithSearchPath("postgres://u@h/db?sslmode=disable", "scratch"))
	assert.Equal(t, "host=h user=u search_path=scratch", dsn.WithSearchPath("host=h user=u", "scratch"))
}
