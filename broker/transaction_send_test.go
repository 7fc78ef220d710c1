package broker

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// txSend is a SEND of a transaction: where it goes and its body.
type txSend struct{ dest, body string }

// txBounds are transactions whose last SEND cannot fit: each starts with
// a subscriber of /topic/w and the message "old" in /queue/q, made by
// another user.
var txBounds = []struct {
	name    string
	o       Options
	headers []string // of every SEND
	sends   []txSend
	msg     string // in the ERROR when the last SEND is in
}{
	{"queue full", Options{MaxQueueLength: 3}, nil,
		[]txSend{{"/topic/w", "1"}, {"/queue/q", "2"}, {"/queue/q", "3"}, {"/queue/q", "4"}},
		"queue /queue/q is full"},
	{"queue full, persistent", Options{MaxQueueLength: 3}, []string{"persistent:true"},
		[]txSend{{"/queue/q", "1"}, {"/queue/q", "2"}, {"/queue/q", "3"}},
		"queue /queue/q is full"},
	{"too many destinations", Options{MaxDestinations: 3}, nil,
		[]txSend{{"/topic/w", "1"}, {"/queue/a", "2"}, {"/queue/q", "3"}, {"/queue/b", "4"}},
		"too many destinations"},
	{"too many queues per user", Options{MaxQueuesPerUser: 1}, nil,
		[]txSend{{"/queue/a", "1"}, {"/queue/q", "2"}, {"/queue/a", "3"}, {"/queue/b", "4"}},
		"too many queues made by one user"},
	{"topic with history beyond destinations", Options{MaxDestinations: 3, HistorySize: 8}, nil,
		[]txSend{{"/topic/w", "1"}, {"/queue/a", "2"}, {"/topic/h", "3"}},
		"too many destinations"},
}

// TestCommitWhoseSendCannotFitAppliesNothing checks that a COMMIT whose
// last SEND cannot fit gets an ERROR and applies none of the
// transaction's frames: no subscriber gets any of its messages, and the
// queues, destinations and bytes are as before the COMMIT.
func TestCommitWhoseSendCannotFitAppliesNothing(t *testing.T) {
	for _, tt := range txBounds {
		t.Run(tt.name, func(t *testing.T) {
			h, watcher := txHarness(t, tt.o)
			before := h.ledger(t)
			c := h.connect(t, "u")
			c.write(txFrames(tt.sends, tt.headers...))
			c.expectError(CodeLimitExceeded, tt.msg)
			if after := h.ledger(t); after != before {
				t.Errorf("after the failed COMMIT: %+v, before it: %+v", after, before)
			}
			watcher.expectNothing(50 * time.Millisecond)
			expectQueues(t, h, nil)
		})
	}
}

// TestCommitWhoseSendsFitAppliesThemInOrder checks the transactions of
// txBounds without their last SEND: the COMMIT gets its RECEIPT and every
// message reaches its destination, in the transaction's order.
func TestCommitWhoseSendsFitAppliesThemInOrder(t *testing.T) {
	for _, tt := range txBounds {
		t.Run(tt.name, func(t *testing.T) {
			h, watcher := txHarness(t, tt.o)
			sends := tt.sends[:len(tt.sends)-1]
			c := h.connect(t, "u")
			c.write(txFrames(sends, tt.headers...))
			c.expect("RECEIPT", "receipt-id:c")
			expectBodies(watcher, bodiesTo(sends, "/topic/w")...)
			watcher.expectNothing(30 * time.Millisecond)
			expectQueues(t, h, sends)
		})
	}
}

// txHarness serves o with the starting point of txBounds, a Journal
// included, and returns the subscriber of /topic/w.
func txHarness(t *testing.T, o Options) (*harness, *client) {
	o.Journal = newMemJournal(t)
	h := newHarness(t, o)
	watcher := h.subscriber(t, "w", "/topic/w")
	sendAll(h.connect(t, "p"), "/queue/q", "old")
	return h, watcher
}

// txFrames is BEGIN, a SEND with headers for each of sends, and a COMMIT
// asking for the RECEIPT c.
func txFrames(sends []txSend, headers ...string) string {
	var b strings.Builder
	b.WriteString(frame("BEGIN", "", "transaction:t"))
	for _, s := range sends {
		b.WriteString(frame("SEND", s.body, append([]string{"destination:" + s.dest, "transaction:t"}, headers...)...))
	}
	b.WriteString(frame("COMMIT", "", "transaction:t", "receipt:c"))
	return b.String()
}

// bodiesTo is the bodies of sends to dest, in order.
func bodiesTo(sends []txSend, dest string) []string {
	var bodies []string
	for _, s := range sends {
		if s.dest == dest {
			bodies = append(bodies, s.body)
		}
	}
	return bodies
}

// expectQueues consumes /queue/q, /queue/a and /queue/b, and checks that
// each holds what sends put there after what it held before ("old" in
// /queue/q), and nothing more.
func expectQueues(t *testing.T, h *harness, sends []txSend) {
	t.Helper()
	for _, dest := range []string{"/queue/q", "/queue/a", "/queue/b"} {
		want := bodiesTo(sends, dest)
		if dest == "/queue/q" {
			want = append([]string{"old"}, want...)
		}
		c := h.subscriber(t, "d", dest)
		expectBodies(c, want...)
		c.expectNothing(30 * time.Millisecond)
		c.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u")) // so that the next queue fits
		c.expect("RECEIPT", "receipt-id:u")
	}
}

// ledger is what a COMMIT that fails must leave as it found it.
type ledger struct {
	depth, queueGauge float64
	queues, topics    int
	owned             int   // queues made by users, all together
	bytes             int64 // queuedBytes
}

func (h *harness) ledger(t *testing.T) ledger {
	t.Helper()
	r := h.b.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	owned := 0
	for _, n := range r.owned {
		owned += n
	}
	return ledger{
		depth:      value(t, h.m.QueueDepth),
		queueGauge: value(t, h.m.Destinations.WithLabelValues("queue")),
		queues:     len(r.queues), topics: len(r.topics), owned: owned,
		bytes: h.b.queuedBytes.Load(),
	}
}

// TestConcurrentCommitsDoNotOverfillAQueue commits, at once from several
// connections, transactions of three SENDs each into a queue with room
// for seven messages: two transactions must get in whole, and no other
// message. Half the connections close as soon as they wrote their
// COMMIT; whatever they find, the queue's depth and bytes must account for
// exactly the messages it holds.
func TestConcurrentCommitsDoNotOverfillAQueue(t *testing.T) {
	const conns, each, room = 8, 3, 7
	h := newHarness(t, Options{MaxQueueLength: room})
	empty := h.ledger(t)
	cs := make([]*client, conns)
	for i := range cs {
		cs[i] = h.connect(t, "u"+strconv.Itoa(i))
	}
	answers := make([]string, conns)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cs {
		raw := []byte(txFrames(burstTx(i, each)))
		wg.Go(func() {
			<-start
			if _, err := c.Conn.Write(raw); err != nil || i%2 == 1 {
				c.Conn.Close()
				return
			}
			if f, err := c.next(); err == nil {
				answers[i] = f.Command.String()
			}
		})
	}
	close(start)
	wg.Wait()
	// The closed connections' COMMITs may still be in the broker's hands:
	// wait until they are done, lest the queue's consumer below make room
	// for one of them.
	waitConns(t, h.b, conns/2)
	in := expectWholeTxs(t, h, "/queue/burst", room/each, each)
	for i, answer := range answers {
		if i%2 == 0 && (answer == "RECEIPT") != in[strconv.Itoa(i)] {
			t.Errorf("COMMIT %d answered %s, yet its messages were delivered: %v", i, answer, in[strconv.Itoa(i)])
		}
	}
	if after := h.ledger(t); after.depth != empty.depth || after.bytes != empty.bytes {
		t.Errorf("once the queue was consumed: %+v, before the COMMITs: %+v", after, empty)
	}
}

// burstTx is the SENDs of transaction i: each messages "i.k" to
// /queue/burst.
func burstTx(i, each int) []txSend {
	sends := make([]txSend, each)
	for k := range sends {
		sends[k] = txSend{"/queue/burst", fmt.Sprintf("%d.%d", i, k)}
	}
	return sends
}

// expectWholeTxs consumes n transactions of each messages from dest, and
// nothing more: every transaction's messages, "i.k", whole and in their
// order, whatever the order of the transactions. It returns the i of each.
func expectWholeTxs(t *testing.T, h *harness, dest string, n, each int) map[string]bool {
	t.Helper()
	c := h.subscriber(t, "d", dest)
	next := make(map[string]int)
	for range n * each {
		body := string(c.expect("MESSAGE").Body)
		tx, k, _ := strings.Cut(body, ".")
		if k != strconv.Itoa(next[tx]) {
			t.Fatalf("message %s out of its transaction's order", body)
		}
		next[tx]++
	}
	c.expectNothing(30 * time.Millisecond)
	in := make(map[string]bool)
	for tx, got := range next {
		if got != each {
			t.Fatalf("transaction %s delivered %d of its %d messages", tx, got, each)
		}
		in[tx] = true
	}
	c.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u"))
	c.expect("RECEIPT", "receipt-id:u")
	return in
}

// TestCommitCountsAllItsQueuesAgainstMaxQueuedBytes commits a 1,000-byte
// message to each of two new queues, with MaxQueuedBytes just below, then
// at, what both cost: each would fit alone, so only a check of the two
// together refuses the first COMMIT.
func TestCommitCountsAllItsQueuesAgainstMaxQueuedBytes(t *testing.T) {
	body := strings.Repeat(".", 1000)
	kept := len("destination:/queue/a\ncontent-length:1000\n\n") + len(body) + 1
	each := queueCost("/queue/a") + slotsCost(minRing) + messageStructCost + allocSize(len("/queue/a")) + allocSize(kept)
	sends := []txSend{{"/queue/a", body}, {"/queue/b", body}}
	for _, tc := range []struct {
		name  string
		bound int
		want  string // the COMMIT's answer
	}{
		{"one byte short", 2*each - 1, "ERROR"},
		{"room for both", 2 * each, "RECEIPT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxQueuedBytes: tc.bound})
			before := h.ledger(t)
			c := h.connect(t, "u")
			c.write(txFrames(sends))
			c.expect(tc.want)
			delivered := sends
			if tc.want == "ERROR" {
				if after := h.ledger(t); after != before {
					t.Errorf("after the failed COMMIT: %+v, before it: %+v", after, before)
				}
				delivered = nil
			}
			for _, dest := range []string{"/queue/a", "/queue/b"} {
				d := h.subscriber(t, "d", dest)
				expectBodies(d, bodiesTo(delivered, dest)...)
				d.expectNothing(30 * time.Millisecond)
			}
		})
	}
}

// waitConns waits until b serves n connections.
func waitConns(t *testing.T, b *Broker, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b.mu.Lock()
		got := len(b.conns)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker serves %d connections, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
