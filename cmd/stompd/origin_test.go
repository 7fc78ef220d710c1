package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestSameOriginComparesScheme checks that same-origin means the same
// scheme, host and port: a server on http:// refuses Origin https:// of its
// own host:port on /ws, on the SockJS paths and on /auth/*, and believes an
// X-Forwarded-Proto only from a trusted proxy.
func TestSameOriginComparesScheme(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		origin    string // with %s for host:port
		forwarded string // X-Forwarded-Proto
		allowed   bool
	}{
		{"same origin", nil, "http://%s", "", true},
		{"https origin to an http server", nil, "https://%s", "", false},
		{"https origin, forwarded by an untrusted peer", nil, "https://%s", "https", false},
		{"https origin, forwarded by a trusted proxy", []string{"--trusted-proxies", "127.0.0.1"}, "https://%s", "https", true},
		{"http origin, forwarded as https by a trusted proxy", []string{"--trusted-proxies", "127.0.0.1"}, "http://%s", "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.flags...)
			origin := strings.Replace(tt.origin, "%s", strings.TrimPrefix(ts.url, "http://"), 1)
			tok := ts.login(t, "ada")
			h := upgradeHeader()
			h.Set("Origin", origin)
			if tt.forwarded != "" {
				h.Set("X-Forwarded-Proto", tt.forwarded)
			}
			want := http.StatusForbidden
			if tt.allowed {
				want = http.StatusSwitchingProtocols
			}
			if r := request(t, "GET", ts.url+"/ws?ticket="+ts.ticket(t, tok.Access), h); r.status != want {
				t.Errorf("/ws: %d, want %d", r.status, want)
			}
			if r := request(t, "GET", ts.url+"/ws/1/a/websocket?ticket="+ts.ticket(t, tok.Access), h); r.status != want {
				t.Errorf("SockJS websocket: %d, want %d", r.status, want)
			}
			want = http.StatusForbidden
			if tt.allowed {
				want = http.StatusOK
			}
			h = http.Header{"Origin": {origin}, "Authorization": {"Bearer " + tok.Access}}
			if tt.forwarded != "" {
				h.Set("X-Forwarded-Proto", tt.forwarded)
			}
			if r := request(t, "POST", ts.url+"/auth/ticket", h); r.status != want {
				t.Errorf("/auth/ticket: %d, want %d", r.status, want)
			}
		})
	}
}
