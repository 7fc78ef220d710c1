package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of reverse proxies (nginx, a load balancer)
// whose X-Forwarded-For header is believed. The zero value trusts nobody:
// every client is its TCP peer. It is not changed after parsing, and is
// safe for concurrent use.
type TrustedProxies struct {
	ranges []netip.Prefix
}

// ParseTrustedProxies reads ranges in CIDR notation ("10.0.0.0/8",
// "2001:db8::/32") or single addresses ("127.0.0.1", "::1"). An error
// names the first entry that is neither.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	p := TrustedProxies{ranges: make([]netip.Prefix, 0, len(list))}
	for _, s := range list {
		r, err := parseRange(s)
		if err != nil {
			return TrustedProxies{}, fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
		}
		p.ranges = append(p.ranges, r)
	}
	return p, nil
}

func parseRange(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	r, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := r.Addr(); a.Is4In6() && r.Bits() >= 96 {
		r = netip.PrefixFrom(a.Unmap(), r.Bits()-96)
	}
	return r.Masked(), nil
}

// TrustsAny reports whether a range holds every address of its family, so
// that any client may choose the address it is counted under.
func (p TrustedProxies) TrustsAny() bool {
	for _, r := range p.ranges {
		if r.Bits() == 0 {
			return true
		}
	}
	return false
}

// ClientAddress returns the IP address of the client that sent r, without
// a port. The zero TrustedProxies's is the TCP peer's. It is the TCP peer's, unless the peer is a trusted proxy: then
// X-Forwarded-For is read from the right (the entry the peer appended)
// leftwards, all of its header lines in order as one list, skipping the
// entries that are trusted proxies themselves, and the first one that is
// not is the client; when every entry is trusted, the leftmost is. An entry
// may carry a port ("192.0.2.1:4711", "[2001:db8::1]:4711"). A malformed
// entry met on the way, or no header at all, leaves the peer's address.
// This is nginx's realip with real_ip_recursive on.
func (p TrustedProxies) ClientAddress(r *http.Request) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return hostOf(r.RemoteAddr)
	}
	if p.trusts(peer) {
		if client, ok := p.forwardedFor(r.Header.Values("X-Forwarded-For")); ok {
			return client.String()
		}
	}
	return peer.String()
}

// Scheme returns the scheme ("http" or "https") the client used for r:
// https over TLS, http otherwise, unless the TCP peer is a trusted proxy
// whose request carries exactly one X-Forwarded-Proto line saying http or
// https: then that. Several lines, a list or another value are ignored, as
// is the header of a peer that is not trusted, so a client cannot choose.
func (p TrustedProxies) Scheme(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	forwarded := r.Header.Values("X-Forwarded-Proto")
	if len(forwarded) != 1 {
		return scheme
	}
	if peer, ok := parseHop(r.RemoteAddr); !ok || !p.trusts(peer) {
		return scheme
	}
	switch v := strings.ToLower(strings.TrimSpace(forwarded[0])); v {
	case "http", "https":
		return v
	}
	return scheme
}

// forwardedFor walks X-Forwarded-For's entries from the right, in place.
func (p TrustedProxies) forwardedFor(lines []string) (netip.Addr, bool) {
	var client netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		for rest, more := lines[i], true; more; {
			var entry string
			rest, entry, more = cutLast(rest)
			hop, ok := parseHop(entry)
			if !ok {
				return netip.Addr{}, false
			}
			if client = hop; !p.trusts(hop) {
				return hop, true
			}
		}
	}
	return client, client.IsValid()
}

// cutLast splits s around its last comma; more is false when it has none.
func cutLast(s string) (before, last string, more bool) {
	i := strings.LastIndexByte(s, ',')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

func (p TrustedProxies) trusts(a netip.Addr) bool {
	for _, r := range p.ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads an address, with or without a port, as one address per
// host: IPv4-mapped IPv6 as IPv4, without an IPv6 zone.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// hostOf is the host of addr, or addr itself when it has no port.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
