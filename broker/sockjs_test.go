package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
)

// sockjsServer serves h's broker's SockJS handler under /ws, as cmd/stompd
// mounts it, and returns the SockJS base URL.
func (h *harness) sockjsServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.StripPrefix("/ws", h.b.SockJS()))
	t.Cleanup(srv.Close)
	return srv.URL + "/ws"
}

// sockjsConn is a net.Conn speaking the SockJS WebSocket framing by hand
// over gorilla's client, so that the raw STOMP client of the other tests
// talks through it: a Write is one message holding one JSON string, as
// sockjs-client sends; Read returns the strings of "a" messages in order,
// and io.EOF once the socket has ended.
type sockjsConn struct {
	ws      *websocket.Conn
	pending []byte
	last    []byte // the latest message read
	goAway  []byte // the close frame, once read
	end     error  // what ended the socket
}

func (s *sockjsConn) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.end != nil {
			return 0, io.EOF
		}
		_, m, err := s.ws.ReadMessage()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, err
		}
		if err != nil {
			s.end = err
			return 0, io.EOF
		}
		s.last = m
		if err := s.unframe(m); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// unframe takes the STOMP bytes of an "a" message, or notes a close frame.
func (s *sockjsConn) unframe(m []byte) error {
	switch {
	case len(m) > 0 && m[0] == 'c':
		s.goAway = m
		return nil
	case len(m) == 0 || m[0] != 'a':
		return fmt.Errorf("unexpected SockJS message %q", m)
	}
	var strs []string
	if err := json.Unmarshal(m[1:], &strs); err != nil {
		return fmt.Errorf("SockJS message %q: %w", m, err)
	}
	for _, str := range strs {
		s.pending = append(s.pending, str...)
	}
	return nil
}

func (s *sockjsConn) Write(p []byte) (int, error) {
	if err := s.send(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// send sends one message holding the strings.
func (s *sockjsConn) send(strs ...string) error {
	m, err := json.Marshal(strs)
	if err != nil {
		return err
	}
	return s.sendRaw(string(m))
}

// sendRaw sends each message as it is.
func (s *sockjsConn) sendRaw(msgs ...string) error {
	for _, m := range msgs {
		if err := s.ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			return err
		}
	}
	return nil
}

func (s *sockjsConn) Close() error                       { return s.ws.Close() }
func (s *sockjsConn) LocalAddr() net.Addr                { return s.ws.LocalAddr() }
func (s *sockjsConn) RemoteAddr() net.Addr               { return s.ws.RemoteAddr() }
func (s *sockjsConn) SetReadDeadline(t time.Time) error  { return s.ws.SetReadDeadline(t) }
func (s *sockjsConn) SetWriteDeadline(t time.Time) error { return s.ws.SetWriteDeadline(t) }
func (s *sockjsConn) SetDeadline(t time.Time) error {
	return errors.Join(s.ws.SetReadDeadline(t), s.ws.SetWriteDeadline(t))
}

// dialSockJS opens a SockJS WebSocket session under base, with query as
// the URL's query string, checks the open frame, and returns a raw STOMP
// client speaking through it.
func dialSockJS(t *testing.T, base, query string, header http.Header) (*client, *sockjsConn, *http.Response, error) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/042/x7ke2w1q/websocket" + query
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	ws.SetReadDeadline(time.Now().Add(wait))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "o" {
		t.Fatalf("open frame: %q, %v", m, err)
	}
	sc := &sockjsConn{ws: ws}
	return newClient(t, sc), sc, resp, nil
}

// connectSockJS dials and opens a STOMP 1.2 session.
func connectSockJS(t *testing.T, base, query string) (*client, *sockjsConn) {
	t.Helper()
	c, sc, _, err := dialSockJS(t, base, query, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.write(frame("CONNECT", "", "accept-version:1.2", "host:h"))
	c.expect("CONNECTED")
	return c, sc
}

// expectGoAway checks that the session ended with the SockJS close frame
// and a normal WebSocket close.
func (s *sockjsConn) expectGoAway(t *testing.T) {
	t.Helper()
	if string(s.goAway) != `c[3000,"Go away!"]` || !websocket.IsCloseError(s.end, websocket.CloseNormalClosure) {
		t.Fatalf("close frame %q, end %v; want the SockJS close frame, then a normal close", s.goAway, s.end)
	}
}

// countingUpgrade refuses every upgrade and counts the calls.
func countingUpgrade(calls *atomic.Int32) *testHooks {
	return &testHooks{upgrade: func(*http.Request) (string, error) {
		calls.Add(1)
		return "", errors.New("no ticket")
	}}
}

func TestSockJSInfo(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, Options{Upgrade: countingUpgrade(&calls)})
	base := h.sockjsServer(t)
	entropy := make(map[uint64]bool)
	for range 2 {
		resp, err := http.Get(base + "/info?ticket=unused")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=UTF-8" {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store, no-cache, must-revalidate, max-age=0" {
			t.Fatalf("Cache-Control %q", cc)
		}
		var info struct {
			WebSocket    *bool    `json:"websocket"`
			Origins      []string `json:"origins"`
			CookieNeeded *bool    `json:"cookie_needed"`
			Entropy      *uint64  `json:"entropy"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&info); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if info.WebSocket == nil || !*info.WebSocket || info.CookieNeeded == nil || *info.CookieNeeded ||
			len(info.Origins) != 1 || info.Origins[0] != "*:*" || info.Entropy == nil || *info.Entropy > 1<<32-1 {
			t.Fatalf("info %s", body)
		}
		entropy[*info.Entropy] = true
	}
	if len(entropy) != 2 {
		t.Errorf("the same entropy twice: %v", entropy)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("/info called the UpgradeAuthenticator %d times", n)
	}
}

func TestSockJSRoutes(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, Options{Upgrade: countingUpgrade(&calls)})
	base := h.sockjsServer(t)
	tests := []struct {
		method, path string
		status       int
	}{
		{"OPTIONS", "/info", http.StatusNoContent},
		{"HEAD", "/info", http.StatusOK},
		{"POST", "/info", http.StatusMethodNotAllowed},
		{"POST", "/000/abc/websocket", http.StatusMethodNotAllowed},
		{"GET", "/000/abc/websocket?ticket=t", http.StatusBadRequest}, // not a handshake
		{"GET", "", http.StatusNotFound},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/info/", http.StatusNotFound},
		{"GET", "/iframe.html", http.StatusNotFound},
		{"GET", "/websocket", http.StatusNotFound},
		{"POST", "/000/abc/xhr", http.StatusNotFound},
		{"POST", "/000/abc/xhr_send", http.StatusNotFound},
		{"POST", "/000/abc/xhr_streaming", http.StatusNotFound},
		{"GET", "/000/abc/eventsource", http.StatusNotFound},
		{"GET", "/000/abc/htmlfile", http.StatusNotFound},
		{"GET", "/000/abc/jsonp", http.StatusNotFound},
		{"GET", "/a./abc/websocket", http.StatusNotFound},
		{"GET", "/000/a.b/websocket", http.StatusNotFound},
		{"GET", "//abc/websocket", http.StatusNotFound},
		{"GET", "/000//websocket", http.StatusNotFound},
		{"GET", "/000/abc/def/websocket", http.StatusNotFound},
		{"GET", "/000/abc/websocket/", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); tt.status >= 400 && ct != "application/json" {
				t.Errorf("a refusal of Content-Type %q, want application/json", ct)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the UpgradeAuthenticator was called %d times", n)
	}
}

func TestSockJSSession(t *testing.T) {
	hooks := &testHooks{
		upgrade: func(r *http.Request) (string, error) {
			if r.URL.Query().Get("ticket") != "t1" {
				return "", errors.New("no ticket")
			}
			return "alice", nil
		},
		connect: func(ci Request) (Identity, error) {
			if ci.Transport != metrics.TransportWebSocket || ci.UpgradeSubject != "alice" {
				return Identity{}, errors.New("wrong connect info")
			}
			return Identity{Subject: ci.UpgradeSubject}, nil
		},
	}
	h := newHarness(t, Options{Upgrade: hooks, Authorizer: hooks})
	c, sc := connectSockJS(t, h.sockjsServer(t), "?ticket=t1")
	if n := value(t, h.m.Connections.WithLabelValues(metrics.TransportWebSocket)); n != 1 {
		t.Fatalf("%v websocket connections, want 1", n)
	}
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/sj", "receipt:sub"))
	c.expect("RECEIPT", "receipt-id:sub")

	t.Run("text body, escaped header, two frames in one message", func(t *testing.T) {
		c.t = t
		body := "héllo ☃ \u2028 \"q\" \\ \x01\t😀\ufff0"
		if err := sc.send(frame("SEND", body, "destination:/topic/sj", `note:a\cb\nc\\d`),
			frame("SEND", "second", "destination:/topic/sj")); err != nil {
			t.Fatal(err)
		}
		f := c.expect("MESSAGE", "destination:/topic/sj", "note:a:b\nc\\d")
		if string(f.Body) != body {
			t.Fatalf("body %q, want %q", f.Body, body)
		}
		for _, esc := range []string{`\u0000`, `\u2028`, `\ufff0`, `\u0001`, `\"q\"`} {
			if !bytes.Contains(sc.last, []byte(esc)) {
				t.Errorf("SockJS message %q lacks %s", sc.last, esc)
			}
		}
		if bytes.ContainsAny(sc.last, "\x00\u2028\ufff0") {
			t.Errorf("SockJS message %q holds characters it should escape", sc.last)
		}
		if f := c.expect("MESSAGE"); string(f.Body) != "second" {
			t.Fatalf("second body %q", f.Body)
		}
	})
	t.Run("frame split over messages, a bare string, an empty message", func(t *testing.T) {
		c.t = t
		split := frame("SEND", "split", "destination:/topic/sj")
		bare, _ := json.Marshal(split[9:])
		arr, _ := json.Marshal([]string{split[:4], "", split[4:9]})
		if err := sc.sendRaw(string(arr), "", " \n", string(bare)); err != nil {
			t.Fatal(err)
		}
		if f := c.expect("MESSAGE"); string(f.Body) != "split" {
			t.Fatalf("body %q", f.Body)
		}
	})
	t.Run("large body written in escaped chunks", func(t *testing.T) {
		c.t = t
		body := strings.Repeat("é\x01☃😀x", 20000)
		c.write(frame("SEND", body, "destination:/topic/sj"))
		if f := c.expect("MESSAGE"); string(f.Body) != body {
			t.Fatalf("body of %d bytes came back as %d bytes", len(body), len(f.Body))
		}
	})
	c.t = t
	c.write(frame("DISCONNECT", "", "receipt:bye"))
	c.expect("RECEIPT", "receipt-id:bye")
	c.expectClosed()
	sc.expectGoAway(t)
}

func TestSockJSRefusals(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		busy   bool // a connection holds the only slot
		origin string
		status int
	}{
		{"foreign origin", Options{}, false, "https://evil.example", http.StatusForbidden},
		{"origin refused by CheckOrigin", Options{CheckOrigin: func(*http.Request) bool { return false }}, false, "", http.StatusForbidden},
		{"upgrade refused", Options{Upgrade: &testHooks{upgrade: func(*http.Request) (string, error) {
			return "", errors.New("no ticket")
		}}}, false, "", http.StatusUnauthorized},
		{"upgrade refused with a status", Options{Upgrade: &testHooks{upgrade: func(*http.Request) (string, error) {
			return "", &Error{Status: http.StatusTooManyRequests, Message: "denied by test"}
		}}}, false, "", http.StatusTooManyRequests},
		{"too many connections", Options{MaxConnections: 1}, true, "", http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			if tt.busy {
				h.connect(t, "first")
			}
			header := http.Header{}
			if tt.origin != "" {
				header.Set("Origin", tt.origin)
			}
			_, _, resp, err := dialSockJS(t, h.sockjsServer(t), "?ticket=x", header)
			if err == nil || resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("err %v, response %v, want status %d", err, resp, tt.status)
			}
			resp.Body.Close()
		})
	}
}

func TestSockJSMalformed(t *testing.T) {
	h := newHarness(t, Options{})
	base := h.sockjsServer(t)
	for _, msg := range []string{`["a`, `["a"`, `[1]`, `{}`, `null`, `["a"]x`, `["a""b"]`, `[,"a"]`, `["a",]`,
		`["\x"]`, `["\u12"]`, `["\u12g4"]`, "[\"a\x01\"]", `"a"]`, `"\ud800`} {
		t.Run(msg, func(t *testing.T) {
			c, sc, _, err := dialSockJS(t, base, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.sendRaw(msg); err != nil {
				t.Fatal(err)
			}
			c.expectClosed()
		})
	}
}

// TestSockJSSkipsWhatItCannotCarry checks that a message SockJS cannot
// carry (a body that is not valid UTF-8) is skipped for a SockJS subscriber,
// and counted, while a TCP subscriber of the same topic gets it: nobody's
// session ends for what another client sent. A queue consumer in a client
// mode does not keep it unacknowledged, so its credit is not held.
func TestSockJSSkipsWhatItCannotCarry(t *testing.T) {
	h := newHarness(t, Options{})
	base := h.sockjsServer(t)
	dropped := h.m.MessagesDropped.WithLabelValues(metrics.DropNotText)
	t.Run("topic", func(t *testing.T) {
		before := value(t, dropped)
		c, _ := connectSockJS(t, base, "")
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/bin", "receipt:s"))
		c.expect("RECEIPT")
		tcp := h.subscriber(t, "tcp", "/topic/bin")
		sendAll(h.connect(t, "pub"), "/topic/bin", "\xff\xfe", "text")
		expectBodies(tcp, "\xff\xfe", "text")
		expectBodies(c, "text")
		c.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:still-there"))
		c.expect("RECEIPT", "receipt-id:still-there")
		if got := value(t, dropped) - before; got != 1 {
			t.Fatalf("dropped{reason=not_text} rose by %v, want 1", got)
		}
	})
	t.Run("topic in client mode", func(t *testing.T) {
		before, slow := value(t, dropped), value(t, h.m.MessagesDropped.WithLabelValues(metrics.DropSlowConsumer))
		c, _ := connectSockJS(t, base, "")
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/binc", "ack:client", "receipt:s"))
		c.expect("RECEIPT")
		sendAll(h.connect(t, "pub"), "/topic/binc", "\xff\xfe", "text")
		expectBodies(c, "text")
		if got := value(t, dropped) - before; got != 1 {
			t.Fatalf("dropped{reason=not_text} rose by %v, want 1", got)
		}
		if got := value(t, h.m.MessagesDropped.WithLabelValues(metrics.DropSlowConsumer)) - slow; got != 0 {
			t.Fatalf("dropped{reason=slow_consumer} rose by %v, want 0", got)
		}
	})
	t.Run("queue with a consumer that can carry it", func(t *testing.T) {
		before := value(t, dropped)
		c, _ := connectSockJS(t, base, "")
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/mixed", "receipt:s"))
		c.expect("RECEIPT")
		tcp := h.subscriber(t, "tcp", "/queue/mixed")
		bodies := []string{"\xff1", "\xff2", "\xff3", "\xff4", "\xff5", "\xff6"}
		sendAll(h.connect(t, "pub"), "/queue/mixed", bodies...)
		expectBodies(tcp, bodies...)
		c.expectNothing(30 * time.Millisecond)
		if got := value(t, dropped) - before; got != 0 {
			t.Fatalf("dropped{reason=not_text} rose by %v, want 0", got)
		}
	})
	t.Run("queue in client mode", func(t *testing.T) {
		before := value(t, dropped)
		c, _ := connectSockJS(t, base, "")
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/bin", "ack:client-individual", "prefetch-count:1", "receipt:s"))
		c.expect("RECEIPT")
		sendAll(h.connect(t, "pub"), "/queue/bin", "\x01\xff", "text")
		expectBodies(c, "text")
		c.write(frame("DISCONNECT", "", "receipt:bye"))
		c.expect("RECEIPT", "receipt-id:bye")
		if got := value(t, dropped) - before; got != 1 {
			t.Fatalf("dropped{reason=not_text} rose by %v, want 1", got)
		}
	})
}

// BenchmarkSockJSWriteBatch writes batches of frames to a real WebSocket
// whose reader discards them.
func BenchmarkSockJSWriteBatch(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		for _, frames := range []int{1, 100} {
			b.Run(sizeName(size)+"/"+strconv.Itoa(frames), func(b *testing.B) {
				t := sinkSockJS(b)
				raw := append(bytes.Repeat([]byte("é"), size/2), 0)
				batch := make([]outItem, frames)
				for i := range batch {
					batch[i] = outItem{raw: raw, cmd: stomp.MESSAGE}
				}
				b.SetBytes(int64(frames * len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if err := t.writeBatch(nil, batch, time.Now().Add(wait)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// sinkSockJS returns the server side of a real WebSocket whose client
// reads and discards every message.
func sinkSockJS(b *testing.B) *sockjsTransport {
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := newUpgrader().Upgrade(w, r, nil)
		if err == nil {
			conns <- ws
		}
	}))
	b.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, r, err := client.NextReader()
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	}()
	ws := <-conns
	b.Cleanup(func() {
		ws.Close()
		client.Close()
		<-done
	})
	return &sockjsTransport{wsTransport: wsTransport{ws: ws}}
}
