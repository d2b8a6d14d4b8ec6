package version

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://u:secret@h:8080/x/", "http://u:xxxxx@h:8080/x/"},
		{"https://u:secret@h", "https://u:xxxxx@h"},
		{"http://u:se:cret@h/", "http://u:xxxxx@h/"},
		{"http://u:secret@127.0.0.1:1/%zz", "http://u:xxxxx@127.0.0.1:1/%zz"},
		{"http://u@h/", "http://u@h/"},
		{"http://h/a@b:c", "http://h/a@b:c"},
		{"payments.json", "payments.json"},
		{"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, redact(tt.in), tt.in)
	}
}

// Whatever the password, and whether or not the URL parses, the redacted
// form does not show it.
func FuzzRedact(f *testing.F) {
	for _, p := range []string{"secret", "p:ss", "%zz", "a b", "ünï", ""} {
		f.Add(p, "/x/")
	}
	f.Fuzz(func(t *testing.T, password, path string) {
		if password == "" || strings.ContainsAny(password, "/@") {
			t.Skip("not a password that can stand in a URL's authority")
		}
		in := "http://user:" + password + "@h:1" + path
		if got := redact(in); strings.Contains(got, ":"+password+"@") {
			t.Fatalf("redact(%q) = %q shows the password", in, got)
		}
	})
}

// ManifestURL takes addresses from configuration, DNS and the registry: it
// never panics, and what it accepts is an http or https URL with a host.
func FuzzManifestURL(f *testing.F) {
	for _, s := range []string{"http://h/", "https://h:8443/x", "http://h/m.json", "ftp://h/", "h:80", "http://[::1]:80/", "http://%zz/"} {
		f.Add(s, "")
	}
	f.Add("http://h/", "/meta")
	f.Fuzz(func(t *testing.T, source, path string) {
		got, err := ManifestURL(source, path)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("ManifestURL(%q, %q) = %q, which does not parse: %v", source, path, got, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("ManifestURL(%q, %q) = %q, not an http(s) URL with a host", source, path, got)
		}
	})
}
