package version

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Discovery finds the peers to negotiate with. Peers must return every peer
// it knows of, or an error when it could not look; it is called once per
// negotiation round and must honour ctx.
type Discovery interface {
	Peers(ctx context.Context) ([]Peer, error)
}

// Static is a fixed list of peer URLs (base URLs or manifest URLs, see
// [ManifestURL]). A nil Static has no peers.
type Static []string

// Peers returns the URLs as peers.
func (s Static) Peers(context.Context) ([]Peer, error) { return URLs(s...), nil }

// DiscoveryFunc adapts a function to [Discovery].
type DiscoveryFunc func(ctx context.Context) ([]Peer, error)

// Peers calls f.
func (f DiscoveryFunc) Peers(ctx context.Context) ([]Peer, error) { return f(ctx) }

// Join returns a Discovery that asks each of ds in turn and concatenates
// their peers. It fails if any of them fails, naming which.
func Join(ds ...Discovery) Discovery {
	return DiscoveryFunc(func(ctx context.Context) ([]Peer, error) {
		var all []Peer
		for i, d := range ds {
			ps, err := d.Peers(ctx)
			if err != nil {
				return nil, fmt.Errorf("version: discovery %d of %d: %w", i+1, len(ds), err)
			}
			all = append(all, ps...)
		}
		return all, nil
	})
}

// DNS finds peers in DNS: with Port zero, by an SRV lookup of Name (each
// target and port is a peer); otherwise by an A/AAAA lookup of Name (each
// address, with Port, is a peer). Each peer becomes the base URL
// Scheme://host:port/, to which the manifest path is appended.
type DNS struct {
	// Name is the SRV name ("_rollsafe._tcp.payments.internal") or, with a
	// Port, the host name ("payments.internal"). Required.
	Name string
	// Port, when not zero, selects an A/AAAA lookup with this port.
	Port int
	// Scheme is "http" or "https"; empty means "http".
	Scheme string
	// Resolver does the lookups; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

var _ Discovery = DNS{}

// Peers looks the name up. A name with no records is an error (a typo would
// otherwise read as "no peers, all compatible"), and so is one whose only
// SRV target is "." (RFC 2782: the service is not available).
func (d DNS) Peers(ctx context.Context) ([]Peer, error) {
	if d.Name == "" {
		return nil, errors.New("version: dns discovery: empty name")
	}
	if d.Port < 0 || d.Port > 65535 {
		return nil, fmt.Errorf("version: dns discovery %s: port %d out of range", d.Name, d.Port)
	}
	scheme := d.Scheme
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("version: dns discovery %s: scheme %q is not http or https", d.Name, d.Scheme)
	}
	res := d.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	var hostports []string
	if d.Port == 0 {
		_, srvs, err := res.LookupSRV(ctx, "", "", d.Name)
		if err != nil {
			return nil, fmt.Errorf("version: dns discovery: SRV %s: %w", d.Name, err)
		}
		for _, s := range srvs {
			host := strings.TrimSuffix(s.Target, ".")
			if host == "" {
				// RFC 2782: a target of "." means the service is decidedly
				// not available there; it is no peer to ask.
				continue
			}
			hostports = append(hostports, net.JoinHostPort(host, strconv.Itoa(int(s.Port))))
		}
	} else {
		addrs, err := res.LookupIPAddr(ctx, d.Name)
		if err != nil {
			return nil, fmt.Errorf("version: dns discovery: A/AAAA %s: %w", d.Name, err)
		}
		for _, a := range addrs {
			hostports = append(hostports, net.JoinHostPort(a.IP.String(), strconv.Itoa(d.Port)))
		}
	}
	if len(hostports) == 0 {
		return nil, fmt.Errorf("version: dns discovery: %s has no records", d.Name)
	}
	sort.Strings(hostports)
	peers := make([]Peer, len(hostports))
	for i, hp := range hostports {
		peers[i] = Peer{Source: scheme + "://" + hp + "/"}
	}
	return peers, nil
}
