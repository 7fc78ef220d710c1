package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

func parseID(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return n
}

// sendAll publishes bodies to dest and waits for the last one's receipt.
func sendAll(c *client, dest string, bodies ...string) {
	c.t.Helper()
	for _, b := range bodies {
		c.write(frame("SEND", b, "destination:"+dest))
	}
	c.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:sent"))
	c.expect("RECEIPT", "receipt-id:sent")
}

func expectBodies(c *client, bodies ...string) []*stomp.Frame {
	c.t.Helper()
	var fs []*stomp.Frame
	for _, b := range bodies {
		f := c.expect("MESSAGE")
		if string(f.Body) != b {
			c.t.Fatalf("got %q, want %q", f.Body, b)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestAckModes(t *testing.T) {
	disconnect := frame("DISCONNECT", "", "receipt:d")
	unsubscribe := frame("UNSUBSCRIBE", "", "id:1", "receipt:d")
	tests := []struct {
		name  string
		mode  string
		ack   int      // index of the message acknowledged
		leave string   // how the first consumer leaves
		left  []string // what a second consumer gets after the first leaves
	}{
		{"auto", "auto", -1, disconnect, nil},
		{"client acks cumulatively", "client", 1, disconnect, []string{"c"}},
		{"client-individual acks one", "client-individual", 1, disconnect, []string{"a", "c"}},
		{"unsubscribe puts unacked back", "client-individual", 0, unsubscribe, []string{"b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.connect(t, "u")
			c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/acks", "ack:"+tt.mode, "receipt:s"))
			c.expect("RECEIPT")
			p := h.connect(t, "p")
			sendAll(p, "/queue/acks", "a", "b", "c")
			fs := expectBodies(c, "a", "b", "c")
			if tt.mode == "auto" {
				for _, f := range fs {
					if f.Has("ack") {
						t.Fatalf("auto MESSAGE with an ack header")
					}
				}
			} else {
				c.write(frame("ACK", "", "id:"+fs[tt.ack].Value("ack"), "receipt:a"))
				c.expect("RECEIPT", "receipt-id:a")
			}
			c.write(tt.leave)
			c.expect("RECEIPT", "receipt-id:d")
			d := h.connect(t, "d")
			d.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/acks", "ack:client"))
			for _, f := range expectBodies(d, tt.left...) {
				if f.Value("redelivered") != "true" {
					t.Fatalf("redelivered message without redelivered:true: %s", dump(f))
				}
			}
			d.expectNothing(30 * time.Millisecond)
		})
	}
}

func TestNackRedelivers(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/queue/n", "ack:client-individual")
	sendAll(h.connect(t, "p"), "/queue/n", "a", "b")
	fs := expectBodies(c, "a", "b")
	if fs[0].Has("redelivered") {
		t.Fatal("first delivery marked redelivered")
	}
	c.write(frame("NACK", "", "id:"+fs[0].Value("ack")))
	f := c.expect("MESSAGE", "redelivered:true", "message-id:"+fs[0].Value("message-id"))
	if string(f.Body) != "a" {
		t.Fatalf("redelivered %q", f.Body)
	}
	c.write(frame("ACK", "", "id:"+fs[0].Value("ack"), "receipt:stale"))
	c.expectError(CodeProtocolError, "not awaiting acknowledgement")
}

func TestPrefetch(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/queue/pf", "ack:client", "prefetch-count:2")
	sendAll(h.connect(t, "p"), "/queue/pf", "a", "b", "c", "d", "e")
	fs := expectBodies(c, "a", "b")
	c.expectNothing(50 * time.Millisecond)
	c.write(frame("ACK", "", "id:"+fs[0].Value("ack")))
	fs = expectBodies(c, "c")
	c.expectNothing(50 * time.Millisecond)
	c.write(frame("ACK", "", "id:"+fs[0].Value("ack")))
	expectBodies(c, "d", "e")
}

// TestAckByMessageID covers STOMP 1.1, which acknowledges by message-id and
// subscription.
func TestAckByMessageID(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "accept-version:1.0,1.1", "host:h"))
	c.expect("CONNECTED", "version:1.1")
	c.write(frame("SUBSCRIBE", "", "id:s", "destination:/queue/v11", "ack:client-individual", "receipt:r"))
	c.expect("RECEIPT")
	sendAll(h.connect(t, "p"), "/queue/v11", "a")
	f := c.expect("MESSAGE")
	if f.Has("ack") {
		t.Fatal("STOMP 1.1 MESSAGE with an ack header")
	}
	c.write(frame("ACK", "", "subscription:s", "message-id:"+f.Value("message-id"), "receipt:a"))
	c.expect("RECEIPT", "receipt-id:a")
	c.write(frame("ACK", "", "subscription:s", "message-id:"+f.Value("message-id")))
	c.expectError(CodeProtocolError, "not awaiting acknowledgement")
}

// TestTopicClientAck checks a client-mode topic subscriber: acks are
// accepted and the prefetch bound holds messages back as misses.
func TestTopicClientAck(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/topic/ca", "ack:client", "prefetch-count:1")
	p := h.connect(t, "p")
	sendAll(p, "/topic/ca", "a", "b")
	f := expectBodies(c, "a")[0]
	c.write(frame("ACK", "", "id:"+f.Value("ack"), "receipt:a"))
	c.expect("RECEIPT", "receipt-id:a")
	sendAll(p, "/topic/ca", "c")
	expectBodies(c, "c")
}

// TestNackWithoutRequeueDrops checks RabbitMQ's extension for poison
// messages: a NACK with requeue:false drops the message, counted, instead
// of redelivering it, whether sent alone or committed in a transaction.
func TestNackWithoutRequeueDrops(t *testing.T) {
	for _, tc := range []struct {
		name string
		nack func(c *client, ackID string)
	}{
		{"alone", func(c *client, ackID string) {
			c.write(frame("NACK", "", "id:"+ackID, "requeue:false", "receipt:n"))
		}},
		{"in a transaction", func(c *client, ackID string) {
			c.write(frame("BEGIN", "", "transaction:t") +
				frame("NACK", "", "id:"+ackID, "requeue:false", "transaction:t") +
				frame("COMMIT", "", "transaction:t", "receipt:n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.subscriber(t, "u", "/queue/poison", "ack:client-individual")
			p := h.connect(t, "p")
			sendAll(p, "/queue/poison", "poison", "next")
			fs := expectBodies(c, "poison", "next")
			tc.nack(c, fs[0].Value("ack"))
			c.expect("RECEIPT", "receipt-id:n")
			if n := value(t, h.m.MessagesDropped.WithLabelValues("nack_discarded")); n != 1 {
				t.Errorf("dropped (nack_discarded) = %v, want 1", n)
			}
			c.write(frame("DISCONNECT", "", "receipt:d"))
			c.expect("RECEIPT", "receipt-id:d")
			d := h.subscriber(t, "d", "/queue/poison", "ack:client-individual")
			sendAll(p, "/queue/poison", "fence")
			expectBodies(d, "next", "fence")
		})
	}
}

// TestAckUnknownSubscription checks that an ACK naming a subscription the
// session does not have says so, in each version's way of naming it.
func TestAckUnknownSubscription(t *testing.T) {
	for _, tc := range []struct {
		version string
		ack     string
	}{
		{"1.2", frame("ACK", "", "id:7.7")},
		{"1.1", frame("ACK", "", "subscription:s9", "message-id:1")},
		{"1.0", frame("ACK", "", "subscription:s9", "message-id:1")},
	} {
		t.Run(tc.version, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.dial(t)
			c.write(frame("CONNECT", "", "accept-version:"+tc.version, "host:h"))
			c.expect("CONNECTED", "version:"+tc.version)
			c.write(tc.ack)
			c.expectError(CodeProtocolError, "unknown subscription")
		})
	}
}
