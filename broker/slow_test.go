package broker

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowConsumer has one topic subscriber stop reading while another
// keeps up: the reader gets every message, the stalled one is cut with a
// slow-consumer ERROR once its pending bytes pass the bound, and publishing
// never stalls.
func TestSlowConsumer(t *testing.T) {
	h := newHarness(t, Options{MaxPendingBytes: 512 << 10, WriteTimeout: wait})
	slow := h.dial(t)
	slow.Conn.(*net.TCPConn).SetReadBuffer(32 << 10)
	slow.write(frame("CONNECT", "", "accept-version:1.2", "host:h"))
	slow.expect("CONNECTED")
	fast := h.connect(t, "fast")
	for _, c := range []*client{slow, fast} {
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/firehose", "receipt:s"))
		c.expect("RECEIPT")
	}
	// The publisher stays within a window of the fast subscriber, so that
	// only the stalled one can fall behind, and goes on until the stalled
	// one is cut, then a little longer. The fast one's pending bytes stay
	// under two windows (a batch written but not yet accounted for, and
	// what was sent since), far below the bound.
	const window, most, after = 8, 10000, 100
	body := strings.Repeat("x", 8<<10)
	var got atomic.Int64
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for i := 0; ; i++ {
			f, err := fast.next()
			if err != nil {
				return
			}
			if f.Value("seq") != strconv.Itoa(i) {
				t.Errorf("fast subscriber: message %d is %s", i, dump(f))
				return
			}
			got.Add(1)
		}
	}()
	p := h.connect(t, "p")
	sent, cutAt := 0, -1
	for ; cutAt < 0 || sent < cutAt+after; sent++ {
		if sent == most {
			t.Fatalf("no cut after %d messages", most)
		}
		waitFor(t, "the fast subscriber", func() bool { return got.Load() >= int64(sent-window) || t.Failed() })
		p.write(frame("SEND", body, "destination:/topic/firehose", "seq:"+strconv.Itoa(sent)))
		if cutAt < 0 && value(t, h.m.SlowConsumerDisconnects) > 0 {
			cutAt = sent
		}
	}
	waitFor(t, "the fast subscriber", func() bool { return got.Load() == int64(sent) || t.Failed() })
	fast.Conn.Close()
	<-reading
	if n := value(t, h.m.SlowConsumerDisconnects); n != 1 {
		t.Fatalf("%v slow-consumer cuts, want 1", n)
	}
	if n := value(t, h.m.MessagesDropped.WithLabelValues("slow_consumer")); n < 1 {
		t.Fatalf("%v messages counted as dropped for the slow consumer", n)
	}
	slow.Conn.(*net.TCPConn).SetReadBuffer(4 << 20)
	for {
		f := slow.read()
		if f.Command.String() == "ERROR" {
			if f.Value("code") != CodeSlowConsumer {
				t.Fatalf("ERROR %s", dump(f))
			}
			break
		}
	}
	slow.expectClosed()
}

// waitFor polls cond within the generous test bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSlowQueueConsumer checks that queue delivery is flow-controlled: a
// consumer that stops reading is neither cut nor sent more than its bound,
// the other consumer gets the rest, and what the stalled one held goes to
// the other, marked redelivered, once it leaves. Nothing is lost.
func TestSlowQueueConsumer(t *testing.T) {
	h := newHarness(t, Options{MaxPendingBytes: 256 << 10})
	stalled := h.subscriber(t, "stalled", "/queue/work", "ack:client-individual")
	stalled.Conn.(*net.TCPConn).SetReadBuffer(8 << 10)
	c := h.subscriber(t, "c", "/queue/work", "ack:client-individual")
	const n = 400
	body := strings.Repeat("q", 32<<10)
	p := h.connect(t, "p")
	for i := range n {
		p.write(frame("SEND", body, "destination:/queue/work", "seq:"+strconv.Itoa(i)))
	}
	sendAll(p, "/queue/work")
	seen := map[string]bool{}
	receive := func(until func() bool) {
		for !until() {
			f := c.expect("MESSAGE")
			seen[f.Value("seq")] = true
			c.write(frame("ACK", "", "id:"+f.Value("ack")))
		}
	}
	receive(func() bool { return value(t, h.m.QueueDepth) == 0 && len(seen) > n/2 })
	stalled.Conn.Close()
	receive(func() bool { return len(seen) == n })
	if cuts := value(t, h.m.SlowConsumerDisconnects); cuts != 0 {
		t.Fatalf("%v slow-consumer cuts of queue consumers", cuts)
	}
}

// TestQueueLeavesHeadroom checks that a queue consumer whose outbox is full
// of queue messages still gets its RECEIPTs without being cut.
func TestQueueLeavesHeadroom(t *testing.T) {
	h := newHarness(t, Options{MaxPendingBytes: 64 << 10})
	c := h.subscriber(t, "c", "/queue/backlog", "ack:client-individual")
	c.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	for _, sc := range h.b.snapshot() { // and the broker's side of it
		if sc.identity().Subject == "c" {
			sc.t.(*tcpTransport).nc.(*net.TCPConn).SetWriteBuffer(4 << 10)
		}
	}
	p := h.connect(t, "p")
	// Eight deliveries of this body fill the outbox to within 250 bytes of
	// the bound, less than the RECEIPTs below need.
	body := strings.Repeat("q", 8050)
	for range 200 {
		p.write(frame("SEND", body, "destination:/queue/backlog"))
	}
	sendAll(p, "/queue/backlog")
	for i := range 20 {
		c.write(frame("SUBSCRIBE", "", "id:t"+strconv.Itoa(i), "destination:/topic/none", "receipt:r"+strconv.Itoa(i)))
	}
	c.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:last"))
	waitFor(t, "the last RECEIPT", func() bool {
		return queued(h.b, "RECEIPT\nreceipt-id:last\n") || value(t, h.m.FramesSent.WithLabelValues("RECEIPT")) == 23
	})
	if cuts := value(t, h.m.SlowConsumerDisconnects); cuts != 0 {
		t.Fatalf("%v slow-consumer cuts", cuts)
	}
}

// queued reports whether a frame starting with prefix waits in an outbox.
func queued(b *Broker, prefix string) bool {
	for _, c := range b.snapshot() {
		c.out.mu.Lock()
		for _, it := range c.out.items {
			if strings.HasPrefix(string(it.raw), prefix) {
				c.out.mu.Unlock()
				return true
			}
		}
		c.out.mu.Unlock()
	}
	return false
}
