package broker

import (
	"time"

	"github.com/stompd/stompd/stomp"
)

// Journal keeps the persistent messages of a single node's queues, so
// that they survive a restart or a crash (Options.Journal). Messages cross
// it encoded by the broker: to the journal they are opaque bytes.
//
// A queue SEND with persistent:true is appended; the message then takes
// its place in its queue at once (its limits apply to it), but neither it
// nor what follows it in that queue is delivered before it is stored, and
// the RECEIPT of that frame, or of any later frame of its session, waits
// for it too. It is removed once a consumer is done with it: by ACK, by
// delivery to an auto-mode consumer, or by NACK with requeue:false; an
// ACK's or NACK's RECEIPT waits for the removal. NACK and disconnect put
// it back in its queue, still stored. New loads what the journal holds
// into the queues, in the order it was appended, beyond the queue limits
// (each message was admitted under them once).
type Journal interface {
	// Append stores msg, then calls stored with the id the journal gave it
	// (never 0), or with why it was not stored (and then nothing of it
	// is). It may block while the journal's backlog is full; stored is
	// called later, from another goroutine, and never with a lock of the
	// broker held.
	Append(msg []byte, stored func(id uint64, err error))
	// Remove deletes the messages ids, then calls removed with nil or with
	// why it did not. It does not block, and removed is called later, from
	// another goroutine.
	Remove(ids []uint64, removed func(error))
	// Load calls each with every message stored, oldest first. New calls
	// it once; msg is each's to keep.
	Load(each func(id uint64, msg []byte)) error
}

// journaled is a persistent message's place in the Journal. Its fields
// are set under the mu of the message's queue; once stored, they do not
// change.
type journaled struct {
	id     uint64 // the Journal's, once stored
	stored bool
}

// unstored reports whether m is a persistent message not yet stored,
// which its queue holds back with whatever follows it. Called with its
// queue's mu held.
func (m *message) unstored() bool { return m.journal != nil && !m.journal.stored }

// journalID is the Journal's id of m, 0 for a message it does not keep.
func (m *message) journalID() uint64 {
	if m.journal == nil {
		return 0
	}
	return m.journal.id
}

// persistent reports whether the SEND frame f asks for its message to be
// stored.
func persistent(f *stomp.Frame) bool {
	v, ok := f.Get("persistent")
	return ok && string(v) == "true"
}

// persist puts m, a persistent queue message, in its queue, held back
// until the Journal has stored it; the session's next wait for stores
// (see stores) waits for it.
func (c *conn) persist(m *message) error {
	m.journaling()
	q, err := c.b.r.enqueue(m, c.identity().Subject)
	if err != nil {
		return err
	}
	c.appendJournal(q, m)
	return nil
}

// journaling marks m, not yet in its queue, as a message the Journal is to
// store.
func (m *message) journaling() {
	m.journal = &journaled{}
	m.heap += journaledCost
}

// appendJournal hands m, held back in q, to the Journal; the session's
// next wait for stores waits for it.
func (c *conn) appendJournal(q *queue, m *message) {
	g := c.stores.add()
	c.b.o.Journal.Append(m.wire(), func(id uint64, err error) {
		if err != nil {
			c.log.Warn("persistent message not stored", "destination", m.dest, "error", err)
		}
		q.settleJournal(m, id, err)
		g.done(c.b.journalFailure(m.dest, err))
	})
}

// settleJournal settles m once the Journal has answered: stored, it may be
// delivered; not stored, it leaves its queue.
func (q *queue) settleJournal(m *message, id uint64, err error) {
	var fx effects
	q.mu.Lock()
	if err == nil {
		m.journal.id, m.journal.stored = id, true
	} else if q.buf.remove(m) {
		q.r.b.m.queueDepth.Dec()
	}
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
	if err != nil {
		q.r.removeIfIdle(q)
	}
}

// journalFailure counts a persistent message the Journal did not store
// (dropped, not_stored) and returns the ERROR it causes; nil for none.
func (b *Broker) journalFailure(dest string, err error) *frameError {
	if err == nil {
		return nil
	}
	return b.notStored(dest)
}

// unjournal removes the persistent messages among ds, which a consumer is
// done with, from the Journal; the RECEIPT of the frame that settled them
// waits for it (see stores). Only the reader calls it.
func (c *conn) unjournal(ds []delivery) {
	if c.b.o.Journal == nil {
		return
	}
	var ids []uint64
	for _, d := range ds {
		if id := d.msg.journalID(); id != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	g := c.stores.add()
	c.b.o.Journal.Remove(ids, func(err error) {
		var fe *frameError
		if err != nil {
			c.log.Warn("settled persistent messages not removed", "messages", len(ids), "error", err)
			fe = &frameError{code: CodeUnavailable, message: "the messages settled were not removed: the queue store is unavailable"}
		}
		g.done(fe)
	})
}

// forget removes from the Journal a message that no frame waits for (an
// auto-mode delivery, a message no consumer can carry); a failure is only
// logged, and the message comes back after a restart.
func (b *Broker) forget(ids []uint64) {
	b.o.Journal.Remove(ids, func(err error) {
		if err != nil {
			b.log.Warn("persistent messages not removed", "messages", len(ids), "error", err)
		}
	})
}

// reload puts a message the Journal kept at the tail of its queue. One
// that does not decode as a queue message is removed and counted
// (malformed). New calls it before anything is served.
func (r *router) reload(id uint64, msg []byte) {
	m, err := unwire(msg, kindQueue, r.b.messageSeq.Add(1), time.Now())
	if err == nil && !hasName([]byte(m.dest), queuePrefix) {
		err = errMalformed
	}
	if err != nil {
		r.b.m.dropMalformed.Inc()
		r.b.log.Warn("journal: removing a malformed message", "id", id, "error", err)
		r.b.forget([]uint64{id})
		return
	}
	m.journal = &journaled{id: id, stored: true}
	m.heap += journaledCost
	q := r.queues[m.dest]
	if q == nil {
		q = r.newQueueLocked(m.dest)
	}
	q.buf.pushBack(delivery{msg: m})
	r.b.m.queueDepth.Inc()
}
