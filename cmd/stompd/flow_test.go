package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestBrowserFlowOverWebSocket walks the flow a browser chat app performs,
// steps 1 to 8 of the auth issue, against the whole server.
func TestBrowserFlowOverWebSocket(t *testing.T) {
	ts := startServer(t, "--access-ttl", "4s")
	ada := ts.users["ada"]

	// 1. Login.
	tok := ts.login(t, "ada")
	if tok.Type != "Bearer" || tok.ExpiresIn != 4 {
		t.Errorf("login: token_type %q expires_in %d", tok.Type, tok.ExpiresIn)
	}
	// 2, 3. Ticket, single use, then the upgrade.
	ticket := ts.ticket(t, tok.Access)
	sub, status := dialWS(t, ts.wsURL+"?ticket="+ticket, nil)
	if sub == nil {
		t.Fatalf("upgrade with a fresh ticket: %d", status)
	}
	if _, status := dialWS(t, ts.wsURL+"?ticket="+ticket, nil); status != http.StatusUnauthorized {
		t.Errorf("replayed ticket: status %d, want 401", status)
	}
	if _, status := dialWS(t, ts.wsURL+"?ticket="+ts.ticket(t, tok.Access), http.Header{"Origin": {"https://evil.example"}}); status != http.StatusForbidden {
		t.Errorf("foreign origin: status %d, want 403", status)
	}
	// 4. CONNECT with the Bearer token.
	connected := sub.Connect("Authorization:Bearer " + tok.Access)
	if connected.Value("version") != "1.2" {
		t.Errorf("CONNECTED version %q", connected.Value("version"))
	}
	// 5. SUBSCRIBE, and a SEND from another user carrying its own
	// Authorization, which is verified and never forwarded.
	sub.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/chat", "receipt:r1")
	sub.Expect(stomp.RECEIPT)
	sub.Send(stomp.SUBSCRIBE, "", "id:2", "destination:/user/queue/dm", "receipt:r2")
	sub.Expect(stomp.RECEIPT)
	bobTok := ts.login(t, "bob")
	pub := ts.connectTCP(t, bobTok.Access)
	pub.Send(stomp.SEND, "hello ✓", "destination:/topic/chat", "Authorization:Bearer "+bobTok.Access, "x-room:lobby")
	pub.Send(stomp.SEND, "direct", "destination:/user/"+ada.id+"/queue/dm", "receipt:s2")
	pub.Expect(stomp.RECEIPT)
	msg := sub.Expect(stomp.MESSAGE)
	if string(msg.Body) != "hello ✓" || msg.Value("x-room") != "lobby" || msg.Has("Authorization") {
		t.Errorf("MESSAGE body %q, headers %v", msg.Body, msg.Headers)
	}
	if dm := sub.Expect(stomp.MESSAGE); string(dm.Body) != "direct" || dm.Value("subscription") != "2" {
		t.Errorf("direct message: %q on subscription %q", dm.Body, dm.Value("subscription"))
	}
	// Bob may not subscribe to Ada's user destination.
	pub.Send(stomp.SUBSCRIBE, "", "id:9", "destination:/user/"+ada.id+"/queue/dm")
	pub.ExpectError("forbidden", "another user")

	// 6. In-band refresh moves the session's deadline; without it a
	// session ends with token-expired even though it sends nothing.
	idle := ts.connectWS(t, tok.Access)
	time.Sleep(2 * time.Second) // a later exp, so a longer-lived token
	fresh := ts.refresh(t, tok.Refresh)
	sub.Send(stomp.SEND, "", "destination:/sys/auth/refresh", "Authorization:Bearer "+fresh.Access, "receipt:refresh")
	if r := sub.Expect(stomp.RECEIPT); r.Value("receipt-id") != "refresh" {
		t.Errorf("refresh receipt %q", r.Value("receipt-id"))
	}
	idle.ExpectError("token-expired", "token expired")
	// The refreshed session outlived its first token.
	pub2 := ts.connectTCP(t, ts.login(t, "bob").Access)
	pub2.Send(stomp.SEND, "still here", "destination:/topic/chat")
	if m := sub.Expect(stomp.MESSAGE); string(m.Body) != "still here" {
		t.Errorf("after refresh: %q", m.Body)
	}

	// 7. Rotation: the old refresh token no longer works; reusing it revokes
	// the family, so the newest token fails too.
	if resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, nil); resp.StatusCode != 401 {
		t.Errorf("reused refresh token: %d, want 401", resp.StatusCode)
	}
	if resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": fresh.Refresh}, nil); resp.StatusCode != 401 {
		t.Errorf("descendant of a reused token: %d, want 401", resp.StatusCode)
	}
	// Reuse ended the login: its live session is closed.
	sub.ExpectError("session-revoked", "session revoked")
}

func (ts *testServer) refresh(t testing.TB, refresh string) tokens {
	t.Helper()
	var tok tokens
	resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": refresh}, &tok)
	if resp.StatusCode != 200 || tok.Refresh == "" || tok.Refresh == refresh {
		t.Fatalf("refresh: status %d, rotated %v", resp.StatusCode, tok.Refresh != refresh)
	}
	return tok
}

// TestLogoutEndsTheLogin checks logout over both transports: the family is
// revoked, the access token and tickets of that login stop working, its
// live sessions get ERROR session-revoked, and other logins are untouched.
func TestLogoutEndsTheLogin(t *testing.T) {
	ts := startServer(t)
	tok, other := ts.login(t, "ada"), ts.login(t, "ada")
	tcp, ws, kept := ts.connectTCP(t, tok.Access), ts.connectWS(t, tok.Access), ts.connectTCP(t, other.Access)
	spare := ts.ticket(t, tok.Access)

	resp := httpJSON(t, "POST", ts.url+"/auth/logout", map[string]string{"refresh_token": tok.Refresh}, nil, "Authorization", "Bearer "+tok.Access)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	tcp.ExpectError("session-revoked", "session revoked")
	ws.ExpectError("session-revoked", "session revoked")
	if _, status := dialWS(t, ts.wsURL+"?ticket="+spare, nil); status != http.StatusUnauthorized {
		t.Errorf("ticket of a logged-out login: %d", status)
	}
	for _, path := range []string{"/auth/ticket", "/auth/logout"} {
		var e apiError
		if resp := httpJSON(t, "POST", ts.url+path, nil, &e, "Authorization", "Bearer "+tok.Access); resp.StatusCode != 401 {
			t.Errorf("%s with a logged-out token: %d %+v", path, resp.StatusCode, e)
		}
	}
	if resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, nil); resp.StatusCode != 401 {
		t.Errorf("refresh after logout: %d", resp.StatusCode)
	}
	again := stomptest.Dial(t, ts.stompAddr)
	again.Send(stomp.CONNECT, "", "accept-version:1.2", "host:x", "Authorization:Bearer "+tok.Access)
	again.ExpectError("session-revoked", "session revoked")
	// The other login of the same user goes on.
	kept.Send(stomp.SEND, "", "destination:/topic/x", "receipt:k")
	kept.Expect(stomp.RECEIPT)
}

// TestRefreshCookie checks that a browser's refresh token can live in an
// HttpOnly cookie scoped to /auth, never in the page.
func TestRefreshCookie(t *testing.T) {
	ts := startServer(t)
	u := ts.users["ada"]
	var tok tokens
	resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]any{"email": u.email, "password": u.password, "use_cookie": true}, &tok)
	if resp.StatusCode != 200 || tok.Refresh != "" {
		t.Fatalf("login with use_cookie: %d, refresh token in body: %v", resp.StatusCode, tok.Refresh != "")
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "stompd_refresh" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.Path != "/auth" || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("refresh cookie: %+v", cookie)
	}
	var next tokens
	resp = httpJSON(t, "POST", ts.url+"/auth/refresh", nil, &next, "Cookie", cookie.String())
	if resp.StatusCode != 200 || next.Access == "" {
		t.Fatalf("refresh from the cookie: %d", resp.StatusCode)
	}
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "stompd_refresh=") {
		t.Error("refresh did not rotate the cookie")
	}
}

// TestSockJSEndpoint checks the SockJS info endpoint answers CORS for an
// allowed origin without a ticket, and that its websocket path checks the
// ticket as /ws does.
func TestSockJSEndpoint(t *testing.T) {
	ts := startServer(t, "--allowed-origins", "http://app.example:3000")
	req, _ := http.NewRequest("GET", ts.url+"/ws/info?ticket=unused", nil)
	req.Header.Set("Origin", "http://app.example:3000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example:3000" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("/ws/info: %d, CORS %q %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"))
	}
	sockURL := strings.Replace(ts.wsURL, "/ws", "/ws/123/abc/websocket", 1)
	if _, status := dialWS(t, sockURL+"?ticket=nope", nil); status != http.StatusUnauthorized {
		t.Errorf("SockJS websocket with a bad ticket: %d", status)
	}
	tok := ts.login(t, "ada")
	p, status := dialWS(t, sockURL+"?ticket="+ts.ticket(t, tok.Access), http.Header{"Origin": {"http://app.example:3000"}})
	if p == nil {
		t.Fatalf("SockJS websocket with a ticket: %d", status)
	}
	if b, err := p.ReadBytes(); err != nil || string(b) != "o" {
		t.Errorf("SockJS open frame: %q %v", b, err)
	}
}
