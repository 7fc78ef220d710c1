package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// wsServer serves h's broker over WebSocket on a real listener.
func (h *harness) wsServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(h.b)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// wsClient is the raw STOMP client over gorilla's WebSocket client, ws;
// mc.Type is the type of the message its latest frame came in.
type wsClient struct {
	*client
	ws *websocket.Conn
	mc *stomptest.MessageConn
}

func dialWS(t *testing.T, url string, header http.Header) (*wsClient, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}, HandshakeTimeout: wait}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	mc := stomptest.NewMessageConn(ws)
	return &wsClient{newClient(t, mc), ws, mc}, resp, nil
}

// send sends each part as a message of its own.
func (c *wsClient) send(parts ...string) {
	c.t.Helper()
	for _, p := range parts {
		c.write(p)
	}
}

func TestWebSocketSession(t *testing.T) {
	hooks := &testHooks{
		upgrade: func(*http.Request) (string, error) { return "alice", nil },
		connect: func(ci Request) (Identity, error) {
			if ci.Transport != "websocket" || ci.UpgradeSubject != "alice" {
				return Identity{}, errors.New("wrong connect info")
			}
			return Identity{Subject: ci.UpgradeSubject}, nil
		},
	}
	h := newHarness(t, Options{Upgrade: hooks, Authorizer: hooks})
	c, resp, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "v12.stomp" {
		t.Fatalf("subprotocol %q", p)
	}
	connect := frame("CONNECT", "", "accept-version:1.2", "host:h")
	c.send(connect[:10], connect[10:])
	c.expect("CONNECTED")
	c.send(frame("SUBSCRIBE", "", "id:1", "destination:/topic/ws") +
		frame("SEND", "héllo", "destination:/topic/ws"))
	binary := frame("SEND", "\xff\x00\x01", "destination:/topic/ws", "content-length:3")
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(binary)); err != nil {
		t.Fatal(err)
	}
	if f := c.expect("MESSAGE"); string(f.Body) != "héllo" || c.mc.Type != websocket.TextMessage {
		t.Fatalf("text message: body %q, type %d", f.Body, c.mc.Type)
	}
	if f := c.expect("MESSAGE"); string(f.Body) != "\xff\x00\x01" || c.mc.Type != websocket.BinaryMessage {
		t.Fatalf("binary message: body %q, type %d", f.Body, c.mc.Type)
	}
	c.send(frame("DISCONNECT", "", "receipt:bye"))
	if f := c.expect("RECEIPT"); f.Value("receipt-id") != "bye" {
		t.Fatalf("receipt %s", dump(f))
	}
	if _, err := c.next(); err != io.EOF || !websocket.IsCloseError(c.mc.End, websocket.CloseNormalClosure) {
		t.Fatalf("after the receipt: %v (%v), want a normal close", err, c.mc.End)
	}
}

// TestWebSocketAndTCP checks that both transports share one broker.
func TestWebSocketAndTCP(t *testing.T) {
	h := newHarness(t, Options{})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2", "login:w"), frame("SUBSCRIBE", "", "id:1", "destination:/queue/mixed", "receipt:s"))
	c.expect("CONNECTED")
	c.expect("RECEIPT")
	sendAll(h.connect(t, "tcp"), "/queue/mixed", "from tcp")
	if f := c.expect("MESSAGE"); string(f.Body) != "from tcp" {
		t.Fatalf("body %q", f.Body)
	}
	c.send("SEND\nno-colon\n\n\x00")
	if f := c.expect("ERROR"); f.Value("code") != CodeProtocolError {
		t.Fatalf("ERROR %s", dump(f))
	}
}

// TestWebSocketMessageLengths checks the messages the broker frames itself
// across the three encodings of a payload length (7, 16 and 64 bits), and
// their type: text for UTF-8 frames, binary otherwise.
func TestWebSocketMessageLengths(t *testing.T) {
	h := newHarness(t, Options{})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2", "login:w"), frame("SUBSCRIBE", "", "id:1", "destination:/topic/len", "receipt:s"))
	c.expect("CONNECTED")
	c.expect("RECEIPT")
	pub := h.connect(t, "tcp")
	sizes := []int{0, 1, 125, 126, 1000}
	for n := 65400; n <= 65560; n += 8 { // the payload crosses 65535 here
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 300_000)
	for _, n := range sizes {
		for _, binary := range []bool{false, true} {
			body := bytes.Repeat([]byte{'a'}, n)
			if binary && n > 0 {
				body[n-1] = 0xff
			}
			pub.write(frame("SEND", string(body), "destination:/topic/len"))
			f := c.expect("MESSAGE")
			if !bytes.Equal(f.Body, body) {
				t.Fatalf("body of %d bytes came as %d bytes", n, len(f.Body))
			}
			if want := websocket.TextMessage; (binary && n > 0) == (c.mc.Type == want) {
				t.Fatalf("body of %d bytes (binary %v) came in a message of type %d", n, binary, c.mc.Type)
			}
		}
	}
}

// TestWebSocketLimits checks that an oversized frame gets the same ERROR
// as over TCP, whatever the size of the message carrying it.
func TestWebSocketLimits(t *testing.T) {
	h := newHarness(t, Options{Limits: stomp.Limits{MaxBodySize: 1 << 10}})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2"))
	c.expect("CONNECTED")
	c.send(frame("SEND", strings.Repeat("b", 64<<10), "destination:/topic/big"))
	if f := c.expect("ERROR"); f.Value("code") != CodeLimitExceeded {
		t.Fatalf("ERROR %s", dump(f))
	}
}

// TestWebSocketSubjectMismatch checks that a CONNECT identity must be the
// subject the upgrade authenticated.
func TestWebSocketSubjectMismatch(t *testing.T) {
	hooks := &testHooks{upgrade: func(*http.Request) (string, error) { return "alice", nil }}
	h := newHarness(t, Options{Upgrade: hooks})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2", "login:mallory"))
	if f := c.expect("ERROR"); f.Value("code") != CodeUnauthorized {
		t.Fatalf("ERROR %s", dump(f))
	}
}

func TestWebSocketRefusals(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		origin string
		status int
	}{
		{"foreign origin", Options{}, "https://evil.example", http.StatusForbidden},
		{"origin refused by CheckOrigin", Options{CheckOrigin: func(*http.Request) bool { return false }}, "", http.StatusForbidden},
		{"upgrade refused", Options{Upgrade: &testHooks{upgrade: func(*http.Request) (string, error) {
			return "", errors.New("no ticket")
		}}}, "", http.StatusUnauthorized},
		{"upgrade refused with a status", Options{Upgrade: &testHooks{upgrade: func(*http.Request) (string, error) {
			return "", &Error{Status: http.StatusTooManyRequests, Message: "denied by test"}
		}}}, "", http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			header := http.Header{}
			if tt.origin != "" {
				header.Set("Origin", tt.origin)
			}
			_, resp, err := dialWS(t, h.wsServer(t), header)
			if err == nil || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("err %v, response %v, want status %d", err, resp, tt.status)
			}
			resp.Body.Close()
		})
	}
}

// TestDefaultSameOriginComparesScheme checks that without CheckOrigin an
// upgrade is allowed from the server's own origin only, scheme included.
func TestDefaultSameOriginComparesScheme(t *testing.T) {
	h := newHarness(t, Options{})
	url := h.wsServer(t)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	for origin, want := range map[string]int{
		"http://" + host:  http.StatusSwitchingProtocols,
		"https://" + host: http.StatusForbidden,
	} {
		_, resp, _ := dialWS(t, url, http.Header{"Origin": {origin}})
		if resp == nil || resp.StatusCode != want {
			t.Errorf("Origin %s: %v, want %d", origin, resp, want)
		}
	}
}

// TestUpgradeRefusalsSpendNoTicket checks that a request refused before it
// could be upgraded (not a valid handshake, or over the connection limit)
// never reaches the UpgradeAuthenticator, which spends the ticket.
func TestUpgradeRefusalsSpendNoTicket(t *testing.T) {
	var checked atomic.Int32
	hooks := &testHooks{upgrade: func(*http.Request) (string, error) {
		checked.Add(1)
		return "", nil
	}}
	h := newHarness(t, Options{Upgrade: hooks, MaxConnections: 1})
	url := h.wsServer(t)
	first := h.connect(t, "u") // takes the only slot
	first.write(frame("SEND", "", "destination:/topic/x", "receipt:r"))
	first.expect("RECEIPT")

	for _, tc := range []struct {
		name, method string
		header       http.Header
		status       int
	}{
		{"plain GET", "GET", nil, http.StatusBadRequest},
		{"version 99", "GET", handshake("Sec-Websocket-Version", "99"), http.StatusBadRequest},
		{"no key", "GET", handshake("Sec-Websocket-Key", ""), http.StatusBadRequest},
		{"key of 5 bytes", "GET", handshake("Sec-Websocket-Key", "c2hvcnQ="), http.StatusBadRequest},
		{"POST", "POST", handshake("", ""), http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, strings.Replace(url, "ws:", "http:", 1), nil)
		if tc.header != nil {
			req.Header = tc.header
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d application/json", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status)
		}
	}
	if _, resp, err := dialWS(t, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade over the connection limit: %v, want 503", err)
	}
	if n := checked.Load(); n != 0 {
		t.Errorf("the UpgradeAuthenticator ran %d times for refused requests", n)
	}
}

// TestNoDataAfterClose checks that no data message follows the close
// message gorilla sends in answer to the client's, even when the client
// closes while MiBs of messages are queued for it (RFC 6455 section 5.5.1).
func TestNoDataAfterClose(t *testing.T) {
	h := newHarness(t, Options{MaxPendingBytes: 64 << 20, WriteTimeout: 20 * time.Second})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2", "login:ws"), frame("SUBSCRIBE", "", "id:1", "destination:/topic/big", "receipt:s"))
	c.expect("CONNECTED")
	c.expect("RECEIPT")
	pub := h.connect(t, "pub")
	body := strings.Repeat("x", 8<<10)
	var sb strings.Builder
	for range 1500 {
		sb.WriteString(frame("SEND", body, "destination:/topic/big"))
	}
	pub.write(sb.String() + frame("SEND", "end", "destination:/topic/other", "receipt:done"))
	pub.expect("RECEIPT", "receipt-id:done") // the subscriber's writer now waits on a full socket
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	nc := c.ws.UnderlyingConn()
	nc.SetReadDeadline(time.Now().Add(wait))
	r := bufio.NewReaderSize(nc, 1<<16)
	closeSeen, before, after := false, 0, 0
	for {
		var op int
		var n uint64
		if op, n, err = readFrameHeader(r); err != nil {
			break
		}
		if _, err = io.CopyN(io.Discard, r, int64(n)); err != nil {
			break
		}
		switch {
		case op == websocket.CloseMessage:
			closeSeen = true
		case closeSeen:
			after++
		default:
			before++
		}
	}
	if !closeSeen || after > 0 {
		t.Fatalf("close message seen: %v, after %d messages; messages after it: %d; reading ended with %v", closeSeen, before, after, err)
	}
}

// readFrameHeader reads a server's (unmasked) WebSocket frame header.
func readFrameHeader(r io.Reader) (opcode int, length uint64, err error) {
	var hdr [10]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return 0, 0, err
	}
	length = uint64(hdr[1] & 0x7f)
	switch length {
	case 126:
		_, err = io.ReadFull(r, hdr[2:4])
		length = uint64(binary.BigEndian.Uint16(hdr[2:4]))
	case 127:
		_, err = io.ReadFull(r, hdr[2:10])
		length = binary.BigEndian.Uint64(hdr[2:10])
	}
	return int(hdr[0] & 0x0f), length, err
}

// handshake returns a valid WebSocket handshake's headers, with header
// name set to value (deleted when value is empty).
func handshake(name, value string) http.Header {
	h := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	if name != "" {
		h.Del(name)
		if value != "" {
			h.Set(name, value)
		}
	}
	return h
}

// TestWebSocketClientAddress checks that the per-address limit and the
// connection log of WebSocket clients use Options.ClientAddress: two
// clients behind one proxy have a slot each.
func TestWebSocketClientAddress(t *testing.T) {
	var logs stomptest.Logs
	h := newHarness(t, Options{
		MaxConnectionsPerAddr: 1,
		ClientAddress:         func(r *http.Request) string { return r.Header.Get("X-Forwarded-For") },
		Logger:                logs.Logger(slog.LevelInfo),
	})
	url := h.wsServer(t)
	from := func(client string) http.Header { return http.Header{"X-Forwarded-For": {client}} }
	a, _, err := dialWS(t, url, from("198.51.100.1"))
	if err != nil {
		t.Fatal(err)
	}
	a.send(frame("CONNECT", "", "accept-version:1.2"))
	a.expect("CONNECTED")
	if _, resp, err := dialWS(t, url, from("198.51.100.1")); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection of 198.51.100.1: got %v, want 429", err)
	}
	if _, _, err := dialWS(t, url, from("198.51.100.2")); err != nil {
		t.Fatalf("first connection of 198.51.100.2: %v", err)
	}
	waitFor(t, "both open lines", func() bool { return strings.Count(logs.String(), "connection open") == 2 })
	for _, want := range []string{"remote=198.51.100.1", "remote=198.51.100.2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
