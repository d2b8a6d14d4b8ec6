package version_test

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/rollsafe/rollsafe/version"
)

// dnsZone is what the test DNS server answers: SRV and A records by name
// (absolute, with the trailing dot).
type dnsZone struct {
	srv  map[string][]dnsmessage.SRVResource
	a    map[string][]netip.Addr
	aaaa map[string][]netip.Addr
}

// serveDNS runs a small UDP DNS server on 127.0.0.1 for zone and returns a
// resolver that asks only it.
func serveDNS(t *testing.T, zone dnsZone) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { _ = pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply, err := zone.answer(buf[:n]); err == nil {
				_, _ = pc.WriteTo(reply, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func (z dnsZone) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := q.Name.String()
	_, knownSRV := z.srv[name]
	_, knownA := z.a[name]
	_, knownAAAA := z.aaaa[name]
	rcode := dnsmessage.RCodeSuccess
	if !knownSRV && !knownA && !knownAAAA {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	switch q.Type {
	case dnsmessage.TypeSRV:
		for _, s := range z.srv[name] {
			if err := b.SRVResource(rh, s); err != nil {
				return nil, err
			}
		}
	case dnsmessage.TypeA:
		for _, a := range z.a[name] {
			if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
				return nil, err
			}
		}
	case dnsmessage.TypeAAAA:
		for _, a := range z.aaaa[name] {
			if err := b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}

func port(t *testing.T, base string) uint16 {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	p, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	return uint16(p)
}

func TestDNSDiscovery(t *testing.T) {
	p1 := servePeer(t, version.Manifest{Service: "payments", Version: "1.4.0"})
	p2 := servePeer(t, version.Manifest{Service: "payments", Version: "2.0.0"})
	users := servePeer(t, version.Manifest{Service: "users", Version: "3.3.3"})
	ip := netip.MustParseAddr("127.0.0.1")
	res := serveDNS(t, dnsZone{
		srv: map[string][]dnsmessage.SRVResource{
			"_rollsafe._tcp.payments.test.": {
				{Priority: 10, Weight: 5, Port: port(t, p1), Target: dnsmessage.MustNewName("localhost.")},
				{Priority: 10, Weight: 5, Port: port(t, p2), Target: dnsmessage.MustNewName("localhost.")},
				{Priority: 20, Weight: 0, Port: 9, Target: dnsmessage.MustNewName(".")}, // not available: skipped
			},
		},
		a:    map[string][]netip.Addr{"users.test.": {ip}, "both.test.": {netip.MustParseAddr("10.0.0.7")}},
		aaaa: map[string][]netip.Addr{"both.test.": {netip.MustParseAddr("fd00::7")}},
	})
	ctx := context.Background()

	srv := version.DNS{Name: "_rollsafe._tcp.payments.test", Resolver: res}
	peers, err := srv.Peers(ctx)
	require.NoError(t, err)
	var got []string
	for _, p := range peers {
		got = append(got, p.Source)
	}
	// Go refuses an all-numeric name as an SRV target; localhost resolves
	// through /etc/hosts to the servers' 127.0.0.1.
	loc := func(base string) string { return strings.Replace(base, "127.0.0.1", "localhost", 1) }
	want := []string{loc(p1), loc(p2)}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	assert.Equal(t, want, got)

	a := version.DNS{Name: "users.test", Port: int(port(t, users)), Resolver: res}
	peers, err = a.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, peers, 1)
	assert.Equal(t, users, peers[0].Source)

	// A and AAAA records together; an IPv6 address is bracketed.
	peers, err = version.DNS{Name: "both.test", Port: 8443, Scheme: "https", Resolver: res}.Peers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []version.Peer{{Source: "https://10.0.0.7:8443/"}, {Source: "https://[fd00::7]:8443/"}}, peers)

	// End to end: the peers DNS names are negotiated with over HTTP.
	r, err := version.Negotiate(ctx, orders, append(mustPeers(t, srv), mustPeers(t, a)...))
	require.NoError(t, err)
	verdicts := map[string]version.Verdict{}
	for _, p := range r.Peers {
		verdicts[p.Service+" "+p.Version] = p.Verdict
	}
	assert.Equal(t, map[string]version.Verdict{
		"payments 1.4.0": version.Compatible, "payments 2.0.0": version.Incompatible, "users 3.3.3": version.Compatible,
	}, verdicts)

	joined, err := version.Join(srv, a, version.Static{"http://extra/"}).Peers(ctx)
	require.NoError(t, err)
	assert.Len(t, joined, 4)
	assert.Equal(t, "http://extra/", joined[3].Source)
}

func mustPeers(t *testing.T, d version.Discovery) []version.Peer {
	t.Helper()
	p, err := d.Peers(context.Background())
	require.NoError(t, err)
	return p
}

func TestDNSDiscoveryErrors(t *testing.T) {
	res := serveDNS(t, dnsZone{srv: map[string][]dnsmessage.SRVResource{
		"_rollsafe._tcp.gone.test.": {{Port: 8080, Target: dnsmessage.MustNewName(".")}},
	}})
	tests := []struct {
		d       version.DNS
		wantErr string
	}{
		{version.DNS{Name: "_rollsafe._tcp.gone.test", Resolver: res}, "_rollsafe._tcp.gone.test has no records"},
		{version.DNS{Name: "_rollsafe._tcp.nothing.test", Resolver: res}, "SRV _rollsafe._tcp.nothing.test"},
		{version.DNS{Name: "nothing.test", Port: 80, Resolver: res}, "A/AAAA nothing.test"},
		{version.DNS{}, "empty name"},
		{version.DNS{Name: "x.test", Port: 70000}, "port 70000 out of range"},
		{version.DNS{Name: "x.test", Scheme: "ftp"}, `scheme "ftp" is not http or https`},
	}
	for _, tt := range tests {
		_, err := tt.d.Peers(context.Background())
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), tt.wantErr), "%v", err)
	}
	_, err := version.Join(version.Static{"http://a/"}, version.DNS{}).Peers(context.Background())
	assert.ErrorContains(t, err, "discovery 2 of 2")
}
