package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/release"
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

// The service serves the page of its releases and flags at /admin/, to
// the callers of this host, with the actions they may take.
func TestServiceServesThePageOfItsReleasesAndFlags(t *testing.T) {
	base, _, _ := service(t)
	resp, body := get(t, base+"/admin/")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, release.PageCSP, resp.Header.Get("Content-Security-Policy"))
	assert.Contains(t, string(body), "orders: releases and flags")

	resp, body = get(t, base+"/admin/api/state")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var st struct {
		Flags struct {
			Can map[string][]string `json:"can"`
		} `json:"flags"`
		Instances []struct {
			Service string `json:"service"`
		} `json:"instances"`
	}
	require.NoError(t, json.Unmarshal(body, &st))
	assert.ElementsMatch(t, []string{"kill", "revive", "weights"}, st.Flags.Can["orders-summary-v2"])
	require.Len(t, st.Instances, 1, "the service itself, from the registry")
	assert.Equal(t, "orders", st.Instances[0].Service)
}
