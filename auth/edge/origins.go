package edge

import (
	"fmt"
	"net/url"
	"strings"
)

// Origins is the allow-list of browser origins (--allowed-origins). The
// zero value, and nil, allow same-origin requests only. It is immutable and
// safe for concurrent use.
type Origins struct {
	any     bool
	allowed map[string]bool // normalised "scheme://host:port"
}

// ParseOrigins builds an allow-list from full origins such as
// "https://app.example.com:3000" (default ports may be left out), or "*"
// for any origin. Empty entries are ignored.
func ParseOrigins(list []string) (*Origins, error) {
	o := &Origins{allowed: make(map[string]bool)}
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch s {
		case "":
			continue
		case "*":
			o.any = true
			continue
		}
		n, ok := normalizeOrigin(s)
		if !ok {
			return nil, fmt.Errorf("allowed origin %q is not of the form scheme://host[:port]", s)
		}
		o.allowed[n] = true
	}
	return o, nil
}

// AllowsAny reports whether the list contains "*".
func (o *Origins) AllowsAny() bool { return o != nil && o.any }

// Allows reports whether a page of origin may reach a server that the
// client reached as scheme://host: origin is the server's own (the same
// scheme, host and port, default ports dropped on both sides) or on the
// list.
func (o *Origins) Allows(origin, scheme, host string) bool {
	if o != nil && o.any {
		return true
	}
	self, _ := normalizeOrigin(scheme + "://" + host)
	n, ok := normalizeOrigin(origin)
	return ok && (n == self || (o != nil && o.allowed[n]))
}

// normalizeOrigin lowercases an origin and drops its default port.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + bracketIPv6(host), true
	}
	return scheme + "://" + bracketIPv6(host) + ":" + port, true
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
