package main

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAdminAuthorizer(t *testing.T) {
	local := adminAuthorizer("")
	for _, tc := range []struct {
		remote, host string
		ok           bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:8080", true},
		{"[::1]:5000", "[::1]:8080", true},
		{"127.0.0.1:5000", "localhost:8080", true},
		{"127.0.0.1:5000", "evil.example.com:8080", false}, // DNS rebinding
		{"10.0.0.9:5000", "127.0.0.1:8080", false},
	} {
		r := httptest.NewRequest("GET", "/releases", nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		actor, err := local(r, "list", "")
		if tc.ok {
			assert.NoError(t, err, tc)
			assert.Equal(t, "local", actor)
		} else {
			assert.Error(t, err, tc)
		}
	}
	withToken := adminAuthorizer("s3cret")
	r := httptest.NewRequest("GET", "/releases", nil)
	r.RemoteAddr = "10.0.0.9:5000"
	_, err := withToken(r, "list", "")
	assert.Error(t, err, "no token")
	r.Header.Set("Authorization", "Bearer s3cret")
	actor, err := withToken(r, "list", "")
	assert.NoError(t, err)
	assert.Equal(t, "admin", actor)
	r.Header.Set("Authorization", "Bearer wrong")
	_, err = withToken(r, "list", "")
	assert.Error(t, err)
}
