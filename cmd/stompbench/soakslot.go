package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// soakSlot is one subscriber or queue consumer of the soak, across the
// connections it opens: churn and failures close one and open the next,
// which resumes the topic where the last one stopped.
type soakSlot struct {
	idx   int
	recv  *soakReceiver
	queue bool // a queue consumer: client-individual acks

	c    atomic.Pointer[conn] // the current connection
	busy atomic.Bool          // closing or opening, by churn or after a failure
	node int                  // added to idx to pick the node, under busy

	mu       sync.Mutex
	offset   uint64 // x-stream-offset of the last message got, or of the stream when subscribed
	epoch    string // its x-stream-epoch
	located  bool   // offset is known
	leaving  bool   // the connection is closing: record nothing more
	holding  bool   // a queue consumer about to vanish: acknowledge nothing more
	dropped  int    // the messages it got since, unacknowledged
	resuming bool   // the SUBSCRIBE in flight resumes from offset
	// A queue consumer's: the messages acknowledged on the connection and
	// not yet confirmed, oldest first, of which the RECEIPT asked for
	// (ackReceipt) confirms the first asked; none is asked for when 0.
	acked []uint64
	asked int
}

// ackReceipt is the receipt a queue consumer's ACK asks for, one at a
// time: it confirms every ACK before it on the connection.
const ackReceipt = "ack"

// openSlot connects sl and subscribes; resuming asks the topic's history
// for what sl missed since its last message.
func (s *soak) openSlot(ctx context.Context, sl *soakSlot, resuming bool) error {
	bufs, ack, prefetch := idleBuffers, "auto", 0
	if sl.queue {
		bufs, ack, prefetch = busyBuffers, "client-individual", s.cfg.Prefetch
	}
	cr := s.cred.Load()
	c, err := s.b.dial(ctx, s.b.dialerFor(false, sl.idx+sl.node), bufs, cr.headers)
	if err != nil {
		return err
	}
	c.clock = &s.b.clock
	c.onMessage = func(c *conn, f *stomp.Frame) { s.slotMessage(sl, c, f) }
	c.onReceipt = func(f *stomp.Frame) bool { return s.slotReceipt(sl, f) }
	if sl.queue {
		c.afterRead = c.flushAcks
	}
	sl.mu.Lock()
	sl.leaving, sl.holding, sl.resuming = false, false, resuming
	sl.acked, sl.asked = sl.acked[:0], 0
	extra := sl.resumeHeaders()
	sl.mu.Unlock()
	sl.c.Store(c)
	c.run(func(err error) { s.slotFailed(sl, c, err) })
	s.catchUp(c, cr)
	if err := c.subscribe(ctx, 0, sl.recv.st.dest, ack, prefetch, extra...); err != nil {
		c.close(false, 0)
		return err
	}
	return nil
}

// resumeHeaders asks for the messages after the last one got, under mu.
func (sl *soakSlot) resumeHeaders() []header {
	if sl.queue || !sl.located {
		return nil
	}
	hs := []header{{"x-stream-offset", "offset=" + strconv.FormatUint(sl.offset, 10)}}
	if sl.epoch != "" {
		hs = append(hs, header{"x-stream-epoch", sl.epoch})
	}
	return hs
}

// slotMessage records one MESSAGE and where in its topic's stream it was,
// and acknowledges it for a queue consumer. A connection that is leaving
// records and acknowledges nothing more: the resume replays it, or the
// broker redelivers it, the queue's receiver holding it until then, as
// it does what a consumer about to vanish gets.
func (s *soak) slotMessage(sl *soakSlot, c *conn, f *stomp.Frame) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	_, redelivered := f.Get("redelivered")
	if sl.queue && (sl.leaving || sl.holding) {
		sl.dropped++
		s.deliver(sl.recv, f.Body, c.readNs, redelivered, true)
		return
	}
	if sl.leaving {
		return
	}
	if v, ok := f.Get("x-stream-offset"); ok {
		sl.offset, sl.located = parseDec(v)
	}
	if v, ok := f.Get("x-stream-epoch"); ok && string(v) != sl.epoch {
		sl.epoch = string(v)
	}
	seq, ok := s.deliver(sl.recv, f.Body, c.readNs, redelivered, false)
	if sl.queue {
		sl.ack(c, f, seq, ok)
	}
}

// ack acknowledges f, message seq (if ok: not corrupt), asking for a
// RECEIPT when none is awaited, under mu.
func (sl *soakSlot) ack(c *conn, f *stomp.Frame, seq uint64, ok bool) {
	if !ok {
		c.ack(f)
		return
	}
	sl.acked = append(sl.acked, seq)
	if sl.asked > 0 {
		c.ack(f)
		return
	}
	sl.asked = len(sl.acked)
	c.ackAsking(f, ackReceipt)
}

// ackConfirmed handles the RECEIPT of a queue consumer's ACK: the ACKs up
// to the one that asked for it took effect.
func (sl *soakSlot) ackConfirmed() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.recv.confirmAcks(sl.acked[:sl.asked])
	sl.acked = append(sl.acked[:0], sl.acked[sl.asked:]...)
	sl.asked = 0
}

// slotReceipt handles the RECEIPTs of a slot's connection: the in-band
// refreshes', the queue ACKs' and the SUBSCRIBE's, which says whether a
// resume was met in full (x-recovered) and where the stream stands. A
// resume not met loses what the connection missed of the messages sent
// until then: the receiver notes them (resumeUnmet). A RECEIPT without an epoch where the slot knows
// one (a cluster node that cannot reach Redis answers x-stream-offset:0)
// does not know where the stream stands: the slot keeps its own place,
// lest its next resume replay the whole history.
func (s *soak) slotReceipt(sl *soakSlot, f *stomp.Frame) bool {
	if s.refreshReceipt(f) {
		return true
	}
	if sl.queue && f.Value("receipt-id") == ackReceipt {
		sl.ackConfirmed()
		return true
	}
	if sl.queue || f.Value("receipt-id") != "sub-0" {
		return false
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	recovered := f.Value("x-recovered")
	if sl.resuming && recovered == "true" {
		s.recovered.Add(1)
		return false
	}
	if sl.resuming && sl.located {
		s.unrecovered.Add(1)
		sl.recv.resumeUnmet(sl.recv.st.sent.Load())
	}
	epoch := f.Value("x-stream-epoch")
	if v, ok := f.Get("x-stream-offset"); ok && (epoch != "" || sl.epoch == "") {
		sl.offset, sl.located = parseDec(v)
		sl.epoch = epoch
	}
	return false
}

// parseDec reads a decimal number without allocating.
func parseDec(b []byte) (n uint64, ok bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, len(b) > 0
}

// leave closes sl's connection c: politely (DISCONNECT and its receipt)
// or by dropping the socket.
func (sl *soakSlot) leave(c *conn, polite bool) {
	sl.mu.Lock()
	sl.leaving = true
	sl.mu.Unlock()
	c.close(polite, time.Second)
}

// Before it vanishes, a queue consumer holds at most vanishHold messages
// unacknowledged, waiting at most vanishWait for them.
const (
	vanishHold = 3
	vanishWait = 2 * time.Second
)

// vanish has sl's consumer stop acknowledging what it gets until it holds
// vanishHold messages or vanishWait passed, and then drops its socket, as
// a consumer that crashes does: the broker must redeliver those messages,
// marked redelivered.
func (s *soak) vanish(sl *soakSlot, c *conn) {
	sl.mu.Lock()
	sl.holding, sl.dropped = true, 0
	sl.mu.Unlock()
	deadline := time.Now().Add(vanishWait)
	for time.Now().Before(deadline) && sleep(s.bgCtx, 10*time.Millisecond) {
		sl.mu.Lock()
		enough := sl.dropped >= vanishHold
		sl.mu.Unlock()
		if enough {
			break
		}
	}
	s.vanished.Add(1)
	sl.leave(c, false)
}

// reopen connects sl again, resuming, to the next node after each failed
// attempt, backing off, until it succeeds or the soak stops.
func (s *soak) reopen(sl *soakSlot) {
	backoff := 50 * time.Millisecond
	for {
		err := s.openSlot(s.bgCtx, sl, true)
		if err == nil {
			s.reconnects.Add(1)
			return
		}
		if s.bgCtx.Err() != nil {
			return
		}
		s.failure(fmt.Errorf("subscriber %d: reconnecting: %w", sl.idx, err))
		sl.node++
		if !sleep(s.bgCtx, backoff) {
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// slotFailed handles a connection that ended without the soak asking:
// it counts the error and reconnects to the next node.
func (s *soak) slotFailed(sl *soakSlot, c *conn, err error) {
	s.failure(fmt.Errorf("subscriber %d: %w", sl.idx, err))
	s.spawn(func() {
		for !sl.busy.CompareAndSwap(false, true) {
			if !sleep(s.bgCtx, 10*time.Millisecond) {
				return
			}
		}
		defer sl.busy.Store(false)
		if sl.c.Load() != c {
			return // replaced meanwhile
		}
		sl.node++
		s.reopen(sl)
	})
}

// churn closes a random connection -churn times a second, half politely
// and half by dropping the socket, and opens it again, resuming, until
// ctx ends. A queue consumer leaves politely, or, a -vanish share of
// times, vanishes holding unacknowledged messages.
func (s *soak) churn(ctx context.Context) {
	if s.cfg.Churn == 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / s.cfg.Churn))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sl := s.slots[rand.IntN(len(s.slots))]
		if !sl.busy.CompareAndSwap(false, true) {
			continue
		}
		polite, vanish := n%2 == 0, false
		if sl.queue {
			vanish = rand.Float64() < s.cfg.Vanish
			polite = !vanish
		}
		s.spawn(func() {
			defer sl.busy.Store(false)
			if c := sl.c.Load(); c != nil {
				if vanish {
					s.vanish(sl, c)
				} else {
					sl.leave(c, polite)
				}
			}
			s.reopen(sl)
		})
	}
}
