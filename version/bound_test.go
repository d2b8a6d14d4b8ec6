package version_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

// longConstraint is as long a constraint as semver parses (512 bytes, 32
// alternatives) whose every alternative fails for 2.4.0 with a message of
// its own.
func longConstraint() string {
	alts := make([]string, 32)
	for i := range alts {
		alts[i] = fmt.Sprintf("=10.200.%04d", 1000+i)
	}
	return strings.Join(alts, " || ")
}

// hugeConstraint is a constraint of about n bytes, far too long to parse.
func hugeConstraint(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(" || ")
		}
		fmt.Fprintf(&b, "=1.0.%d", i)
	}
	return b.String()
}

// hugePeers serves, from real HTTP servers, a valid manifest whose
// constraint on us is as long as a valid one can be, one whose constraint
// is 880 KB, one whose service name and one whose version is as long, and a
// server with an unusual status and a 100 KB header.
func hugePeers(t *testing.T) []string {
	t.Helper()
	serve := func(m any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(m))
		body := b.Bytes()
		require.Less(t, len(body), version.MaxManifestSize)
		return serveFunc(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	}
	return []string{
		serve(map[string]any{"service": "payments", "version": "1.5.0",
			"requires": map[string]string{"orders": longConstraint()}}),
		serve(map[string]any{"service": "users", "version": "3.1.0",
			"requires": map[string]string{"orders": hugeConstraint(880 << 10)}}),
		serve(map[string]any{"service": strings.Repeat("s", 880<<10), "version": "1.0.0"}),
		serve(map[string]any{"service": "search", "version": strings.Repeat("9", 880<<10)}),
		serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Long", strings.Repeat("h", 100<<10))
			w.WriteHeader(599)
		}),
	}
}

// No field of a peer's manifest reaches a reason, an error or a log line
// whole, however large: each is cut, and says how long it was.
func TestHugeManifestFieldsAreBounded(t *testing.T) {
	const bound = 1 << 10 // per reason; the value itself is 880 KB
	urls := hugePeers(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	r, err := version.Negotiate(ctx, orders, version.URLs(urls...))
	require.NoError(t, err)
	require.Len(t, r.Peers, len(urls)+1) // and users, missing: its only peer was invalid
	want := []version.Verdict{version.Incompatible, version.Invalid, version.Invalid, version.Invalid, version.Unreachable}
	for i, w := range want {
		p := r.Peers[i]
		assert.Equal(t, w, p.Verdict, "peer %d: %v", i, p.Reasons)
		assert.LessOrEqual(t, len(p.Service)+len(p.Version), 2*bound, "peer %d", i)
		for _, why := range p.Reasons {
			assert.LessOrEqual(t, len(why), bound, "peer %d: %.300s", i, why)
		}
	}
	assert.Contains(t, r.Peers[0].Reasons[0], `payments 1.5.0 requires orders "=10.200.1000 || =10.200.1001`)
	assert.Contains(t, r.Peers[0].Reasons[0], fmt.Sprintf("… (%d bytes)", len(longConstraint())))
	huge := fmt.Sprintf("… (%d bytes)", len(hugeConstraint(880<<10)))
	assert.Contains(t, r.Peers[1].Reasons[0], `manifest field "requires.orders": "=1.0.0 || =1.0.1`)
	assert.Contains(t, r.Peers[1].Reasons[0], huge)
	assert.Contains(t, r.Peers[2].Reasons[0], fmt.Sprintf(`manifest field "service": "sss`))
	assert.Contains(t, r.Peers[2].Reasons[0], fmt.Sprintf("… (%d bytes)", 880<<10))

	c, err := version.NewChecker(orders, version.WithPolicy(version.Warn), version.WithLogger(logger))
	require.NoError(t, err)
	require.NoError(t, c.Evaluate(r))
	assert.Less(t, logs.Len(), len(urls)*2*bound, "the warn policy's log lines")

	m, err := version.NewMonitor(orders, version.Static(urls))
	require.NoError(t, err)
	_, err = m.Negotiate(ctx)
	require.ErrorIs(t, err, version.ErrIncompatible)
	assert.Less(t, len(err.Error()), len(urls)*2*bound, "the refusal")
	assert.Less(t, len(m.Check(ctx).Error()), 2*bound, "the readiness check's error")

	for i, u := range urls[1:] {
		_, err := version.Fetch(ctx, u)
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 2*bound, "fetch %d: %.300s", i+1, err)
	}
}
