// Package localhost says whether an HTTP request comes from this host, for
// the pages and admin routes that serve only the people on it.
package localhost

import (
	"net"
	"net/http"
	"strings"
)

// Request says whether r comes from a loopback address and names this host
// in its Host header: a page of another site whose own name resolves to
// 127.0.0.1 (DNS rebinding) sends that name, and is refused.
func Request(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !isLoopback(host) {
		return false
	}
	return Name(HostName(r))
}

// HostName is the host name of r's Host header as [Canonical] writes it,
// without its port.
func HostName(r *http.Request) string {
	name, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		name = r.Host
	}
	return Canonical(name)
}

// Canonical writes a host name the one way two names of the same host
// compare equal: lower-case, without the brackets of an IPv6 address or
// the trailing dot of a fully qualified name.
func Canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
}

// Name says whether a host name names this host: localhost or a loopback
// address.
func Name(name string) bool {
	return name == "localhost" || isLoopback(name)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
