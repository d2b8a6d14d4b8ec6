package version_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

// A report over orders (requires payments and users) with a chosen set of
// results.
func report(results ...version.PeerResult) version.Report {
	return version.Report{Self: orders, Peers: results}
}

var (
	payOK      = version.PeerResult{Source: "http://p1/", Service: "payments", Version: "1.5.0", Verdict: version.Compatible, Reasons: []string{}}
	usersOK    = version.PeerResult{Source: "http://u1/", Service: "users", Version: "3.1.0", Verdict: version.Compatible, Reasons: []string{}}
	payBad     = version.PeerResult{Source: "http://p2/", Service: "payments", Version: "2.0.0", Verdict: version.Incompatible, Reasons: []string{"too new"}}
	down       = version.PeerResult{Source: "http://x/", Verdict: version.Unreachable, Reasons: []string{"no answer"}}
	garbage    = version.PeerResult{Source: "http://g/", Verdict: version.Invalid, Reasons: []string{"not JSON"}}
	usersGone  = version.PeerResult{Service: "users", Verdict: version.Missing, Reasons: []string{"nobody answered"}}
	paymentsGo = version.PeerResult{Service: "payments", Verdict: version.Missing, Reasons: []string{"nobody answered"}}
)

func TestPolicies(t *testing.T) {
	tests := []struct {
		name       string
		policy     version.Policy
		requireAll bool
		r          version.Report
		problems   []string // substrings, in order; nil means it passes
	}{
		{"refuse: all compatible", version.Refuse, false, report(payOK, usersOK), nil},
		{"refuse: incompatible", version.Refuse, false, report(payOK, payBad, usersOK), []string{"payments 2.0.0 at http://p2/: incompatible: too new"}},
		{"refuse: unreachable", version.Refuse, false, report(payOK, usersOK, down), []string{"http://x/: unreachable: no answer"}},
		{"refuse: invalid", version.Refuse, false, report(payOK, usersOK, garbage), []string{"http://g/: invalid: not JSON"}},
		{"refuse: missing tolerated", version.Refuse, false, report(payOK, usersGone), nil},
		{"refuse: missing with require-all", version.Refuse, true, report(payOK, usersGone), []string{"users: missing: nobody answered"}},
		{"quorum: one good peer each, others down", version.Quorum, false, report(payOK, down, garbage, usersOK), nil},
		{"quorum: a known incompatible peer", version.Quorum, false, report(payOK, payBad, usersOK), []string{"incompatible: too new"}},
		{"quorum: a required service without a compatible peer", version.Quorum, false, report(payOK, usersGone),
			[]string{"users: no compatible peer answered (quorum needs at least one)"}},
		{"quorum: nobody at all", version.Quorum, false, report(paymentsGo, usersGone), []string{"payments: no compatible", "users: no compatible"}},
		{"warn lists what refuse would", version.Warn, false, report(payBad), []string{"incompatible: too new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.policy.Problems(tt.r, tt.requireAll)
			require.Len(t, got, len(tt.problems), "%q", got)
			for i, want := range tt.problems {
				assert.Contains(t, got[i], want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	c, err := version.NewChecker(orders)
	require.NoError(t, err)
	err = c.Evaluate(report(payOK, payBad, down))
	require.ErrorIs(t, err, version.ErrIncompatible)
	var ie *version.IncompatibleError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, version.Refuse, ie.Policy)
	assert.Len(t, ie.Problems, 2)
	assert.True(t, strings.HasPrefix(err.Error(), "orders 2.4.0 refused by the refuse policy: payments 2.0.0 at http://p2/: incompatible: too new; "), err.Error())
	assert.NoError(t, c.Evaluate(report(payOK, usersOK)))

	var logs bytes.Buffer
	w, err := version.NewChecker(orders, version.WithPolicy(version.Warn),
		version.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	assert.NoError(t, w.Evaluate(report(payBad)))
	assert.Contains(t, logs.String(), "incompatible: too new")
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []version.Policy{version.Refuse, version.Warn, version.Quorum} {
		got, err := version.ParsePolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err := version.ParsePolicy("lenient")
	assert.ErrorContains(t, err, `unknown policy "lenient"`)
	assert.Equal(t, "Policy(7)", version.Policy(7).String())
}

func TestStartup(t *testing.T) {
	ctx := context.Background()
	good := servePeer(t, version.Manifest{Service: "payments", Version: "1.4.0"})
	users := servePeer(t, version.Manifest{Service: "users", Version: "3.0.1"})
	bad := servePeer(t, version.Manifest{Service: "payments", Version: "1.9.0", Requires: map[string]string{"orders": "<2"}})

	t.Run("refused with the reasons", func(t *testing.T) {
		m, err := version.Startup(ctx, orders, version.Static{good, bad, users})
		require.ErrorIs(t, err, version.ErrIncompatible)
		assert.Nil(t, m)
		assert.ErrorContains(t, err, `payments 1.9.0 requires orders "<2" but we are 2.4.0: 2.4.0 is greater than or equal to 2`)
	})
	t.Run("compatible peers start", func(t *testing.T) {
		m, err := version.Startup(ctx, orders, version.Static{good, users})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Close()) })
		assert.NoError(t, m.Check(ctx))
		assert.Equal(t, 2, m.Report().Count(version.Compatible))
	})
	t.Run("warn starts anyway", func(t *testing.T) {
		m, err := version.Startup(ctx, orders, version.Static{bad}, version.WithPolicy(version.Warn))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Close()) })
		assert.NoError(t, m.Check(ctx))
		assert.Equal(t, 1, m.Report().Count(version.Incompatible))
	})
	t.Run("quorum tolerates a dead peer", func(t *testing.T) {
		m, err := version.Startup(ctx, orders, version.Static{good, closedURL(t), users}, version.WithPolicy(version.Quorum))
		require.NoError(t, err)
		require.NoError(t, m.Close())
		_, err = version.Startup(ctx, orders, version.Static{closedURL(t), users}, version.WithPolicy(version.Quorum))
		assert.ErrorContains(t, err, "payments: no compatible peer answered")
	})
	t.Run("discovery failure refuses", func(t *testing.T) {
		failing := version.DiscoveryFunc(func(context.Context) ([]version.Peer, error) {
			return nil, assert.AnError
		})
		_, err := version.Startup(ctx, orders, failing)
		assert.ErrorIs(t, err, assert.AnError)
		assert.ErrorContains(t, err, "version: find peers of orders")
	})
}
