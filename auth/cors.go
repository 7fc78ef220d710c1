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

// allows reports whether a request from origin may reach a server whose own
// origin is self (normalised): origin is self, or on the list.
func (o *Origins) allows(origin, self string) bool {
	if o != nil && o.any {
		return true
	}
	n, ok := normalizeOrigin(origin)
	return ok && (n == self || (o != nil && o.allowed[n]))
}

// requestScheme is the default Options.Scheme: https over TLS, http
// otherwise.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// checkOrigin refuses a request whose Origin is neither the server's own
// (the same scheme, host and port, per Options.Scheme and the Host header)
// nor on the Options.Origins list. A request without Origin is not a
// browser's and passes.
func (s *Service) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	self, _ := normalizeOrigin(s.opts.Scheme(r) + "://" + r.Host)
	if s.opts.Origins.allows(origin, self) {
		return nil
	}
	return ErrOriginNotAllowed.with(reasonOrigin, "origin "+truncate(origin, 200)+" is not allowed")
}

// CheckOrigin reports whether a WebSocket upgrade request may proceed: it
// has no Origin (not a browser), or the server's own, or one on the list.
// A refusal is counted at the upgrade stage.
func (s *Service) CheckOrigin(r *http.Request) bool {
	err := s.checkOrigin(r)
	if err != nil {
		s.record(stageUpgrade, err)
	}
	return err == nil
}

// UpgradeCORS wraps the handler of the SockJS endpoints with CORS (see
// cors); a refusal is counted at the upgrade stage.
func (s *Service) UpgradeCORS(next http.Handler) http.Handler {
	return s.cors(next, func(err error) { s.record(stageUpgrade, err) })
}

// cors wraps next with CORS for credentialed requests from allowed origins:
// it echoes the Origin with Access-Control-Allow-Credentials: true, always
// sets Vary: Origin, answers preflight OPTIONS itself (204, allowing GET,
// POST and OPTIONS with the Authorization and Content-Type headers), and
// refuses a request from an origin not allowed (see checkOrigin) with 403
// before next sees it, so a foreign page cannot make it have effects.
// refused, when not nil, is told of every refusal.
func (s *Service) cors(next http.Handler, refused func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.checkOrigin(r); err != nil {
			if refused != nil {
				refused(err)
			}
			writeError(w, err)
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
