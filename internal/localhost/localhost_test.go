package localhost

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRequest(t *testing.T) {
	for _, tc := range []struct {
		remote, host string
		ok           bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:8099", true},
		{"[::1]:5000", "[::1]:8099", true},
		{"127.0.0.1:5000", "localhost:8099", true},
		{"127.0.0.1:5000", "localhost", true},
		{"127.0.0.2:5000", "127.0.0.1", true},
		{"127.0.0.1:5000", "evil.example:8099", false}, // DNS rebinding
		{"127.0.0.1:5000", "", false},
		{"10.0.0.9:5000", "127.0.0.1:8099", false},
		{"garbage", "127.0.0.1:8099", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		assert.Equal(t, tc.ok, Request(r), "%+v", tc)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"Flags.Corp.Example.": "flags.corp.example", "[2001:DB8::1]": "2001:db8::1", "2001:db8::1": "2001:db8::1", "localhost": "localhost",
	} {
		assert.Equal(t, want, Canonical(in), in)
	}
	r := httptest.NewRequest("GET", "/", nil)
	for host, want := range map[string]string{"[2001:db8::1]:443": "2001:db8::1", "[2001:db8::1]": "2001:db8::1", "Ops.Example:8080": "ops.example", "ops.example.": "ops.example"} {
		r.Host = host
		assert.Equal(t, want, HostName(r), host)
	}
}
