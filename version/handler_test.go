package version_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

func TestHandler(t *testing.T) {
	m := orders
	m.ReleaseID = "r-42"
	base := servePeer(t, m)
	url := base + strings.TrimPrefix(version.DefaultPath, "/")

	resp, err := http.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	got, err := version.ParseManifest(body)
	require.NoError(t, err)
	assert.Equal(t, m, got)

	resp, err = http.Head(url)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(len(body)), resp.ContentLength)

	resp, err = http.Post(url, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

func TestNewHandlerRefusesInvalid(t *testing.T) {
	_, err := version.NewHandler(version.Manifest{Service: "orders", Version: "1.0"})
	require.ErrorIs(t, err, version.ErrInvalidManifest)
	assert.ErrorContains(t, err, `version: handler: manifest field "version": "1.0"`)
	_, err = version.NewHandler(version.Manifest{Service: "orders"})
	assert.ErrorContains(t, err, `manifest field "version"`, "a test binary has no release version to resolve")
}
