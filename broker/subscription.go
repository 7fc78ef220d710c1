package broker

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/stompd/stompd/stomp"
)

// ackMode is a subscription's ack header.
type ackMode uint8

const (
	ackAuto ackMode = iota
	ackClient
	ackClientIndividual
)

func parseAckMode(b []byte, present bool) (ackMode, error) {
	switch {
	case !present || string(b) == "auto":
		return ackAuto, nil
	case string(b) == "client":
		return ackClient, nil
	case string(b) == "client-individual":
		return ackClientIndividual, nil
	}
	return 0, protocolErrorf("invalid ack mode %q: want auto, client or client-individual", b)
}

// subscription is one SUBSCRIBE of a connection.
type subscription struct {
	c        *conn
	id       string // the client's id
	serial   uint64 // unique within the connection, first part of ack ids
	kind     destKind
	key      string // routing key of its topic or queue
	mode     ackMode
	prefetch int        // bound on pending
	prefix   []byte     // "MESSAGE\nsubscription:<id>\n" (and a user destination) in the connection's version
	q        *queue     // the queue consumed, for a queue subscription
	slot     int32      // its slot in its topic's list, for a topic subscription; under the topic's mu
	resume   *resume    // its x-stream headers, nil without
	pos      *streamPos // where it is in a numbered topic; under the topic's mu

	mu       sync.Mutex
	seq      uint64      // last delivery sequence
	pending  []delivery  // delivered but not settled, oldest first
	starting bool        // a new queue consumer, refusing deliveries until started
	closed   atomic.Bool // set under mu; read without it by the writer
}

// delivery is a message handed to a subscriber and not yet settled: for
// client modes until acknowledged; for an auto queue consumer until written.
type delivery struct {
	seq         uint64
	msg         *message
	redelivered bool
}

func newSubscription(c *conn, id string, dest []byte, rt route, mode ackMode, prefetch int) *subscription {
	c.serial++
	p := stomp.AppendCommand(nil, stomp.MESSAGE)
	p = stomp.AppendHeaderString(p, stomp.MESSAGE, "subscription", id, c.version)
	if rt.kind == kindUser {
		p = stomp.AppendHeader(p, stomp.MESSAGE, []byte("destination"), dest, c.version)
	}
	return &subscription{
		c: c, id: id, serial: c.serial, kind: rt.kind, key: rt.key,
		mode: mode, prefetch: prefetch, prefix: p, starting: rt.kind == kindQueue,
	}
}

// start lets a subscription that waits for its SUBSCRIBE's RECEIPT take
// messages. The session calls it once the SUBSCRIBE took effect, with the
// RECEIPT's receipt-id if one was asked for (nil otherwise).
func (s *subscription) start(receipt []byte) {
	switch {
	case s.kind == kindQueue:
		var raw []byte
		if receipt != nil {
			raw = s.c.receiptFrame(receipt)
		}
		s.startQueue(raw)
	case s.pos != nil:
		s.c.b.r.join(s, receipt)
	case receipt != nil: // x-stream headers on a topic without history
		s.c.send(stomp.RECEIPT, s.c.streamReceipt(receipt, s.resume.from == fromNext, "", 0, false))
	}
}

// startQueue lets a new queue consumer take messages, and hands it what
// its queue holds. Until then the consumer is registered but refuses
// deliveries, which stay in the queue or go to other consumers. The
// RECEIPT, when not nil, is queued under the queue's lock in the same step
// that lets the consumer take messages: it comes before every message of
// the subscription, and a client that has read it takes its turn for the
// next message sent.
func (s *subscription) startQueue(receipt []byte) {
	var fx effects
	q := s.q
	q.mu.Lock()
	if receipt != nil {
		fx.add(s.c, s.c.out.push(outItem{cmd: stomp.RECEIPT, raw: receipt}, s.c.b.o.MaxPendingBytes))
	}
	s.mu.Lock()
	s.starting = false
	s.mu.Unlock()
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}

// tracked reports whether deliveries must be remembered until settled.
func (s *subscription) tracked() bool { return s.mode != ackAuto || s.kind == kindQueue }

// deliverTopic hands a fanned-out message to the subscriber without
// blocking (see pushTopic).
func (s *subscription) deliverTopic(m *message) { s.c.settle(s.pushTopic(m)) }

// pushTopic queues a topic message for the subscriber, and returns what
// the caller must settle once it released its locks. A client-mode
// subscriber with prefetch messages unacknowledged misses it, and so does
// one whose transport cannot carry it.
func (s *subscription) pushTopic(m *message) pushResult {
	if !s.carries(m) {
		s.c.b.m.dropNotText.Inc()
		return refused
	}
	if !s.tracked() {
		if s.closed.Load() { // a publisher's snapshot may predate UNSUBSCRIBE
			return refused
		}
		return s.c.out.push(outItem{msg: m, sub: s, cmd: stomp.MESSAGE}, s.c.b.o.MaxPendingBytes)
	}
	s.mu.Lock()
	r, ok := s.pushLocked(delivery{msg: m})
	s.mu.Unlock()
	if !ok {
		s.c.b.m.dropSlowConsumer.Inc()
		return refused
	}
	return r
}

// pushLocked queues a tracked delivery when the subscriber has credit: fewer
// pending deliveries than its prefetch and, for a queue consumer, started
// and with room in its connection's outbox. ok is false when it has none.
// Called with s.mu held.
func (s *subscription) pushLocked(d delivery) (r pushResult, ok bool) {
	if s.starting || s.closed.Load() || len(s.pending) >= s.prefetch || s.c.closing.Load() || !s.carries(d.msg) {
		return refused, false
	}
	it := outItem{msg: d.msg, sub: s, seq: s.seq + 1, redelivered: d.redelivered, cmd: stomp.MESSAGE}
	if s.kind == kindQueue {
		r = s.c.out.pushFlow(it, s.c.b.o.MaxPendingBytes, s.q)
	} else {
		r = s.c.out.push(it, s.c.b.o.MaxPendingBytes)
	}
	switch {
	case r == full:
		return r, false
	case r.queued():
		s.seq = it.seq
		d.seq = it.seq
		s.pending = append(s.pending, d)
		s.hold(d.cost())
	}
	return r, true
}

// claim is called by the writer before it writes delivery seq. It reports
// false when the subscription ended meanwhile (its deliveries went back to
// the queue). An auto queue consumer's delivery is settled here, freeing
// credit: auto mode counts a message delivered once it is handed to the
// socket.
func (s *subscription) claim(seq uint64) bool {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return false
	}
	if s.mode != ackAuto {
		s.mu.Unlock()
		return true
	}
	full := len(s.pending) >= s.prefetch
	var ref string
	if i, ok := s.find(seq); ok {
		ref = s.pending[i].msg.ref
		s.unhold(s.pending[i : i+1])
		s.pending = slices.Delete(s.pending, i, i+1)
	}
	s.mu.Unlock()
	if ref != "" {
		s.q.reader.Settle([]string{ref}, SettleRemove)
	}
	if full {
		s.q.dispatch()
	}
	return true
}

// find returns the index of the pending delivery seq. Called with s.mu held.
func (s *subscription) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(s.pending, seq, func(d delivery, seq uint64) int {
		switch {
		case d.seq < seq:
			return -1
		case d.seq > seq:
			return 1
		}
		return 0
	})
}

// seqOf returns the sequence of the pending delivery of message id.
func (s *subscription) seqOf(id uint64) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.pending {
		if d.msg.id == id {
			return d.seq, true
		}
	}
	return 0, false
}

// settle removes the deliveries an ACK or NACK of seq covers (see
// settleLocked). ok is false when seq is not awaiting acknowledgement.
func (s *subscription) settle(seq uint64) (done []delivery, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.awaiting(seq) {
		return nil, false
	}
	return s.settleLocked(seq), true
}

// awaiting reports whether delivery seq is pending and acknowledgeable.
// Called with s.mu held.
func (s *subscription) awaiting(seq uint64) bool {
	_, ok := s.find(seq)
	return ok && s.mode != ackAuto
}

// settleLocked removes the deliveries an ACK or NACK of the awaiting seq
// covers: every one up to seq in client mode, seq alone in
// client-individual mode. Called with s.mu held.
func (s *subscription) settleLocked(seq uint64) []delivery {
	i, _ := s.find(seq)
	from := i
	if s.mode == ackClient {
		from = 0
	}
	done := slices.Clone(s.pending[from : i+1])
	s.pending = slices.Delete(s.pending, from, i+1)
	s.unhold(done)
	return done
}

// hold counts n bytes of a queue delivery pending acknowledgement against
// MaxQueuedBytes: its message stays in the heap until it is settled, so a
// consumer that never acknowledges cannot hold more than queues may.
// Called with s.mu held.
func (s *subscription) hold(n int) {
	if s.kind == kindQueue {
		s.c.b.queuedBytes.Add(int64(n))
	}
}

// unhold gives back what the deliveries ds held while pending. Called with
// s.mu held.
func (s *subscription) unhold(ds []delivery) {
	n := 0
	for _, d := range ds {
		n += d.cost()
	}
	s.hold(-n)
}

// lockSubs locks the subscriptions of a connection in serial order, which
// is how several of them are ever held at once, and returns the unlock.
func lockSubs(subs []*subscription) (unlock func()) {
	slices.SortFunc(subs, func(a, b *subscription) int { return cmp.Compare(a.serial, b.serial) })
	subs = slices.Compact(subs)
	for _, s := range subs {
		s.mu.Lock()
	}
	return func() {
		for _, s := range subs {
			s.mu.Unlock()
		}
	}
}

// detach closes the subscription and returns what was pending.
func (s *subscription) detach() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	p := s.pending
	s.pending = nil
	s.unhold(p)
	return p
}

// appendAckID appends the ack id of delivery seq of the subscription
// with that serial: "<serial>.<seq>", never holding ':' or '\'.
func appendAckID(dst []byte, serial, seq uint64) []byte {
	dst = appendUint(dst, serial)
	dst = append(dst, '.')
	return appendUint(dst, seq)
}

func parseAckID(b []byte) (serial, seq uint64, ok bool) {
	a, c, found := bytes.Cut(b, []byte{'.'})
	if !found {
		return 0, 0, false
	}
	serial, err1 := strconv.ParseUint(string(a), 10, 64)
	seq, err2 := strconv.ParseUint(string(c), 10, 64)
	return serial, seq, err1 == nil && err2 == nil
}

func appendUint(dst []byte, n uint64) []byte { return strconv.AppendUint(dst, n, 10) }
