package auth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Origins is the allow-list of browser origins (--allowed-origins). The
// zero value allows same-origin requests only. It is immutable and safe for
// concurrent use.
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
			return nil, fmt.Errorf("auth: allowed origin %q is not of the form scheme://host[:port]", s)
		}
		o.allowed[n] = true
	}
	return o, nil
}

// AllowsAny reports whether the list contains "*".
func (o *Origins) AllowsAny() bool { return o != nil && o.any }

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

// Check reports whether r may proceed: it has no Origin header (not a
// browser), or its Origin's host:port equals r.Host (same origin), or the
// Origin is on the list.
func (o *Origins) Check(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	return o.allows(origin, r.Host)
}

func (o *Origins) allows(origin, host string) bool {
	if o != nil && o.any {
		return true
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	n, ok := normalizeOrigin(origin)
	return ok && o != nil && o.allowed[n]
}

// CORS wraps next with CORS for credentialed requests from allowed origins:
// it echoes the Origin with Access-Control-Allow-Credentials: true, always
// sets Vary: Origin, answers preflight OPTIONS itself (204, allowing GET,
// POST and OPTIONS with the Authorization and Content-Type headers), and
// refuses a request from an origin not on the list with 403 before next
// sees it, so a foreign page cannot make it have effects.
func (o *Origins) CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !o.allows(origin, r.Host) {
			writeError(w, ErrOriginNotAllowed.with(reasonOrigin, "origin "+origin+" is not allowed"))
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
