package broker

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestQueueRoundRobin(t *testing.T) {
	h := newHarness(t, Options{})
	c1, c2 := h.connect(t, "a"), h.connect(t, "b")
	for _, c := range []*client{c1, c2} {
		c.write(frame("SUBSCRIBE", "", "id:q", "destination:/queue/work", "receipt:s"))
		c.expect("RECEIPT")
	}
	p := h.connect(t, "p")
	for _, body := range []string{"1", "2", "3", "4"} {
		p.write(frame("SEND", body, "destination:/queue/work"))
	}
	for _, want := range []struct {
		c    *client
		body string
	}{{c1, "1"}, {c1, "3"}, {c2, "2"}, {c2, "4"}} {
		if f := want.c.expect("MESSAGE", "destination:/queue/work"); string(f.Body) != want.body {
			t.Fatalf("got %q, want %q", f.Body, want.body)
		}
	}
	c1.expectNothing(30 * time.Millisecond)
}

// TestQueueBuffersWithoutConsumer checks that a queue keeps messages while
// it has no consumer, up to each bound on what queues buffer: four
// 1,000-byte messages where three fit, the fourth refused with ERROR (no
// RECEIPT may say it was stored) and counted as dropped. The
// byte bounds count what the messages, the queues and their first ring
// slots cost in memory (see cost.go).
func TestQueueBuffersWithoutConsumer(t *testing.T) {
	kept := len("destination:/queue/later\ncontent-length:1000\n\n") + 1000 + 1
	message := messageStructCost + allocSize(len("/queue/later")) + allocSize(kept)
	queue := queueCost("/queue/later") + slotsCost(minRing)
	for _, tc := range []struct {
		name  string
		o     Options
		dests []string // of the four messages
	}{
		{"messages per queue", Options{MaxQueueLength: 3}, []string{"later", "later", "later", "later"}},
		{"bytes per queue", Options{MaxQueueBytes: slotsCost(minRing) + 3*message}, []string{"later", "later", "later", "later"}},
		{"bytes of all queues", Options{MaxQueuedBytes: 2*queue + 3*message}, []string{"later", "other", "later", "other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.o)
			p := h.connect(t, "p")
			for i, dest := range tc.dests {
				n := strconv.Itoa(i + 1)
				p.write(frame("SEND", n+strings.Repeat(".", 999), "destination:/queue/"+dest, "receipt:"+n))
				if i < 3 {
					p.expect("RECEIPT", "receipt-id:"+n)
				}
			}
			p.expect("ERROR", "code:limit-exceeded", "receipt-id:4")
			if d := value(t, h.m.QueueDepth); d != 3 {
				t.Fatalf("queue depth %v, want 3", d)
			}
			if n := value(t, h.m.MessagesDropped.WithLabelValues("queue_full")); n != 1 {
				t.Fatalf("dropped %v, want 1", n)
			}
			c := h.connect(t, "c")
			c.write(frame("SUBSCRIBE", "", "id:q", "destination:/queue/later"))
			for i, dest := range tc.dests[:3] {
				if dest != "later" {
					continue
				}
				if f := c.expect("MESSAGE"); f.Body[0] != byte('1'+i) {
					t.Fatalf("got message %c, want %d", f.Body[0], i+1)
				}
			}
			c.expectNothing(30 * time.Millisecond)
			q, _ := h.b.r.queue("/queue/later", "")
			q.mu.Lock()
			held, slots := q.buf.bytes, slotsCost(len(q.buf.buf))
			q.mu.Unlock()
			if held != slots {
				t.Errorf("a drained queue counts %d bytes, want its slots' %d", held, slots)
			}
		})
	}
}

// TestUserDestinations checks Spring's convention: a SEND to
// /user/<sub>/<dest> reaches every session of <sub> subscribed to
// /user/<dest>, and nobody else.
func TestUserDestinations(t *testing.T) {
	h := newHarness(t, Options{})
	alice1, alice2 := h.connect(t, "alice"), h.connect(t, "alice")
	bob := h.connect(t, "bob")
	for _, c := range []*client{alice1, alice2, bob} {
		c.write(frame("SUBSCRIBE", "", "id:in", "destination:/user/queue/inbox", "receipt:s"))
		c.expect("RECEIPT")
	}
	bob.write(frame("SEND", "hi alice", "destination:/user/alice/queue/inbox"))
	for _, c := range []*client{alice1, alice2} {
		if f := c.expect("MESSAGE", "destination:/user/queue/inbox", "subscription:in"); string(f.Body) != "hi alice" {
			t.Fatalf("body %q", f.Body)
		}
	}
	bob.expectNothing(30 * time.Millisecond)
}

func TestMessageIDsIncrease(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.connect(t, "u")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/ids"))
	var last uint64
	for range 3 {
		c.write(frame("SEND", "x", "destination:/topic/ids"))
		id := parseID(t, c.expect("MESSAGE").Value("message-id"))
		if id <= last {
			t.Fatalf("message-id %d after %d", id, last)
		}
		last = id
	}
}
