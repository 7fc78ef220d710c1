package broker

import (
	"context"
	"errors"
	"sync"
)

// stores follows the messages a session handed to the QueueBackend, the
// Journal or the Streams and not yet known to be stored. A frame that asks
// for a RECEIPT waits for all of them (wait), so that a RECEIPT always means
// that every such message the session sent before it was stored; the first
// that was not fails that frame instead, with an ERROR.
type stores struct {
	mu      sync.Mutex
	pending int           // handed over, not yet answered
	idle    chan struct{} // when not nil, closed once pending is 0 (a wait waits)
	err     *frameError   // the first failure since the last wait
}

// errGone fails a wait for stores cut short by the connection's end.
var errGone = &frameError{code: CodeUnavailable, message: "the connection ended before its messages were known to be stored"}

// store hands m to the QueueBackend. Its outcome is counted (published, or
// dropped as queue_full or not_stored) and kept for the next wait.
func (c *conn) store(m *message) {
	st := &c.stores
	st.add()
	c.b.o.Queues.Enqueue(m.dest, m.wire(), func(err error) {
		if err != nil {
			c.log.Debug("queue message not stored", "destination", m.dest, "error", err)
		}
		st.done(c.b.stored(m.dest, err))
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

// add counts a message handed over; done, or Appended, answers it.
func (st *stores) add() {
	st.mu.Lock()
	st.pending++
	st.mu.Unlock()
}

// Appended answers a message handed to Streams.Append (broker.Appended).
func (st *stores) Appended(dest string, err error) {
	var fe *frameError
	if err != nil {
		fe = &frameError{code: CodeUnavailable, message: "the message to " + dest + " was not stored: " + err.Error()}
	}
	st.done(fe)
}

// done answers a message handed over: stored when fe is nil.
func (st *stores) done(fe *frameError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	failed := fe != nil && st.err == nil
	if failed {
		st.err = fe
	}
	st.pending--
	if (st.pending == 0 || failed) && st.idle != nil {
		close(st.idle)
		st.idle = nil
	}
}

// wait waits until every message handed over since the last wait is stored,
// or one failed, or ctx, the connection's, is done, and returns the first
// failure: the ERROR it causes ends the connection, so nothing is gained
// by waiting for the others. Only the reader goroutine calls it, as it
// hands messages over.
func (st *stores) wait(ctx context.Context) error {
	var idle chan struct{}
	st.mu.Lock()
	if st.pending > 0 && st.err == nil {
		if st.idle == nil {
			st.idle = make(chan struct{})
		}
		idle = st.idle
	}
	st.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return errGone
		}
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
