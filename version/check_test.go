package version_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollsafe/rollsafe/version"
)

var orders = version.Manifest{
	Service: "orders", Version: "2.4.0",
	Requires: map[string]string{"payments": ">=1.2.0 <2.0.0", "users": "^3"},
	Schema:   ">=12 <=15",
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		opts    []version.CheckerOption
		peer    version.Manifest
		want    version.Verdict
		reasons []string // substrings, one per reason, in order
	}{
		{name: "both hold", peer: version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "^2.1"}},
			want: version.Compatible},
		{name: "no constraint either way", peer: version.Manifest{Service: "search", Version: "0.1.0"}, want: version.Compatible},
		{name: "ours fails", peer: version.Manifest{Service: "payments", Version: "2.1.0"}, want: version.Incompatible,
			reasons: []string{`orders 2.4.0 requires payments ">=1.2.0 <2.0.0" but found 2.1.0: 2.1.0 is greater than or equal to 2.0.0`}},
		{name: "theirs fails", peer: version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": ">=3.0.0"}},
			want: version.Incompatible, reasons: []string{`payments 1.5.0 requires orders ">=3.0.0" but we are 2.4.0: 2.4.0 is less than 3.0.0`}},
		{name: "both fail", peer: version.Manifest{Service: "users", Version: "4.0.0", Requires: map[string]string{"orders": "~1.9"}},
			want: version.Incompatible, reasons: []string{
				`orders 2.4.0 requires users "^3" but found 4.0.0: 4.0.0 does not have same major version as 3`,
				`users 4.0.0 requires orders "~1.9" but we are 2.4.0`}},
		{name: "prerelease excluded by default", peer: version.Manifest{Service: "payments", Version: "1.3.0-rc.1"},
			want: version.Incompatible, reasons: []string{"1.3.0-rc.1 is a prerelease, which constraints exclude unless prereleases are allowed"}},
		{name: "prerelease admitted on opt-in", opts: []version.CheckerOption{version.WithPrereleases()},
			peer: version.Manifest{Service: "payments", Version: "1.3.0-rc.1"}, want: version.Compatible},
		// The documented trap: the upper bound does not keep out a release
		// candidate of the next major version once prereleases are admitted.
		{name: "opt-in trap admits 2.0.0-rc.1", opts: []version.CheckerOption{version.WithPrereleases()},
			peer: version.Manifest{Service: "payments", Version: "2.0.0-rc.1"}, want: version.Compatible},
		{name: "without opt-in 2.0.0-rc.1 is refused", peer: version.Manifest{Service: "payments", Version: "2.0.0-rc.1"},
			want: version.Incompatible, reasons: []string{"2.0.0-rc.1 is a prerelease"}},
		{name: "peer version not strict", peer: version.Manifest{Service: "payments", Version: "1.5"}, want: version.Invalid,
			reasons: []string{`manifest field "version": "1.5" is not a strict semantic version`}},
		{name: "peer constraint garbage", peer: version.Manifest{Service: "payments", Version: "1.5.0", Requires: map[string]string{"orders": "~>>"}},
			want: version.Invalid, reasons: []string{`manifest field "requires.orders": "~>>"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := version.NewChecker(orders, tt.opts...)
			require.NoError(t, err)
			for range 2 { // the second call is answered from the cache
				got := c.Check(tt.peer)
				assert.Equal(t, tt.want, got.Verdict, "reasons: %v", got.Reasons)
				assert.Equal(t, tt.peer.Service, got.Service)
				assert.Equal(t, tt.peer.Version, got.Version)
				require.Len(t, got.Reasons, len(tt.reasons), "reasons: %v", got.Reasons)
				for i, want := range tt.reasons {
					assert.Contains(t, got.Reasons[i], want)
				}
			}
		})
	}
}

func TestNewCheckerRefusesBadSelf(t *testing.T) {
	_, err := version.NewChecker(version.Manifest{Service: "orders", Version: "2.4"})
	require.ErrorIs(t, err, version.ErrInvalidManifest)
	assert.ErrorContains(t, err, `version: our manifest: manifest field "version": "2.4"`)

	_, err = version.NewChecker(orders, version.WithTimeout(0))
	assert.ErrorContains(t, err, "timeout 0s is not positive")
	_, err = version.NewChecker(orders, version.WithConcurrency(0))
	assert.ErrorContains(t, err, "concurrency 0 is less than 1")
	_, err = version.NewChecker(orders, version.WithPath("rollsafe"))
	assert.ErrorContains(t, err, `path "rollsafe" does not start with '/'`)
	_, err = version.NewChecker(orders, version.WithPolicy(version.Policy(9)))
	assert.ErrorContains(t, err, "unknown policy 9")
}

// A malformed manifest is judged invalid without leaving a verdict behind
// for a valid one with the same service, version and constraint on us.
func TestCheckDoesNotCacheInvalid(t *testing.T) {
	c, err := version.NewChecker(orders)
	require.NoError(t, err)
	bad := version.Manifest{Service: "payments", Version: "1.5.0", APIs: []string{"has space"}}
	good := version.Manifest{Service: "payments", Version: "1.5.0"}

	got := c.Check(bad)
	assert.Equal(t, version.Invalid, got.Verdict)
	assert.Contains(t, got.Reasons[0], `manifest field "apis[0]": "has space"`)
	got = c.Check(good)
	assert.Equal(t, version.Compatible, got.Verdict, "reasons: %v", got.Reasons)
}

// The reasons in a report belong to the caller: changing them does not
// change what the next negotiation says.
func TestNegotiateReasonsAreTheCallers(t *testing.T) {
	c, err := version.NewChecker(orders)
	require.NoError(t, err)
	peers := []version.Peer{{Source: "p.json", Manifest: []byte(`{"service":"payments","version":"2.0.0"}`)}}
	first := c.Negotiate(context.Background(), peers)
	require.Equal(t, version.Incompatible, first.Peers[0].Verdict)
	want := first.Peers[0].Reasons[0]
	first.Peers[0].Reasons[0] = "changed by the caller"

	again := c.Negotiate(context.Background(), peers)
	assert.Equal(t, want, again.Peers[0].Reasons[0])
}
