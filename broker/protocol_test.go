package broker

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestFraming runs one session script through each way a client may cut
// its bytes: the broker must see the same frames.
func TestFraming(t *testing.T) {
	script := []string{
		frame("CONNECT", "", "accept-version:1.2", "host:h", "login:u"),
		frame("SUBSCRIBE", "", "id:0", "destination:/topic/t"),
		frame("SEND", "one", "destination:/topic/t"),
		frame("SEND", "two\x00with nul", "destination:/topic/t", "content-length:12"),
		frame("DISCONNECT", "", "receipt:bye"),
	}
	crlf := func(s string) string {
		head, body, _ := strings.Cut(s, "\n\n")
		return strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	}
	tests := []struct {
		name  string
		write func(c *client)
	}{
		{"one frame per write", func(c *client) {
			for _, f := range script {
				c.write(f)
			}
		}},
		{"one byte per write", func(c *client) {
			for _, b := range []byte(strings.Join(script, "")) {
				c.write(string(b))
			}
		}},
		{"all frames in one write", func(c *client) { c.write(strings.Join(script, "")) }},
		{"CRLF line ends", func(c *client) {
			for _, f := range script {
				c.write(crlf(f))
			}
		}},
		{"heart-beats between frames", func(c *client) {
			c.write("\n\r\n" + strings.Join(script, "\n\n\r\n"))
		}},
		{"stray NULs between frames", func(c *client) {
			c.write("\x00" + strings.Join(script, "\x00\n\x00"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.dial(t)
			tt.write(c)
			c.expect("CONNECTED", "version:1.2")
			c.expect("MESSAGE", "destination:/topic/t", "subscription:0", "content-length:3")
			if f := c.expect("MESSAGE", "content-length:12"); string(f.Body) != "two\x00with nul" {
				t.Fatalf("body %q", f.Body)
			}
			c.expect("RECEIPT", "receipt-id:bye")
			c.expectClosed()
		})
	}
}

// TestErrors sends each kind of bad frame and checks the ERROR (code,
// message, receipt-id) and that the connection is closed.
func TestErrors(t *testing.T) {
	connect := frame("CONNECT", "", "accept-version:1.2", "host:h")
	tests := []struct {
		name      string
		opts      Options
		before    bool // sent before CONNECT
		input     string
		code, msg string
		receipt   string
	}{
		{"unknown command", Options{}, false, frame("FROB", ""), CodeProtocolError, "unknown command", ""},
		{"header without colon", Options{}, false, frame("SEND", "", "destination"), CodeProtocolError, "malformed header", ""},
		{"undefined escape", Options{}, false, frame("SEND", "", `destination:/topic/a\t`), CodeProtocolError, "invalid escape", ""},
		{"bad content-length", Options{}, false, frame("SEND", "", "destination:/topic/a", "content-length:x"), CodeProtocolError, "content-length", ""},
		{"body not ended by NUL", Options{}, false, "SEND\ndestination:/topic/a\ncontent-length:2\n\nabc", CodeProtocolError, "NUL", ""},
		{"body too large", Options{Limits: stomp.Limits{MaxBodySize: 16}}, false, frame("SEND", strings.Repeat("b", 17), "destination:/topic/a"), CodeLimitExceeded, "body too large", ""},
		{"declared body too large", Options{Limits: stomp.Limits{MaxBodySize: 16}}, false, frame("SEND", "", "destination:/topic/a", "content-length:17"), CodeLimitExceeded, "body too large", ""},
		{"too many headers", Options{Limits: stomp.Limits{MaxHeaders: 3}}, false, frame("SEND", "", "destination:/topic/a", "a:1", "b:2", "c:3"), CodeLimitExceeded, "too many headers", ""},
		{"header line too long", Options{Limits: stomp.Limits{MaxHeaderLine: 64}}, false, frame("SEND", "", "destination:/topic/"+strings.Repeat("a", 64)), CodeLimitExceeded, "header line too long", ""},
		{"frame too large before CONNECT", Options{}, true, frame("CONNECT", strings.Repeat("x", 17<<10)), CodeLimitExceeded, "frame too large", ""},
		{"SEND before CONNECT", Options{}, true, frame("SEND", "", "destination:/topic/a", "receipt:r1"), CodeProtocolError, "expected CONNECT", "r1"},
		{"no common version", Options{}, true, frame("CONNECT", "", "accept-version:2.0,3.1"), CodeProtocolError, "supported versions", ""},
		{"malformed heart-beat", Options{}, true, frame("CONNECT", "", "accept-version:1.2", "heart-beat:soon"), CodeProtocolError, "heart-beat", ""},
		{"second CONNECT", Options{}, false, connect, CodeProtocolError, "already connected", ""},
		{"server frame", Options{}, false, frame("MESSAGE", "", "receipt:m"), CodeProtocolError, "not a frame a client sends", "m"},
		{"SEND without destination", Options{}, false, frame("SEND", "x", "receipt:r2"), CodeProtocolError, "destination", "r2"},
		{"unknown destination", Options{}, false, frame("SEND", "x", "destination:/exchange/a"), CodeProtocolError, "unknown destination", ""},
		{"empty topic name", Options{}, false, frame("SEND", "x", "destination:/topic/"), CodeProtocolError, "unknown destination", ""},
		{"reserved destination", Options{}, false, frame("SUBSCRIBE", "", "id:1", "destination:/sys/auth/refresh"), CodeProtocolError, "unknown destination", ""},
		{"SUBSCRIBE without id", Options{}, false, frame("SUBSCRIBE", "", "destination:/topic/a"), CodeProtocolError, "id header", ""},
		{"duplicate subscription id", Options{}, false, frame("SUBSCRIBE", "", "id:1", "destination:/topic/a") + frame("SUBSCRIBE", "", "id:1", "destination:/topic/b", "receipt:d"), CodeProtocolError, "already in use", "d"},
		{"bad ack mode", Options{}, false, frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "ack:sometimes"), CodeProtocolError, "invalid ack mode", ""},
		{"bad prefetch-count", Options{}, false, frame("SUBSCRIBE", "", "id:1", "destination:/queue/a", "prefetch-count:0"), CodeProtocolError, "prefetch-count", ""},
		{"too many subscriptions", Options{MaxSubscriptions: 1}, false, frame("SUBSCRIBE", "", "id:1", "destination:/topic/a") + frame("SUBSCRIBE", "", "id:2", "destination:/topic/a"), CodeLimitExceeded, "too many subscriptions", ""},
		{"another user's destination", Options{}, false, frame("SUBSCRIBE", "", "id:1", "destination:/user/bob/queue/a"), CodeForbidden, "another user", ""},
		{"UNSUBSCRIBE of unknown id", Options{}, false, frame("UNSUBSCRIBE", "", "id:9"), CodeProtocolError, "no subscription", ""},
		{"ACK of unknown id", Options{}, false, frame("ACK", "", "id:x", "receipt:a"), CodeProtocolError, "unknown ack id", "a"},
		{"ACK without id", Options{}, false, frame("ACK", ""), CodeProtocolError, "ACK frame without an id header", ""},
		{"NACK with a bad requeue", Options{}, false, frame("NACK", "", "id:7.7", "requeue:no", "receipt:n"), CodeProtocolError, "invalid requeue header", "n"},
		{"SEND in unknown transaction", Options{}, false, frame("SEND", "x", "destination:/topic/a", "transaction:t"), CodeProtocolError, "not open", ""},
		{"BEGIN twice", Options{}, false, frame("BEGIN", "", "transaction:t") + frame("BEGIN", "", "transaction:t"), CodeProtocolError, "already open", ""},
		{"COMMIT of unknown transaction", Options{}, false, frame("COMMIT", "", "transaction:t"), CodeProtocolError, "not open", ""},
		{"too many transactions", Options{MaxTransactions: 1}, false, frame("BEGIN", "", "transaction:a") + frame("BEGIN", "", "transaction:b"), CodeLimitExceeded, "too many open transactions", ""},
		{"too many transaction frames", Options{MaxTransactionFrames: 1}, false, frame("BEGIN", "", "transaction:a") + frame("SEND", "1", "destination:/topic/a", "transaction:a") + frame("SEND", "2", "destination:/topic/a", "transaction:a"), CodeLimitExceeded, "too many frames", ""},
		{"too many transaction bytes", Options{MaxTransactionBytes: 100}, false, frame("BEGIN", "", "transaction:a") + frame("BEGIN", "", "transaction:b") + frame("SEND", strings.Repeat("x", 50), "destination:/topic/a", "transaction:a") + frame("SEND", strings.Repeat("y", 50), "destination:/topic/a", "transaction:b"), CodeLimitExceeded, "would hold", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			c := h.dial(t)
			if !tt.before {
				c.write(connect)
				c.expect("CONNECTED")
			}
			c.write(tt.input)
			f := c.expectError(tt.code, tt.msg)
			if got, ok := f.Get("receipt-id"); (tt.receipt != "") != ok || string(got) != tt.receipt {
				t.Fatalf("receipt-id %q (present %v), want %q", got, ok, tt.receipt)
			}
		})
	}
}

// TestVersionHeaderOnMismatch checks the ERROR lists the supported versions.
func TestVersionHeaderOnMismatch(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "accept-version:9.9"))
	c.expect("ERROR", "version:1.0,1.1,1.2")
}

// TestNothingAfterError sends, in one write, a bad frame followed by good
// ones: none of the good ones may take effect.
func TestNothingAfterError(t *testing.T) {
	tests := []struct{ name, bad string }{
		{"after a malformed frame", "SEND\nno-colon\n\n\x00"},
		{"after a refused SUBSCRIBE", frame("SUBSCRIBE", "", "id:1", "destination:/nowhere")},
		{"after an oversized frame", frame("SEND", strings.Repeat("x", 100), "destination:/topic/t")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Limits: stomp.Limits{MaxBodySize: 64}})
			watcher := h.connect(t, "w")
			watcher.write(frame("SUBSCRIBE", "", "id:w", "destination:/topic/t", "receipt:ok"))
			watcher.expect("RECEIPT")
			c := h.connect(t, "u")
			c.write(tt.bad + frame("SEND", "after", "destination:/topic/t", "receipt:r") + frame("SUBSCRIBE", "", "id:2", "destination:/topic/t"))
			c.expect("ERROR")
			c.expectClosed()
			watcher.write(frame("SEND", "marker", "destination:/topic/t"))
			if f := watcher.expect("MESSAGE"); string(f.Body) != "marker" {
				t.Fatalf("the watcher got %q before the marker", f.Body)
			}
		})
	}
}

func TestReceiptsAndDisconnect(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t, "u")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:s") +
		frame("SEND", "x", "destination:/topic/a", "receipt:p") +
		frame("UNSUBSCRIBE", "", "id:1", "receipt:u") +
		frame("SEND", "y", "destination:/topic/a", "receipt:q") +
		frame("DISCONNECT", "", "receipt:d"))
	c.expect("RECEIPT", "receipt-id:s")
	c.expect("MESSAGE")
	c.expect("RECEIPT", "receipt-id:p")
	c.expect("RECEIPT", "receipt-id:u")
	c.expect("RECEIPT", "receipt-id:q")
	c.expect("RECEIPT", "receipt-id:d")
	c.expectClosed()
}

// TestMessageHeaders checks what a MESSAGE carries of its SEND, and never
// carries.
func TestMessageHeaders(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t, "u")
	c.write(frame("SUBSCRIBE", "", "id:s\\c1", "destination:/topic/h", "receipt:r"))
	c.expect("RECEIPT")
	c.write(frame("SEND", "body", "destination:/topic/h", "content-type:text/plain;charset=utf-8",
		"Authorization:Bearer secret", "login:u", "passcode:p", "receipt:x", "message-id:forged",
		"subscription:forged", "content-length:4", "x-key:a\\cb\\nc"))
	f := c.expect("MESSAGE", "subscription:s:1", "destination:/topic/h", "content-length:4",
		"content-type:text/plain;charset=utf-8", "x-key:a:b\nc")
	for _, k := range []string{"Authorization", "login", "passcode", "receipt", "transaction"} {
		if f.Has(k) {
			t.Errorf("MESSAGE carries %s", k)
		}
	}
	for _, k := range []string{"destination", "content-length", "message-id", "subscription"} {
		n := 0
		for _, hd := range f.Headers {
			if string(hd.Key) == k {
				n++
			}
		}
		if n != 1 {
			t.Errorf("MESSAGE has %d %s headers, want 1", n, k)
		}
	}
	if id := f.Value("message-id"); id == "" || strings.ContainsAny(id, ":\\") {
		t.Errorf("message-id %q", id)
	}
	c.expect("RECEIPT", "receipt-id:x")
}

// TestConnectTimeout checks that a connection that never sends CONNECT is
// closed once Options.ConnectTimeout has passed on the injected clock.
func TestConnectTimeout(t *testing.T) {
	clock := stomptest.NewClock()
	h := newHarness(t, Options{Now: clock.Now, ConnectTimeout: time.Minute})
	c := h.dial(t)
	c.write("\n")
	c.expectNothing(50 * time.Millisecond)
	clock.Advance(2 * time.Minute)
	c.expectError(CodeProtocolError, "no CONNECT frame")
}

// TestErrorWhileClientStillSends checks that a client still writing a
// rejected frame reads its ERROR and then the end of the stream.
func TestErrorWhileClientStillSends(t *testing.T) {
	h := newHarness(t, Options{Limits: stomp.Limits{MaxBodySize: 1 << 10}})
	c := h.connect(t, "u")
	go io.WriteString(c.Conn, frame("SEND", strings.Repeat("b", 256<<10), "destination:/topic/big"))
	c.expectError(CodeLimitExceeded, "body too large")
}
