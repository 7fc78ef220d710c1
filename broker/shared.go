package broker

import (
	"errors"
	"fmt"
	"time"
)

// QueueBackend shares the queues of a broker with the other nodes of a
// cluster, so that each message sent to a queue on any node goes to exactly
// one consumer on one node. It is set in Options.Queues; without one,
// queues live in this process alone.
//
// The broker keeps its own machinery for the consumers it serves (round
// robin among those with credit, prefetch, ack modes, redelivered:true, the
// RECEIPT of a SUBSCRIBE before its messages); the backend stores the
// messages and hands each node only what that node's consumers have credit
// for. Messages cross it encoded by the broker: to the backend they are
// opaque bytes.
type QueueBackend interface {
	// Enqueue stores msg, sent by user ("" for none), at the tail of queue
	// dest, then calls stored with nil, or with why it did not (an error
	// wrapping ErrQueueFull when the queue is at its bound, ErrTooManyQueues
	// when it would make one queue too many, ErrTooManyQueuesPerUser when
	// one too many made by user). It does not block: stored is called
	// later, from another goroutine, and only once msg is stored or never
	// will be.
	Enqueue(dest, user string, msg []byte, stored func(error))
	// Open starts reading queue dest for this node's consumers, handing what
	// it reads to deliver, from one goroutine, never more than Want allowed.
	// The broker opens a queue when a first consumer of this node subscribes
	// to it and closes it when the last one leaves; it calls Open with the
	// router's lock held, so Open must neither block nor call deliver before
	// it returns.
	Open(dest string, deliver func([]Queued)) QueueReader
}

// QueueReader is one node's reading of one shared queue: a queue of a
// QueueBackend, shared by the nodes of a cluster. Its methods do not block.
type QueueReader interface {
	// Want says how many more messages this node's consumers of the queue
	// can take now, beyond what was delivered; 0 stops reading.
	Want(n int)
	// Settle disposes of delivered messages, named by their Ref. It works
	// after Close too.
	Settle(refs []string, d Disposition)
	// Close stops reading. What a read still brings afterwards is given back
	// to the queue as it was, not delivered.
	Close()
}

// Queued is a message a QueueReader hands to its node.
type Queued struct {
	Ref         string // the backend's name for it, for Settle
	Msg         []byte // as Enqueue was given it
	Redelivered bool   // it was handed to a consumer before
}

// Disposition says what Settle does with messages.
type Disposition uint8

const (
	// SettleRemove removes them: acknowledged, or dropped by a NACK with
	// requeue:false.
	SettleRemove Disposition = iota
	// SettleRedeliver gives them back to the queue, for any node, marked
	// redelivered: they were handed to a consumer that did not acknowledge
	// them (NACK, UNSUBSCRIBE, disconnect). Messages given back are read
	// again before those never read, in the order they were enqueued.
	SettleRedeliver
	// SettleReturn gives them back to the queue as they were: they were
	// read, but no consumer of this node could take them. They keep their
	// place as SettleRedeliver's do.
	SettleReturn
)

// ErrQueueFull is wrapped by the error a QueueBackend reports for a
// message it did not store because its queue is at its bound.
var ErrQueueFull = errors.New("broker: queue is full")

// ErrTooManyQueues is wrapped by the error a QueueBackend reports for a
// message to a queue it refused to make: as many queues as it may hold
// exist already.
var ErrTooManyQueues = errors.New("broker: too many queues")

// ErrTooManyQueuesPerUser is wrapped by the error a QueueBackend reports
// for a message to a queue it refused to make because the user who sent
// it made as many queues as one user may (MaxQueuesPerUser) that exist
// already. It wraps ErrTooManyQueues.
var ErrTooManyQueuesPerUser = fmt.Errorf("%w made by one user", ErrTooManyQueues)

// A shared queue's local part holds only what this node's consumers took:
// its reader reads no more than their credit, and whatever a dispatch
// leaves in the buffer (a consumer left or NACKed and no other has credit,
// a read outran a change of credit) goes back to the backend at once, so
// that consumers of other nodes can take it. A message removed locally (by
// ACK, auto-mode delivery, NACK with requeue:false, or as not_text) is
// removed from the backend too.

// sharedEffects is what a dispatch of a shared queue must tell its reader
// once the locks are released.
type sharedEffects struct {
	reader  QueueReader
	settle  [SettleReturn + 1][]string // refs by disposition
	q       *queue                     // set with want, by shareLocked
	want    int
	seq     uint64 // q.wantSeq when want was computed
	closing bool   // the queue was removed: close the reader
}

func (e *sharedEffects) add(ref string, d Disposition) {
	e.settle[d] = append(e.settle[d], ref)
}

func (e *sharedEffects) apply() {
	for d, refs := range e.settle {
		if len(refs) > 0 {
			e.reader.Settle(refs, Disposition(d))
		}
	}
	if e.closing {
		e.reader.Close()
		return
	}
	if e.q != nil {
		e.q.tell(e.reader, e.seq, e.want)
	}
}

// tell hands r the credit computed as the seq-th, unless a later one was
// handed already: dispatches apply their effects once the locks are
// released, in either order, and a stale credit of 0 applied last would
// leave consumers with credit waiting for ever. wantMu is held only here,
// with no other lock, across Want, which does not block.
func (q *queue) tell(r QueueReader, seq uint64, n int) {
	q.wantMu.Lock()
	defer q.wantMu.Unlock()
	if seq > q.wantTold {
		q.wantTold = seq
		r.Want(n)
	}
}

// shareLocked gives back what is left in a shared queue's buffer, redelivered
// or as it was, and notes how much more this node's consumers can take.
// Called with q.mu held, after a dispatch.
func (q *queue) shareLocked(fx *effects) {
	for q.buf.len() > 0 {
		d := q.buf.popFront()
		q.r.b.m.queueDepth.Dec()
		if d.redelivered {
			fx.shared.add(d.msg.ref, SettleRedeliver)
		} else {
			fx.shared.add(d.msg.ref, SettleReturn)
		}
	}
	q.wantSeq++
	fx.shared.reader, fx.shared.q = q.reader, q
	fx.shared.want, fx.shared.seq = q.creditLocked(), q.wantSeq
}

// creditLocked is how many more messages the consumers can take now.
// Called with q.mu held.
func (q *queue) creditLocked() int {
	n := 0
	for _, s := range q.consumers {
		n += s.credit()
	}
	return n
}

// credit is how many more messages the queue consumer s can take now: none
// while it is starting or ending, or while its connection's outbox has no
// room for queue deliveries (the queue then waits for the writer, as when a
// delivery is refused); otherwise what its prefetch leaves.
func (s *subscription) credit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starting || s.closed.Load() || s.c.closing.Load() || !s.c.out.room(s.c.b.o.MaxPendingBytes, s.q) {
		return 0
	}
	return max(s.prefetch-len(s.pending), 0)
}

// deliver takes what the reader of a shared queue read for this node's
// consumers; what does not decode is removed and counted (malformed).
func (q *queue) deliver(batch []Queued) {
	var fx effects
	ds := q.unwire(batch, &fx)
	q.mu.Lock()
	if q.dead {
		for _, d := range ds {
			fx.shared.add(d.msg.ref, SettleReturn)
		}
		fx.shared.reader = q.reader
	} else {
		for _, d := range ds {
			q.buf.pushBack(d)
		}
		q.r.b.m.queueDepth.Add(float64(len(ds)))
		q.dispatchLocked(&fx)
	}
	q.mu.Unlock()
	fx.apply()
}

// unwire decodes a batch a shared queue's reader read, noting the refs of
// what does not decode for removal.
func (q *queue) unwire(batch []Queued, fx *effects) []delivery {
	ds := make([]delivery, 0, len(batch))
	now := time.Now()
	for _, e := range batch {
		m, err := unwire(e.Msg, kindQueue, q.r.b.messageSeq.Add(1), now)
		if err != nil {
			q.r.b.m.dropMalformed.Inc()
			q.r.b.log.Warn("shared queue: removing a malformed message", "destination", q.name, "ref", e.Ref, "error", err)
			fx.shared.add(e.Ref, SettleRemove)
			continue
		}
		m.ref = e.Ref
		m.heap += allocSize(len(e.Ref))
		ds = append(ds, delivery{msg: m, redelivered: e.Redelivered})
	}
	return ds
}

// remove does what an ACK (or a NACK with requeue:false) of a queue's
// deliveries asks: they leave a shared queue for good, and the credit they
// held goes to what is waiting.
func (q *queue) remove(ds []delivery) {
	var fx effects
	q.mu.Lock()
	if q.reader != nil {
		for _, d := range ds {
			fx.shared.add(d.msg.ref, SettleRemove)
		}
	}
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}
