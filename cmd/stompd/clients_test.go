package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The tests of this file run the clients web apps use, @stomp/stompjs over
// sockjs-client and over a plain WebSocket, in headless Chromium against a
// whole stompd, from a page on another origin (testdata/browser).

// clientTransports are the two ways a stompjs app reaches stompd.
var clientTransports = []string{"sockjs", "ws"}

// clientBrowser is what every client test starts from: Chromium and the
// origin the pages are served from.
func clientBrowser(t *testing.T) (context.Context, string) {
	t.Helper()
	browserBundles(t)
	return newBrowser(t), pageOrigin(t)
}

// eachTransport runs check once per transport, side by side, each with a
// stompd and a page of its own.
func eachTransport(t *testing.T, check func(t *testing.T, transport string)) {
	for _, transport := range clientTransports {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			check(t, transport)
		})
	}
}

// chatOpts are the options of a client on the page (Chat in clients.js).
type chatOpts struct {
	Transport string   `json:"transport"`
	Reconnect int      `json:"reconnect"` // ms; 0 never reconnects
	Subscribe []string `json:"subscribe,omitempty"`
	Refresh   bool     `json:"refresh,omitempty"`
	Token     string   `json:"token,omitempty"`
	Ticket    string   `json:"ticket,omitempty"`
}

// loggedInPage starts a stompd that allows origin, with extra flags, and
// opens a page on origin where ada has logged in, with the refresh token
// in the cookie.
func loggedInPage(t *testing.T, browser context.Context, origin string, flags ...string) (*testServer, *clientPage) {
	t.Helper()
	ts := startServer(t, append([]string{"--allowed-origins", origin}, flags...)...)
	p := openClientPage(t, browser, origin, ts.url)
	ada := ts.users["ada"]
	if pageCall[string](p, "login", ada.email, ada.password) == "" {
		t.Fatalf("login from the page failed: %+v", p.events())
	}
	return ts, p
}

const clientTopic = "/topic/lobby"

// chatClient opens a client named chat subscribed to the lobby and waits
// until it is connected.
func chatClient(p *clientPage, opts chatOpts) pageEvent {
	p.t.Helper()
	opts.Subscribe = []string{clientTopic}
	p.call("open", "chat", opts)
	return p.waitEvent("chat", "connected", 1)
}

// chatRoundTrip publishes body to the lobby with a Bearer header and waits for
// it to come back as the client's nth MESSAGE.
func chatRoundTrip(p *clientPage, body string, n int) pageEvent {
	p.t.Helper()
	p.call("publish", "chat", clientTopic, body, map[string]string{"x-room": "lobby"})
	m := p.waitEvent("chat", "message", n)
	if m.Body != body || m.Headers["x-room"] != "lobby" || m.Headers["destination"] != clientTopic {
		p.t.Errorf("MESSAGE %d: body %q, headers %v; want %q on %s with x-room", n, m.Body, m.Headers, body, clientTopic)
	}
	for name := range m.Headers {
		if strings.EqualFold(name, "authorization") {
			p.t.Errorf("MESSAGE %d forwards the sender's %s header", n, name)
		}
	}
	return m
}

// TestClientsPublishSubscribe: connect with a ticket and a Bearer token,
// subscribe, publish with Bearer, receive without the sender's token.
func TestClientsPublishSubscribe(t *testing.T) {
	browser, origin := clientBrowser(t)
	eachTransport(t, func(t *testing.T, transport string) {
		_, p := loggedInPage(t, browser, origin)
		if c := chatClient(p, chatOpts{Transport: transport, Reconnect: 500}); c.Headers["version"] != "1.2" {
			t.Errorf("CONNECTED headers %v, want version 1.2", c.Headers)
		}
		chatRoundTrip(p, "hello ✓ from "+transport, 1)
	})
}

// upgradeRefused is how Chromium logs a WebSocket upgrade answered with
// an HTTP error: 401 reads "HTTP Authentication failed", 403 names its code.
func upgradeRefused(status string) string {
	const prefix = `^error: WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws[^']*' failed: `
	if status == "401" {
		return prefix + `HTTP Authentication failed; no valid credentials available$`
	}
	return prefix + `Error during WebSocket handshake: Unexpected response code: ` + status + `$`
}

// TestClientsReplayedTicket: a second connection with a ticket already
// used fails at the upgrade, before any CONNECTED, and the first
// connection goes on.
func TestClientsReplayedTicket(t *testing.T) {
	browser, origin := clientBrowser(t)
	eachTransport(t, func(t *testing.T, transport string) {
		_, p := loggedInPage(t, browser, origin)
		chatClient(p, chatOpts{Transport: transport})
		p.expectConsole(upgradeRefused("401"))
		p.call("open", "replay", chatOpts{
			Transport: transport,
			Ticket:    pageCall[string](p, "ticketOf", "chat"),
			Token:     pageCall[string](p, "tokenOf", "chat"),
		})
		p.waitEvent("replay", "ws-close", 1)
		if n := p.count("replay", "connected"); n != 0 {
			t.Errorf("replayed ticket: %d CONNECTED", n)
		}
		if !p.sawConsole(upgradeRefused("401")) {
			t.Error("the replayed ticket's upgrade was not answered 401")
		}
		chatRoundTrip(p, "first connection unharmed", 1)
	})
}

// TestClientsForeignOrigin: a page on an origin stompd does not allow can
// neither log in (CORS refuses it) nor connect with a valid ticket. Over
// SockJS the client stops at /ws/info, which CORS refuses too; a bare
// WebSocket at SockJS's websocket path is refused with 403 as at /ws.
func TestClientsForeignOrigin(t *testing.T) {
	browser, origin := clientBrowser(t)
	foreign := pageOrigin(t)
	eachTransport(t, func(t *testing.T, transport string) {
		ts := startServer(t, "--allowed-origins", origin)
		p := openClientPage(t, browser, foreign, ts.url)
		corsRefused := func(path string) string {
			return `^error: Access to (fetch|XMLHttpRequest) at '` + regexp.QuoteMeta(ts.url) + path + `' from origin '` +
				regexp.QuoteMeta(foreign) + `' has been blocked by CORS policy: `
		}
		infoRefused := corsRefused(`/ws/info\?ticket=[^']*`)
		p.expectConsole(corsRefused(`/auth/login`))
		p.expectConsole(infoRefused)
		p.expectConsole(`^error: Failed to load resource: net::ERR_FAILED$`)
		p.expectConsole(upgradeRefused("403"))

		ada := ts.users["ada"]
		if tok := pageCall[string](p, "login", ada.email, ada.password); tok != "" {
			t.Errorf("login from %s succeeded", foreign)
		}
		if e := p.waitEvent("page", "login-failed", 1); !strings.Contains(e.Error, "Failed to fetch") {
			t.Errorf("login from %s: %q, want a fetch refused by CORS", foreign, e.Error)
		}
		tok := ts.login(t, "ada")
		p.call("open", "chat", chatOpts{Transport: transport, Ticket: ts.ticket(t, tok.Access), Token: tok.Access})
		p.waitEvent("chat", "ws-close", 1)
		if n := p.count("chat", "connected"); n != 0 {
			t.Errorf("foreign origin: %d CONNECTED", n)
		}
		if transport == "sockjs" {
			if !p.sawConsole(infoRefused) {
				t.Error("SockJS's /ws/info was not refused by CORS")
			}
			p.call("probe", "/ws/000/abcdefgh/websocket?ticket="+ts.ticket(t, tok.Access))
			p.waitEvent("probe", "ws-close", 1)
			if p.count("probe", "open") != 0 {
				t.Error("SockJS websocket path upgraded a foreign origin")
			}
		}
		if !p.sawConsole(upgradeRefused("403")) {
			t.Error("the foreign origin's upgrade was not answered 403")
		}
	})
}

// TestClientsTokenExpired: a client that never refreshes gets ERROR
// code:token-expired, message:token expired when its access token
// expires, and is closed.
func TestClientsTokenExpired(t *testing.T) {
	browser, origin := clientBrowser(t)
	eachTransport(t, func(t *testing.T, transport string) {
		_, p := loggedInPage(t, browser, origin, "--access-ttl", "3s")
		chatClient(p, chatOpts{Transport: transport})
		e := p.waitEvent("chat", "stomp-error", 1)
		if e.Headers["code"] != "token-expired" || e.Headers["message"] != "token expired" {
			t.Errorf("ERROR headers %v, want code:token-expired and message:token expired", e.Headers)
		}
		p.waitEvent("chat", "ws-close", 1)
		if n := p.count("chat", "connected"); n != 1 {
			t.Errorf("%d CONNECTED, want 1", n)
		}
	})
}

// TestClientsReconnectAfterRestart: stompjs's automatic reconnect, with
// beforeConnect fetching a fresh token and ticket, recovers once stompd is
// back on the same address and data dir.
func TestClientsReconnectAfterRestart(t *testing.T) {
	browser, origin := clientBrowser(t)
	eachTransport(t, func(t *testing.T, transport string) {
		ts, p := loggedInPage(t, browser, origin)
		chatClient(p, chatOpts{Transport: transport, Reconnect: 500})
		chatRoundTrip(p, "before the restart", 1)

		// While stompd is down, the token fetch is refused.
		p.expectConsole(`^error: Failed to load resource: net::ERR_CONNECTION_REFUSED$`)
		if err := ts.stop(); err != nil {
			t.Fatalf("stopping stompd: %v", err)
		}
		if e := p.waitEvent("chat", "stomp-error", 1); e.Headers["code"] != "server-shutdown" {
			t.Errorf("ERROR on shutdown: headers %v, want code:server-shutdown", e.Headers)
		}
		p.waitEvent("chat", "ws-close", 1)
		p.waitEvent("chat", "fetch-failed", 1)
		startAgain(t, ts, "--allowed-origins", origin)
		p.waitEvent("chat", "connected", 2)
		chatRoundTrip(p, "after the restart", 2)
	})
}

// TestClientsRefreshInBand: a client that refreshes over HTTP and hands the
// new token to its session with a SEND to /sys/auth/refresh keeps the same
// connection past its first token's expiry.
func TestClientsRefreshInBand(t *testing.T) {
	browser, origin := clientBrowser(t)
	eachTransport(t, func(t *testing.T, transport string) {
		_, p := loggedInPage(t, browser, origin, "--access-ttl", "4s")
		first := chatClient(p, chatOpts{Transport: transport, Reconnect: 500, Refresh: true})
		if r := p.waitEvent("chat", "refreshed", 1); r.Exp <= first.Exp {
			t.Errorf("refreshed token expires at %d, the first at %d", r.Exp, first.Exp)
		}
		p.waitFor("the first token's expiry", fmt.Sprintf("Date.now() > %d", (first.Exp+1)*1000))
		chatRoundTrip(p, "after the first token expired", 1)
		for _, typ := range []string{"stomp-error", "ws-close", "refresh-failed"} {
			if n := p.count("chat", typ); n != 0 {
				t.Errorf("%d %s events: %+v", n, typ, p.events())
			}
		}
		if n := p.count("chat", "connected"); n != 1 {
			t.Errorf("%d CONNECTED, want 1 (no reconnect)", n)
		}
	})
}
