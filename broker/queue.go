package broker

import (
	"slices"
	"sync"
)

// queue delivers each message to one consumer, round robin among those with
// credit (fewer pending deliveries than their prefetch), and buffers what no
// consumer can take yet, up to MaxQueueLength messages and MaxQueueBytes,
// while all queues together hold at most MaxQueuedBytes.
type queue struct {
	r         *router
	name      string
	mu        sync.Mutex
	buf       ring
	consumers []*subscription
	next      int  // round-robin position
	dead      bool // removed from the router; publishers look again
}

// effects collects what a queue operation must do once its locks are
// released: wake writers, count slow-consumer cuts.
type effects struct {
	conns   []*conn
	results []pushResult
	arr     [8]*conn
	res     [8]pushResult
}

func (e *effects) add(c *conn, r pushResult) {
	if r == pushed || !r.queued() && r != overflowed {
		return
	}
	if e.conns == nil {
		e.conns, e.results = e.arr[:0], e.res[:0]
	}
	e.conns = append(e.conns, c)
	e.results = append(e.results, r)
}

func (e *effects) apply() {
	for i, c := range e.conns {
		c.settle(e.results[i])
	}
}

// enqueue publishes m to its queue, creating the queue if needed.
func (r *router) enqueue(m *message) {
	for {
		q := r.queue(m.dest)
		if ok, full := q.publish(m); ok {
			if full {
				r.b.m.dropQueueFull.Inc()
			}
			return
		}
	}
}

// queue returns the queue named name, creating it.
func (r *router) queue(name string) *queue {
	r.mu.RLock()
	q := r.queues[name]
	r.mu.RUnlock()
	if q != nil {
		return q
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q = r.queues[name]; q == nil {
		q = &queue{r: r, name: name, buf: ring{total: &r.b.queuedBytes}}
		r.queues[name] = q
		r.b.m.destinations[kindQueue].Inc()
	}
	return q
}

// publish buffers m and dispatches. ok is false when the queue was removed
// meanwhile; full when the queue was at its bound and m was dropped.
func (q *queue) publish(m *message) (ok, full bool) {
	var fx effects
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false, false
	}
	if q.full(m.size()) {
		q.mu.Unlock()
		return true, true
	}
	q.buf.pushBack(delivery{msg: m})
	q.r.b.m.queueDepth.Inc()
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
	return true, false
}

// full reports whether a message of size bytes would break a bound on what
// queues buffer; q.mu is held.
func (q *queue) full(size int) bool {
	o := &q.r.b.o
	return q.buf.len() >= o.MaxQueueLength || q.buf.bytes+size > o.MaxQueueBytes ||
		q.r.b.queuedBytes.Load()+int64(size) > int64(o.MaxQueuedBytes)
}

// dispatch hands buffered messages to consumers with credit.
func (q *queue) dispatch() {
	var fx effects
	q.mu.Lock()
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}

func (q *queue) dispatchLocked(fx *effects) {
	for q.buf.len() > 0 {
		d := q.buf.popFront()
		if !q.offer(d, fx) {
			q.buf.pushFront(d)
			return
		}
		q.r.b.m.queueDepth.Dec()
	}
}

// offer gives d to the next consumer with credit, round robin. It reports
// false when no consumer took it.
func (q *queue) offer(d delivery, fx *effects) bool {
	n := len(q.consumers)
	for i := range n {
		s := q.consumers[(q.next+i)%n]
		s.mu.Lock()
		r, ok := s.pushLocked(d)
		s.mu.Unlock()
		if !ok {
			continue
		}
		fx.add(s.c, r)
		if r.queued() {
			q.next = (q.next + i + 1) % n
			return true
		}
	}
	return false
}

// consume makes s a consumer of its queue.
func (r *router) consume(s *subscription) {
	q := r.queue(s.key)
	var fx effects
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		r.consume(s)
		return
	}
	s.q = q
	q.consumers = append(q.consumers, s)
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}

// stopConsuming removes consumer s, puts what it had pending back at the
// front of the queue, marked redelivered, and removes the queue when it is
// left empty and without consumers.
func (r *router) stopConsuming(s *subscription) {
	q := s.q
	pending := s.detach()
	var fx effects
	r.mu.Lock()
	q.mu.Lock()
	q.consumers = slices.DeleteFunc(q.consumers, func(x *subscription) bool { return x == s })
	q.requeueLocked(pending)
	q.dispatchLocked(&fx)
	if len(q.consumers) == 0 && q.buf.len() == 0 {
		q.dead = true
		delete(r.queues, q.name)
		r.b.m.destinations[kindQueue].Dec()
	}
	q.mu.Unlock()
	r.mu.Unlock()
	fx.apply()
}

// requeue puts deliveries back at the front, in their order, redelivered.
func (q *queue) requeue(ds []delivery) {
	var fx effects
	q.mu.Lock()
	q.requeueLocked(ds)
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}

func (q *queue) requeueLocked(ds []delivery) {
	for i := len(ds) - 1; i >= 0; i-- {
		q.buf.pushFront(delivery{msg: ds[i].msg, redelivered: true})
	}
	q.r.b.m.queueDepth.Add(float64(len(ds)))
}
