package broker

import (
	"errors"
	"sync"
)

// stores follows the queue messages a session handed to the QueueBackend
// and not yet known to be stored. A frame that asks for a RECEIPT waits for
// all of them (wait), so that a RECEIPT always means that every queue
// message the session sent before it was stored; the first that was not
// fails that frame instead, with an ERROR.
type stores struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err *frameError // the first failure since the last wait
}

// store hands m to the QueueBackend. Its outcome is counted (published, or
// dropped as queue_full or not_stored) and kept for the next wait.
func (c *conn) store(m *message) {
	st := &c.stores
	st.wg.Add(1)
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

func (st *stores) done(fe *frameError) {
	if fe != nil {
		st.mu.Lock()
		if st.err == nil {
			st.err = fe
		}
		st.mu.Unlock()
	}
	st.wg.Done()
}

// wait waits until every message handed over since the last wait is stored
// or failed, and returns the first failure. Only the reader goroutine calls
// it, as it does store.
func (st *stores) wait() error {
	st.wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	fe := st.err
	st.err = nil
	if fe == nil {
		return nil
	}
	return fe
}
