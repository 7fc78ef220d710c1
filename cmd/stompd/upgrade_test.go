package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// upgradeHeader is a valid WebSocket handshake's headers.
func upgradeHeader() http.Header {
	return http.Header{
		"Connection":             {"Upgrade"},
		"Upgrade":                {"websocket"},
		"Sec-Websocket-Version":  {"13"},
		"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Protocol": {"v12.stomp"},
	}
}

// refusal is what the server answered a request it refused.
type refusal struct {
	status      int
	contentType string
	body        apiError
	raw         string
}

// request sends a request with the given method and headers to url (an
// http:// or ws:// URL) and returns the answer; a 101 is closed at once.
func request(t testing.TB, method, url string, header http.Header) refusal {
	t.Helper()
	req, err := http.NewRequest(method, strings.Replace(url, "ws://", "http://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := refusal{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return r
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	r.raw = b.String()
	json.Unmarshal([]byte(r.raw), &r.body)
	return r
}

// check fails unless r is a JSON error answer with the given status.
func (r refusal) check(t testing.TB, what string, status int) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.contentType, "application/json") || r.body.Error == "" || r.body.Message == "" {
		t.Errorf("%s: %d %q %q, want %d with a JSON {error, message}", what, r.status, r.contentType, r.raw, status)
	}
}

// TestMalformedUpgradeKeepsTheTicket checks that an upgrade request that
// cannot succeed is refused before its ticket is spent, on /ws and on the
// SockJS websocket path alike: the same ticket then still opens a
// connection.
func TestMalformedUpgradeKeepsTheTicket(t *testing.T) {
	ts := startServer(t)
	tok := ts.login(t, "ada")
	malformed := []struct {
		name   string
		method string
		edit   func(http.Header)
		status int
	}{
		{"version 99", "GET", func(h http.Header) { h.Set("Sec-Websocket-Version", "99") }, http.StatusBadRequest},
		{"no version", "GET", func(h http.Header) { h.Del("Sec-Websocket-Version") }, http.StatusBadRequest},
		{"no key", "GET", func(h http.Header) { h.Del("Sec-Websocket-Key") }, http.StatusBadRequest},
		{"key not 16 bytes", "GET", func(h http.Header) { h.Set("Sec-Websocket-Key", "c2hvcnQ=") }, http.StatusBadRequest},
		{"not an upgrade", "GET", func(h http.Header) { h.Del("Upgrade") }, http.StatusBadRequest},
		{"POST", "POST", func(http.Header) {}, http.StatusMethodNotAllowed},
		{"foreign origin", "GET", func(h http.Header) { h.Set("Origin", "https://evil.example") }, http.StatusForbidden},
	}
	for _, path := range []string{"/ws", "/ws/123/abc/websocket"} {
		query := path + "?ticket=" + ts.ticket(t, tok.Access)
		for _, m := range malformed {
			h := upgradeHeader()
			m.edit(h)
			request(t, m.method, ts.url+query, h).check(t, path+" "+m.name, m.status)
		}
		if _, status := dialWS(t, strings.TrimSuffix(ts.wsURL, "/ws")+query, nil); status != http.StatusSwitchingProtocols {
			t.Errorf("%s: the ticket after the malformed upgrades: %d, want 101", path, status)
		}
	}
}

// TestConcurrentUpgradesSpendOneTicketOnce checks that a ticket stays single
// use when two valid upgrades race with it: exactly one gets 101.
func TestConcurrentUpgradesSpendOneTicketOnce(t *testing.T) {
	ts := startServer(t)
	tok := ts.login(t, "ada")
	for range 20 {
		url := ts.url + "/ws?ticket=" + ts.ticket(t, tok.Access)
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() { statuses[i] = request(t, "GET", url, upgradeHeader()).status })
		}
		wg.Wait()
		if min(statuses[0], statuses[1]) != http.StatusSwitchingProtocols || max(statuses[0], statuses[1]) != http.StatusUnauthorized {
			t.Fatalf("two upgrades with one ticket: %v, want one 101 and one 401", statuses)
		}
	}
}

// TestUpgradeRefusalsAreJSON checks that every refusal on /ws and the SockJS
// paths is a JSON {"error", "message"} with Content-Type application/json.
func TestUpgradeRefusalsAreJSON(t *testing.T) {
	ts := startServer(t, "--max-connections-per-addr", "1")
	tok := ts.login(t, "ada")
	sockjs := ts.url + "/ws/123/abc/websocket"
	request(t, "GET", ts.url+"/ws", upgradeHeader()).check(t, "no ticket", http.StatusUnauthorized)
	request(t, "GET", ts.url+"/ws?ticket=nope", upgradeHeader()).check(t, "unknown ticket", http.StatusUnauthorized)
	request(t, "GET", sockjs+"?ticket=nope", upgradeHeader()).check(t, "SockJS, unknown ticket", http.StatusUnauthorized)
	request(t, "GET", ts.url+"/ws", nil).check(t, "not an upgrade", http.StatusBadRequest)
	request(t, "POST", sockjs, nil).check(t, "SockJS, POST", http.StatusMethodNotAllowed)
	request(t, "POST", ts.url+"/ws/info", nil).check(t, "SockJS info, POST", http.StatusMethodNotAllowed)
	request(t, "GET", ts.url+"/ws/xhr_streaming", nil).check(t, "SockJS, unknown path", http.StatusNotFound)
	foreign := upgradeHeader()
	foreign.Set("Origin", "https://evil.example")
	request(t, "GET", ts.url+"/ws?ticket=x", foreign).check(t, "foreign origin", http.StatusForbidden)

	first := ts.connectWS(t, tok.Access) // the only connection 127.0.0.1 may have
	request(t, "GET", ts.url+"/ws?ticket="+ts.ticket(t, tok.Access), upgradeHeader()).check(t, "over the per-address limit", http.StatusTooManyRequests)
	first.Send(stomp.DISCONNECT, "")
}

// TestUpgradeOverTheConnectionLimitIsJSON checks the answer to an upgrade
// over the total connection limit.
func TestUpgradeOverTheConnectionLimitIsJSON(t *testing.T) {
	ts := startServer(t, "--max-connections", "1")
	tok := ts.login(t, "ada")
	ts.connectWS(t, tok.Access)
	request(t, "GET", ts.url+"/ws?ticket="+ts.ticket(t, tok.Access), upgradeHeader()).check(t, "over the connection limit", http.StatusServiceUnavailable)
}

// TestWebSocketUpgradeEndToEnd checks the stages of a WebSocket login in
// order: the origin (403), then the ticket (401), then the CONNECT's token,
// whose subject must be the ticket's, answered with CONNECTED or an ERROR
// carrying auth's code and message.
func TestWebSocketUpgradeEndToEnd(t *testing.T) {
	ts := startServer(t, "--allowed-origins", "https://app.example.com:3000")
	ada := ts.login(t, "ada").Access
	bob := ts.login(t, "bob").Access
	tests := []struct {
		name   string
		ticket string
		origin string
		token  string
		status int    // of the upgrade; 101 when it succeeds
		reply  string // the command and the code/message headers of the answer to CONNECT
	}{
		{"ticket and token of ada", ts.ticket(t, ada), "", ada, 101, "CONNECTED"},
		{"allowed origin", ts.ticket(t, ada), "https://app.example.com:3000", ada, 101, "CONNECTED"},
		{"token of another subject", ts.ticket(t, ada), "", bob, 101, "ERROR code:unauthorized message:the access token's subject is not the ticket's"},
		{"foreign origin keeps the ticket", ts.ticket(t, ada), "https://evil.example", ada, 403, ""},
		{"bad ticket", "nope", "", ada, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			p, status := dialWS(t, ts.wsURL+"?ticket="+tt.ticket, h)
			if status != tt.status {
				t.Fatalf("upgrade: %d, want %d", status, tt.status)
			}
			if p == nil {
				return
			}
			p.Send(stomp.CONNECT, "", "accept-version:1.2", "host:stompd", "Authorization:Bearer "+tt.token)
			f, err := p.Next()
			if err != nil {
				t.Fatal(err)
			}
			got := f.Command.String()
			if f.Has("code") {
				got += " code:" + f.Value("code") + " message:" + f.Value("message")
			}
			if got != tt.reply {
				t.Fatalf("reply %q, want %q", got, tt.reply)
			}
		})
	}
	// The ticket refused for its origin was not used up.
	if _, status := dialWS(t, ts.wsURL+"?ticket="+tests[3].ticket, nil); status != http.StatusSwitchingProtocols {
		t.Fatalf("ticket after a refused origin: %d, want 101", status)
	}
}

// rawRequest writes head, a request's line and headers without the blank
// line that ends them, then body, to the server at addr, and returns the
// answer; nothing answered within ten seconds is a status 0.
func rawRequest(t *testing.T, addr, head, body string) refusal {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return refusal{raw: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := refusal{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

// TestUpgradeWithABodyKeepsTheTicket sends upgrade requests that declare a
// body, by Content-Length or chunked, on /ws and the SockJS websocket
// path: each is refused with 400 and a JSON error before its ticket is
// spent, and the same ticket then opens a connection.
func TestUpgradeWithABodyKeepsTheTicket(t *testing.T) {
	ts := startServer(t)
	tok := ts.login(t, "ada")
	addr := ts.httpL.Addr().String()
	bodies := []struct{ name, header, body string }{
		{"Content-Length", "Content-Length: 5", "hello"},
		{"chunked", "Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n"},
	}
	for _, path := range []string{"/ws", "/ws/123/abc/websocket"} {
		for _, b := range bodies {
			query := path + "?ticket=" + ts.ticket(t, tok.Access)
			head := "GET " + query + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v12.stomp\r\n" + b.header
			rawRequest(t, addr, head, b.body).check(t, path+" with a body by "+b.name, http.StatusBadRequest)
			if _, status := dialWS(t, "ws://"+addr+query, nil); status != http.StatusSwitchingProtocols {
				t.Errorf("%s: the ticket after the upgrade with a body by %s: %d, want 101", path, b.name, status)
			}
		}
	}
}
