package broker

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// heapInUse returns the bytes of live heap objects, after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestQueuedBytesBoundTheHeap sends 200,000 empty SENDs to distinct queues
// that nobody consumes, with MaxQueuedBytes at 16 MiB, and checks the heap
// itself: what the queues hold may not grow it by more than a quarter over
// the bound, since each queue and message counts what it really costs and
// a queue that refused its only message is not kept. The first SEND
// refused ends the session with ERROR; what follows it is never read.
func TestQueuedBytesBoundTheHeap(t *testing.T) {
	const sends, limit = 200000, 16 << 20
	h := newHarness(t, Options{MaxQueuedBytes: limit})
	p := h.connect(t, "p")
	var sb strings.Builder
	for i := range sends {
		fmt.Fprintf(&sb, "SEND\ndestination:/queue/m%d\n\n\x00", i)
	}
	script := sb.String()
	before := heapInUse()
	p.Conn.SetWriteDeadline(time.Now().Add(time.Minute))
	go io.WriteString(p.Conn, script) // fails once the broker closes
	p.expect("ERROR", "code:limit-exceeded")
	open := h.m.Connections.WithLabelValues("tcp")
	waitFor(t, "the session to end", func() bool { return value(t, open) == 0 })
	grown := heapInUse() - before
	runtime.KeepAlive(script)
	accounted := h.b.queuedBytes.Load()
	queues, depth := value(t, h.m.Destinations.WithLabelValues("queue")), value(t, h.m.QueueDepth)
	t.Logf("%d empty SENDs to distinct queues, limit %d MiB: heap grew %.1f MiB, accounted %.1f MiB, %v queues hold %v messages",
		sends, limit>>20, float64(grown)/(1<<20), float64(accounted)/(1<<20), queues, depth)
	if grown > limit+limit/4 {
		t.Errorf("the heap grew by %.1f MiB under a %d MiB bound on what queues hold", float64(grown)/(1<<20), limit>>20)
	}
	if queues != depth {
		t.Errorf("%v queues hold %v messages: the queues that refused their message were kept", queues, depth)
	}
}

// TestUnackedCountAgainstQueuedBytes checks that a consumer that reads
// every message and never acknowledges cannot make the broker hold more than
// MaxQueuedBytes: what waits for its ACK counts as queued, so SENDs are
// refused once it fills the bound, and the heap shows it.
func TestUnackedCountAgainstQueuedBytes(t *testing.T) {
	const limit, body, sends = 4 << 20, 4 << 10, 4000 // 16 MiB offered
	h := newHarness(t, Options{MaxQueuedBytes: limit})
	c := h.subscriber(t, "hoarder", "/queue/hoard", "ack:client", "prefetch-count:65535")
	go func() { // reads everything, acknowledges nothing
		for {
			if _, err := c.next(); err != nil {
				return
			}
		}
	}()
	p := h.connect(t, "p")
	before := heapInUse()
	stored := 0
	for ; stored < sends; stored++ {
		p.write(frame("SEND", strings.Repeat("x", body), "destination:/queue/hoard", "receipt:r"))
		if f := p.read(); f.Command == stomp.ERROR {
			break
		}
	}
	grown := heapInUse() - before
	t.Logf("%d of %d SENDs of %d bytes stored under a %d MiB bound; heap grew %.1f MiB", stored, sends, body, limit>>20, float64(grown)/(1<<20))
	if stored == sends {
		t.Fatalf("all %d SENDs (%d MiB) were stored under a %d MiB bound", sends, sends*body>>20, limit>>20)
	}
	if grown > limit+limit/4 {
		t.Errorf("the heap grew by %.1f MiB under a %d MiB bound on what queues hold", float64(grown)/(1<<20), limit>>20)
	}
}

// TestIdleQueueCostsNothing checks that a queue is removed, and what it
// cost released, once it holds nothing: after its consumer took every
// message and left, and when a SEND that created it found the queues full.
func TestIdleQueueCostsNothing(t *testing.T) {
	h := newHarness(t, Options{MaxQueuedBytes: 8 << 10})
	queues := h.m.Destinations.WithLabelValues("queue")
	p := h.connect(t, "p")
	sendAll(p, "/queue/drained", "1", "2", "3")
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/drained"))
	expectBodies(c, "1", "2", "3")
	c.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:gone"))
	c.expect("RECEIPT", "receipt-id:gone")
	if n, held := value(t, queues), h.b.queuedBytes.Load(); n != 0 || held != 0 {
		t.Fatalf("after the consumer left: %v queues, %d bytes held; want none", n, held)
	}
	sendAll(p, "/queue/big", strings.Repeat("x", 6<<10))
	held := h.b.queuedBytes.Load()
	p.write(frame("SEND", strings.Repeat("x", 6<<10), "destination:/queue/refused", "receipt:r"))
	p.expect("ERROR", "code:limit-exceeded", "receipt-id:r")
	if n, now := value(t, queues), h.b.queuedBytes.Load(); n != 1 || now != held {
		t.Fatalf("after a SEND to a new queue found the queues full: %v queues, %d bytes held; want 1 and %d", n, now, held)
	}
}

// TestQueueCostMatchesHeap fills queues the way SENDs do and checks that
// what the broker accounts for them (see cost.go) is within a tenth of what
// the heap grew by: many messages in one queue, with bodies and headers of
// several sizes, and one message in each of many queues.
func TestQueueCostMatchesHeap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		distinct bool
		body     int
		headers  []string
	}{
		{"one queue, empty messages", false, 0, nil},
		{"one queue, 100-byte bodies and a header", false, 100, []string{"content-type:text/plain"}},
		{"one queue, 1,000-byte bodies and three headers", false, 1000, []string{"content-type:text/plain", "x-a:1", "x-b:22"}},
		{"a queue per empty message", true, 0, nil},
		{"a queue per 100-byte message", true, 100, []string{"content-type:text/plain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 1 << 14
			b := anonymousBroker(Options{MaxQueueLength: n, MaxQueueBytes: 1 << 30, MaxDestinations: n})
			frames := make([]*stomp.Frame, n)
			for i := range frames {
				f := &stomp.Frame{Command: stomp.SEND, Body: make([]byte, tc.body)}
				dest := "/queue/q"
				if tc.distinct {
					dest = fmt.Sprintf("/queue/q%d", i)
				}
				f.Add("destination", dest)
				for _, h := range tc.headers {
					k, v, _ := strings.Cut(h, ":")
					f.Add(k, v)
				}
				frames[i] = f
			}
			before := heapInUse()
			for i, f := range frames {
				dest, _ := f.Get("destination")
				rt, _ := sendRoute(dest)
				if err := b.r.publish(newMessage(f, rt.key, rt.kind, uint64(i+1), time.Time{}), new(stores), ""); err != nil {
					t.Fatal(err)
				}
			}
			grown := heapInUse() - before
			runtime.KeepAlive(frames)
			accounted := b.queuedBytes.Load()
			t.Logf("per message: heap %.0f bytes, accounted %.0f", float64(grown)/n, float64(accounted)/n)
			if d := float64(accounted-grown) / float64(grown); d < -0.1 || d > 0.1 {
				t.Fatalf("accounted %d bytes for %d messages, the heap grew by %d", accounted, n, grown)
			}
		})
	}
}

// TestMaxDestinations checks the bound on destinations: a SEND or SUBSCRIBE
// that would create one beyond it gets ERROR limit-exceeded and is
// counted, existing destinations keep working, and a destination removed
// makes room for another.
func TestMaxDestinations(t *testing.T) {
	h := newHarness(t, Options{MaxDestinations: 3})
	refused := h.m.DestinationsRefused
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:a", "destination:/topic/a"))
	c.write(frame("SUBSCRIBE", "", "id:b", "destination:/queue/b", "receipt:subscribed"))
	c.expect("RECEIPT")
	sendAll(h.connect(t, "p"), "/queue/c", "kept")

	p := h.connect(t, "p")
	p.write(frame("SEND", "lost", "destination:/queue/d", "receipt:r"))
	p.expectError(CodeLimitExceeded, "too many destinations: the limit is 3")
	s := h.connect(t, "s")
	s.write(frame("SUBSCRIBE", "", "id:e", "destination:/topic/e"))
	s.expectError(CodeLimitExceeded, "too many destinations")
	tx := h.connect(t, "tx")
	tx.write(frame("BEGIN", "", "transaction:t"))
	tx.write(frame("SEND", "in", "destination:/queue/c", "transaction:t"))
	tx.write(frame("SEND", "lost", "destination:/queue/f", "transaction:t"))
	tx.write(frame("COMMIT", "", "transaction:t"))
	tx.expectError(CodeLimitExceeded, "too many destinations")
	if n := value(t, refused); n != 3 {
		t.Fatalf("destinations_refused_total %v, want 3", n)
	}

	sendAll(h.connect(t, "p"), "/topic/a", "to a")
	expectBodies(c, "to a")
	q := h.connect(t, "q")
	q.write(frame("SUBSCRIBE", "", "id:c", "destination:/queue/c"))
	expectBodies(q, "kept") // not "in": its COMMIT failed, and applied nothing
	q.expectNothing(30 * time.Millisecond)
	c.write(frame("UNSUBSCRIBE", "", "id:a", "receipt:left"))
	c.expect("RECEIPT")
	s = h.subscriber(t, "s", "/topic/e")
	sendAll(h.connect(t, "p"), "/topic/e", "to e")
	expectBodies(s, "to e")
}
