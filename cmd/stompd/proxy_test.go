package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLoginThrottleBehindProxy fails 30 logins from one client, the
// per-address limit, and then tries the right password from that client
// and from another. Through a trusted proxy (the test's own 127.0.0.1) the
// clients are told apart by X-Forwarded-For; from a peer that is not
// trusted the header is ignored and both are the peer.
func TestLoginThrottleBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name, trusted string
		other         int // status of the other client's good login
	}{
		{"trusted proxy", "127.0.0.1/32,10.0.0.0/8", http.StatusOK},
		{"untrusted peer", "10.0.0.0/8", http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, "--trusted-proxies", tc.trusted)
			login := func(u *testUser, password, client string) int {
				t.Helper()
				body := map[string]string{"email": u.email, "password": password}
				return httpJSON(t, "POST", ts.url+"/auth/login", body, nil, "X-Forwarded-For", "10.9.9.9, "+client+", 10.1.1.1").StatusCode
			}
			// 5 failures lock an account: 6 accounts make the 30 of one address.
			for i := range 6 {
				u := ts.addUser(t, fmt.Sprintf("victim%d@example.com", i), "right password")
				for range 5 {
					if got := login(u, "wrong password", "198.51.100.1"); got != http.StatusUnauthorized {
						t.Fatalf("failed login: status %d, want 401", got)
					}
				}
			}
			ada := ts.users["ada"]
			if got := login(ada, ada.password, "198.51.100.1"); got != http.StatusTooManyRequests {
				t.Errorf("client A after 30 failures: status %d, want 429", got)
			}
			if got := login(ada, ada.password, "198.51.100.2"); got != tc.other {
				t.Errorf("client B: status %d, want %d", got, tc.other)
			}
		})
	}
}

// TestWebSocketLogsForwardedClient checks that a WebSocket session through
// a trusted proxy is logged under the forwarded client's address.
func TestWebSocketLogsForwardedClient(t *testing.T) {
	ts := startServer(t, "--trusted-proxies", "127.0.0.1")
	tok := ts.login(t, "ada")
	p, status := dialWS(t, ts.wsURL+"?ticket="+ts.ticket(t, tok.Access), http.Header{"X-Forwarded-For": {"2001:db8::7"}})
	if p == nil {
		t.Fatalf("upgrade: status %d", status)
	}
	p.Connect("Authorization:Bearer " + tok.Access) // the open line is logged before CONNECT is read
	if want := `msg="connection open" transport=websocket remote=2001:db8::7`; !strings.Contains(ts.logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, ts.logs.String())
	}
}
