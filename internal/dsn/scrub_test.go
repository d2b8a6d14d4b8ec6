package dsn_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rollsafe/rollsafe/internal/dsn"
)

func TestScrubMessages(t *testing.T) {
	assert.Equal(t, "failed for postgres://u:xxxxx@h/db: auth xxxxx",
		dsn.Scrub("failed for postgres://u:p%40ss@h/db: auth p@ss", "postgres://u:p%40ss@h/db"))
	// A raw '@' in a URL password: the driver reads "ss@h" as the host.
	got := dsn.Scrub(`dial tcp: lookup ss@h: no such host`, "postgres://u:pa@ss-secret@h/db")
	assert.NotContains(t, got, "ss-secret")
	got = dsn.Scrub(`connect: password "a b" rejected`, `host=h password=a\ b dbname=d`)
	assert.NotContains(t, got, "a b")
	got = dsn.Scrub(`bad key passphrase kp-secret`, "postgres://u@h/db?sslpassword=kp-secret")
	assert.NotContains(t, got, "kp-secret")
	assert.Equal(t, "no secret here", dsn.Scrub("no secret here", "/var/lib/app.db"))
}

// FuzzScrubDSN: whatever the password, neither it nor the DSN that holds it
// survives Scrub.
func FuzzScrubDSN(f *testing.F) {
	f.Add("s3cr3t", false)
	f.Add("p@ss:word/?#", true)
	f.Add("with space", false)
	f.Fuzz(func(t *testing.T, pw string, mysqlForm bool) {
		const template = "connect failed: "
		if len(pw) < 3 || strings.Contains(template+"xxxxx", pw) || strings.ContainsAny(pw, "\x00") {
			t.Skip("a password the message itself contains")
		}
		var d string
		if mysqlForm {
			if strings.ContainsAny(pw, "@/()") {
				t.Skip("not representable in a go-sql-driver DSN")
			}
			d = "app:" + pw + "@tcp(db:3306)/app"
		} else {
			d = (&url.URL{Scheme: "postgres", User: url.UserPassword("app", pw), Host: "db", Path: "/app"}).String()
		}
		got := dsn.Scrub(template+d+" (password "+pw+")", d)
		assert.NotContains(t, got, pw)
		assert.NotContains(t, got, d)
	})
}
