package version_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

func TestNegotiateRealPeers(t *testing.T) {
	const timeout = 300 * time.Millisecond
	goodPayments := version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2"}}
	tooNewPayments := version.Manifest{Service: "payments", Version: "2.0.0"}
	usersWantsNewOrders := version.Manifest{Service: "users", Version: "3.2.0", Requires: map[string]string{"orders": ">=3.0.0"}}

	type want struct {
		verdict version.Verdict
		service string
		reason  string
	}
	cases := []struct {
		name   string
		source string
		want   want
	}{
		{"compatible", servePeer(t, goodPayments), want{version.Compatible, "payments", ""}},
		{"incompatible: ours on the peer", servePeer(t, tooNewPayments),
			want{version.Incompatible, "payments", `orders 2.4.0 requires payments ">=1.2.0 <2.0.0" but found 2.0.0`}},
		{"incompatible: the peer's on us", servePeer(t, usersWantsNewOrders),
			want{version.Incompatible, "users", `users 3.2.0 requires orders ">=3.0.0" but we are 2.4.0`}},
		{"slow but within the timeout", slowPeer(t, goodPayments, timeout/6), want{version.Compatible, "payments", ""}},
		{"hanging", hangingPeer(t), want{version.Unreachable, "", "no answer within 300ms"}},
		{"garbage", serveFunc(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) }),
			want{version.Invalid, "", "not a JSON manifest"}},
		{"valid JSON, bad manifest", serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"service":"payments","version":"v1"}`))
		}), want{version.Invalid, "", `manifest field "version": "v1"`}},
		{"not found", serveFunc(t, http.NotFound), want{version.Invalid, "", "answered 404 Not Found, not a manifest"}},
		{"server error", serveFunc(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 503) }),
			want{version.Unreachable, "", "answered 503 Service Unavailable"}},
		{"connection refused", closedURL(t), want{version.Unreachable, "", "connection refused"}},
		{"answers too much", serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"service":"payments","version":"1.5.0","apis":["` + strings.Repeat("x", version.MaxManifestSize) + `"]}`))
		}), want{version.Invalid, "", "answered more than 1048576 bytes"}},
		{"starts answering, then stalls", serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"service":"payments",`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}), want{version.Unreachable, "", "no answer within 300ms"}},
		{"not a URL", "ftp://example.com/", want{version.Unreachable, "", `peer "ftp://example.com/" is not an http or https URL`}},
	}
	peers := make([]version.Peer, len(cases))
	for i, c := range cases {
		peers[i] = version.Peer{Source: c.source}
	}
	start := time.Now()
	r, err := version.Negotiate(context.Background(), orders, peers, version.WithTimeout(timeout))
	elapsed := time.Since(start)
	require.NoError(t, err)
	// The generous upper bound the negotiation promises: one timeout for the
	// hanging peer, not one per peer.
	assert.Less(t, elapsed, timeout+2*time.Second)

	// orders requires payments and users, and both answered: nothing is
	// missing, so there is exactly one result per peer.
	require.Len(t, r.Peers, len(cases))
	for i, c := range cases {
		got := r.Peers[i]
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.source, got.Source)
			assert.Equal(t, c.want.verdict, got.Verdict, "reasons: %v", got.Reasons)
			assert.Equal(t, c.want.service, got.Service)
			if c.want.reason == "" {
				assert.Empty(t, got.Reasons)
				require.NotNil(t, got.Manifest)
				return
			}
			require.NotEmpty(t, got.Reasons)
			assert.Contains(t, got.Reasons[0], c.want.reason)
		})
	}
	assert.Equal(t, 0, r.Count(version.Missing))
}

func TestNegotiateMissingAndURLs(t *testing.T) {
	payments := version.Manifest{Service: "payments", Version: "1.9.0"}
	base := servePeer(t, payments)
	full := base + ".well-known/rollsafe"
	custom := serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/meta/manifest.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"service":"payments","version":"1.2.0"}`))
	})
	r, err := version.Negotiate(context.Background(), orders,
		version.URLs(base, full, custom+"meta/manifest.json"))
	require.NoError(t, err)
	require.Len(t, r.Peers, 4)
	for _, p := range r.Peers[:3] {
		assert.Equal(t, version.Compatible, p.Verdict, "%s: %v", p.Source, p.Reasons)
	}
	missing := r.Peers[3]
	assert.Equal(t, version.PeerResult{Service: "users", Verdict: version.Missing,
		Reasons: []string{`orders requires users "^3" but no peer of users answered`}}, missing)

	// A peer given as a manifest (a file, a registry entry) is not fetched.
	r, err = version.Negotiate(context.Background(), orders, []version.Peer{
		{Source: "users.json", Manifest: []byte(`{"service":"users","version":"3.4.5"}`)},
		{Source: "broken.json", Manifest: []byte(`{"service":`)},
	})
	require.NoError(t, err)
	assert.Equal(t, version.Compatible, r.Peers[0].Verdict)
	assert.Equal(t, "users.json", r.Peers[0].Source)
	assert.Equal(t, version.Invalid, r.Peers[1].Verdict)
	assert.Equal(t, []version.Verdict{version.Missing}, []version.Verdict{r.Peers[2].Verdict})
	assert.Equal(t, "payments", r.Peers[2].Service)
}

func TestNegotiateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := version.Negotiate(ctx, orders, version.URLs(hangingPeer(t)))
	require.NoError(t, err)
	assert.Equal(t, version.Unreachable, r.Peers[0].Verdict)
}

func TestManifestURL(t *testing.T) {
	tests := []struct{ in, path, want, wantErr string }{
		{in: "http://10.0.0.7:8080", want: "http://10.0.0.7:8080/.well-known/rollsafe"},
		{in: "http://10.0.0.7:8080/", want: "http://10.0.0.7:8080/.well-known/rollsafe"},
		{in: "https://h/orders/", want: "https://h/orders/.well-known/rollsafe"},
		{in: "http://h/", path: "/meta", want: "http://h/meta"},
		{in: "http://h/custom/manifest.json", want: "http://h/custom/manifest.json"},
		{in: "10.0.0.7:8080", wantErr: "is not a URL"},
		{in: "orders.internal", wantErr: "is not an http or https URL"},
		{in: "http://", wantErr: "is not an http or https URL"},
		{in: "http://h/%zz", wantErr: "is not a URL"},
	}
	for _, tt := range tests {
		got, err := version.ManifestURL(tt.in, tt.path)
		if tt.wantErr != "" {
			assert.ErrorContains(t, err, tt.wantErr, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestFetch(t *testing.T) {
	ctx := context.Background()
	m, err := version.Fetch(ctx, servePeer(t, orders))
	require.NoError(t, err)
	assert.Equal(t, orders, m)

	_, err = version.Fetch(ctx, closedURL(t))
	assert.ErrorIs(t, err, version.ErrUnreachable)
	_, err = version.Fetch(ctx, hangingPeer(t), version.WithTimeout(50*time.Millisecond))
	assert.ErrorIs(t, err, version.ErrUnreachable)
	assert.ErrorContains(t, err, "no answer within 50ms")
	_, err = version.Fetch(ctx, serveFunc(t, http.NotFound))
	assert.ErrorIs(t, err, version.ErrInvalidManifest)
	_, err = version.Fetch(ctx, serveFunc(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	assert.ErrorIs(t, err, version.ErrInvalidManifest)
	assert.ErrorContains(t, err, `manifest field "version": "" is missing`)
}

func TestNegotiateCustomPathAndClient(t *testing.T) {
	h, err := version.NewHandler(version.Manifest{Service: "payments", Version: "1.5.0"})
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	peer := serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("X-Test"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	})
	client := &http.Client{Transport: headerTransport{}}
	r, err := version.Negotiate(context.Background(), orders, version.URLs(peer),
		version.WithPath("/internal/manifest"), version.WithHTTPClient(client), version.WithConcurrency(1))
	require.NoError(t, err)
	assert.Equal(t, version.Compatible, r.Peers[0].Verdict)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/internal/manifest yes"}, seen)
}

type headerTransport struct{}

func (headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test", "yes")
	return http.DefaultTransport.RoundTrip(r)
}

// A peer behind basic authentication is asked with the URL's credentials,
// and reports and errors never show the password.
func TestNegotiatePasswordsNeverShown(t *testing.T) {
	h, err := version.NewHandler(version.Manifest{Service: "payments", Version: "1.5.0"})
	require.NoError(t, err)
	guarded := serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "rollsafe" || p != "s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	withPassword := func(base string) string { return strings.Replace(base, "http://", "http://rollsafe:s3cret@", 1) }
	sources := []string{
		withPassword(guarded),
		withPassword(closedURL(t)),
		withPassword(serveFunc(t, http.NotFound)),
		withPassword(hangingPeer(t)),
		"http://rollsafe:s3cret@127.0.0.1:1/%zz",
	}
	r, err := version.Negotiate(context.Background(), orders, version.URLs(sources...), version.WithTimeout(100*time.Millisecond))
	require.NoError(t, err)
	want := []version.Verdict{version.Compatible, version.Unreachable, version.Invalid, version.Unreachable, version.Unreachable}
	for i, p := range r.Peers[:len(sources)] {
		assert.Equal(t, want[i], p.Verdict, "%s: %v", p.Source, p.Reasons)
		assert.NotContains(t, p.Source, "s3cret")
		assert.Contains(t, p.Source, "rollsafe:xxxxx@")
		for _, why := range p.Reasons {
			assert.NotContains(t, why, "s3cret")
		}
	}

	_, err = version.Fetch(context.Background(), withPassword(closedURL(t)))
	require.ErrorIs(t, err, version.ErrUnreachable)
	assert.NotContains(t, err.Error(), "s3cret")
	_, err = version.Fetch(context.Background(), withPassword(serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("{}"))
	})))
	require.ErrorIs(t, err, version.ErrInvalidManifest)
	assert.NotContains(t, err.Error(), "s3cret")
}
