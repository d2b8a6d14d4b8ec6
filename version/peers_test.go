package version_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

// servePeer starts a real HTTP server on 127.0.0.1 serving m at the default
// path and returns its base URL.
func servePeer(t testing.TB, m version.Manifest) string {
	t.Helper()
	h, err := version.NewHandler(m)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(version.DefaultPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// serveFunc starts a real HTTP server on 127.0.0.1 answering with fn.
func serveFunc(t testing.TB, fn http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// hangingPeer accepts requests and never answers until the client gives up
// (or the test ends).
func hangingPeer(t testing.TB) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv.URL + "/"
}

// slowPeer answers with m after delay.
func slowPeer(t testing.TB, m version.Manifest, delay time.Duration) string {
	t.Helper()
	h, err := version.NewHandler(m)
	require.NoError(t, err)
	return serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// closedURL returns the URL of a server that has been shut down, so that
// connecting to it is refused.
func closedURL(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/"
	srv.Close()
	return u
}
