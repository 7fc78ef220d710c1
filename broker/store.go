package broker

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/stompd/stompd/stomp"
)

// stores follows the messages a session handed to the QueueBackend, the
// Journal or the Streams and not yet known to be stored, in groups: each
// frame that asks for a RECEIPT closes the group of those handed over since
// the previous one, and its RECEIPT is sent once that group and every
// earlier one were stored, so that a RECEIPT always means that every such
// message the session sent before it was stored; the first that was not
// fails its group's frame instead, with an ERROR that ends the connection.
// The reader does not wait for that (defer), so that the frames after it
// are carried out meanwhile, and their messages delivered to this node's
// subscribers while Redis is down (SPEC §6), unless the frame's RECEIPT
// must precede what it starts (a SUBSCRIBE's, a DISCONNECT's) or
// maxReceiptsDue RECEIPTs wait already: then it waits (wait).
type stores struct {
	c *conn

	mu   sync.Mutex
	cur  *storeGroup   // handed over since the last group closed; nil for none
	due  []*storeGroup // closed, oldest first, not yet answered
	idle chan struct{} // when not nil, closed once due is empty or a wait's group failed
	err  *frameError   // a wait's group's failure
}

// maxReceiptsDue bounds the RECEIPTs that wait for stores while the
// reader goes on: past it, the reader waits too.
const maxReceiptsDue = 1024

// storeGroup is the messages handed over between two frames that asked
// for a RECEIPT. It is the Appended of those handed to the Streams.
type storeGroup struct {
	st      *stores
	pending int         // handed over, not yet answered
	err     *frameError // the first failure
	receipt []byte      // the RECEIPT to send once stored; nil for a wait's
	id      []byte      // the receipt id, for an ERROR instead
}

// errGone fails a wait for stores cut short by the connection's end.
var errGone = &frameError{code: CodeUnavailable, message: "the connection ended before its messages were known to be stored"}

// store hands m, sent by the session's user, to the QueueBackend. Its
// outcome is counted (published, or dropped as queue_full or not_stored)
// and kept for the next wait.
func (c *conn) store(m *message) {
	g := c.stores.add()
	c.b.o.Queues.Enqueue(m.dest, c.identity().Subject, m.wire(), func(err error) {
		if err != nil {
			c.log.Debug("queue message not stored", "destination", m.dest, "error", err)
		}
		g.done(c.b.stored(m.dest, err))
	})
}

// stored counts the outcome of a store in dest and returns the ERROR it
// causes, if any. The backend's error is not passed on: it may name
// internal addresses.
func (b *Broker) stored(dest string, err error) *frameError {
	switch {
	case err == nil:
		b.m.published[kindQueue].Inc()
		return nil
	case errors.Is(err, ErrQueueFull):
		b.m.dropQueueFull.Inc()
		return limitErrorf("queue %s is full: the message was not stored", dest)
	case errors.Is(err, ErrTooManyQueuesPerUser):
		b.m.destinationsRefused.Inc()
		return limitErrorf("too many queues made by one user: queue %s was not made and the message was not stored", dest)
	case errors.Is(err, ErrTooManyQueues):
		b.m.destinationsRefused.Inc()
		return limitErrorf("too many destinations: queue %s was not made and the message was not stored", dest)
	}
	return b.notStored(dest)
}

// notStored counts a queue message its store did not take (dropped,
// not_stored) and returns the ERROR it causes.
func (b *Broker) notStored(dest string) *frameError {
	b.m.dropNotStored.Inc()
	return &frameError{code: CodeUnavailable, message: "the message to " + dest + " was not stored: the queue store is unavailable"}
}

// add counts a message handed over and returns its group, which its
// done, or Appended, answers.
func (st *stores) add() *storeGroup {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cur == nil {
		st.cur = &storeGroup{st: st}
	}
	st.cur.pending++
	return st.cur
}

// Appended answers a message handed to Streams.Append (broker.Appended).
func (g *storeGroup) Appended(dest string, err error) {
	var fe *frameError
	if err != nil {
		fe = &frameError{code: CodeUnavailable, message: "the message to " + dest + " was not stored: " + err.Error()}
	}
	g.done(fe)
}

// done answers a message handed over: stored when fe is nil.
func (g *storeGroup) done(fe *frameError) {
	st := g.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if fe != nil && g.err == nil {
		g.err = fe
	}
	g.pending--
	st.releaseLocked()
}

// ready reports whether g's frame may be answered: every message of it
// was stored, or one failed.
func (g *storeGroup) ready() bool { return g.pending == 0 || g.err != nil }

// releaseLocked answers the groups due whose turn came, oldest first: a
// RECEIPT for each, an ERROR that ends the connection for the first that
// failed, the result of a wait for its group. Called with st.mu held, so
// that the RECEIPTs keep their order.
func (st *stores) releaseLocked() {
	for len(st.due) > 0 && st.due[0].ready() {
		g := st.due[0]
		st.due[0] = nil
		st.due = st.due[1:]
		switch {
		case g.receipt == nil:
			st.err = g.err
			close(st.idle)
			st.idle = nil
			return
		case g.err != nil:
			st.c.fail(g.err, g.id)
			st.due = nil
			return
		}
		st.c.send(stomp.RECEIPT, g.receipt)
	}
}

// closeLocked closes the current group, to answer with receipt (nil for
// a wait's) or an ERROR for id, and queues it as due.
func (st *stores) closeLocked(receipt, id []byte) {
	g := st.cur
	if g == nil {
		g = &storeGroup{st: st}
	}
	st.cur = nil
	g.receipt, g.id = receipt, id
	st.due = append(st.due, g)
}

// deferReceipt sends the RECEIPT for id once every message handed over before
// it was stored, without waiting, and reports true; it reports false,
// doing nothing, when maxReceiptsDue RECEIPTs wait already: then the
// caller waits. Only the reader calls it.
func (st *stores) deferReceipt(id []byte) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.due) >= maxReceiptsDue {
		return false
	}
	st.closeLocked(st.c.receiptFrame(id), bytes.Clone(id))
	st.releaseLocked()
	return true
}

// wait waits until every message handed over before it is stored, and
// every RECEIPT deferred before it sent, or one failed, or ctx, the
// connection's, is done, and returns the first failure: the ERROR it
// causes ends the connection, so nothing is gained by waiting for the
// others. Only the reader goroutine calls it, as it hands messages over.
func (st *stores) wait(ctx context.Context) error {
	st.mu.Lock()
	if st.cur == nil && len(st.due) == 0 {
		st.mu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	st.idle = idle
	st.closeLocked(nil, nil)
	st.releaseLocked()
	st.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return errGone
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	fe := st.err
	st.err = nil
	if fe == nil {
		return nil
	}
	return fe
}
