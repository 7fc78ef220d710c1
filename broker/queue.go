package broker

import (
	"slices"
	"sync"
)

// queue delivers each message to one consumer, round robin among those with
// credit (fewer pending deliveries than their prefetch), and buffers what no
// consumer can take yet, up to MaxQueueLength messages and MaxQueueBytes,
// while all queues together hold at most MaxQueuedBytes (bytes as the heap
// counts them: see cost.go). A queue exists while it has consumers or
// buffered messages; an idle one is removed, so that it costs nothing.
type queue struct {
	r         *router
	name      string
	mu        sync.Mutex
	buf       ring
	consumers []*subscription
	next      int         // round-robin position
	dead      bool        // removed from the router; publishers look again
	owner     string      // the user whose SEND or SUBSCRIBE made it, "" when restored
	reader    QueueReader // of a shared queue (Options.Queues), set when made; nil otherwise
	wantSeq   uint64      // credits computed for reader, under mu
	wantMu    sync.Mutex  // guards wantTold; see tell
	wantTold  uint64      // the latest of them handed to reader
}

// effects collects what a queue operation must do once its locks are
// released: wake writers, count slow-consumer cuts. The first settlements
// go in arrays, not slices of them, so that effects can stay on the stack.
type effects struct {
	n       int // settlements in arr and res
	arr     [8]*conn
	res     [8]pushResult
	conns   []*conn // and beyond them
	results []pushResult
	shared  sharedEffects
	forget  *forgetting // persistent messages dropped, rarely: a pointer keeps effects small
}

// forgetting is what a dispatch must remove from the Journal.
type forgetting struct {
	b   *Broker
	ids []uint64
}

func (e *effects) add(c *conn, r pushResult) {
	if r == pushed || !r.queued() && r != overflowed {
		return
	}
	if e.n < len(e.arr) {
		e.arr[e.n], e.res[e.n] = c, r
		e.n++
		return
	}
	e.conns = append(e.conns, c)
	e.results = append(e.results, r)
}

func (e *effects) apply() {
	for i, c := range e.arr[:e.n] {
		c.settle(e.res[i])
	}
	for i, c := range e.conns {
		c.settle(e.results[i])
	}
	if e.shared.reader != nil {
		e.shared.apply()
	}
	if e.forget != nil {
		e.forget.b.forget(e.forget.ids)
	}
}

// enqueue publishes m to its queue, creating the queue if needed, and
// returns the queue. A queue at a bound refuses m with an error, so that
// no RECEIPT says it was stored; one left idle is removed at once: a SEND
// that created it leaves nothing behind.
func (r *router) enqueue(m *message, owner string) (*queue, error) {
	for {
		q, err := r.queue(m.dest, owner)
		if err != nil {
			return nil, err
		}
		ok, full := q.publish(m)
		if !ok {
			continue
		}
		if full {
			r.b.m.dropQueueFull.Inc()
			r.removeIfIdle(q)
			return nil, limitErrorf("queue %s is full: the message was not stored", m.dest)
		}
		r.b.m.published[kindQueue].Inc()
		return q, nil
	}
}

// queue returns the queue named name, creating it for owner within
// MaxDestinations and MaxQueuesPerUser. A queue's own cost counts against
// MaxQueuedBytes while it exists.
func (r *router) queue(name, owner string) (*queue, error) {
	r.mu.RLock()
	q := r.queues[name]
	r.mu.RUnlock()
	if q != nil {
		return q, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q = r.queues[name]; q == nil {
		if err := r.admitQueueLocked(owner); err != nil {
			return nil, err
		}
		q = r.newQueueLocked(name)
		if owner != "" {
			q.owner = owner
			r.owned[owner]++
		}
	}
	return q, nil
}

// admitQueueLocked checks that owner may make one more queue: queues never
// make room as a topic kept by its history does, so without a bound per
// user one client could fill MaxDestinations with a message in each of as
// many queues, and shut every other user out of new destinations. Called
// with r.mu held.
func (r *router) admitQueueLocked(owner string) error {
	if limit := r.b.o.MaxQueuesPerUser; limit > 0 && owner != "" && r.owned[owner] >= limit {
		r.b.m.destinationsRefused.Inc()
		return limitErrorf("too many queues made by one user: the limit is %d", limit)
	}
	return r.admitLocked()
}

// newQueueLocked makes the queue named name. Called with r.mu held, or
// before anything is served.
func (r *router) newQueueLocked(name string) *queue {
	q := &queue{r: r, name: name, buf: ring{total: &r.b.queuedBytes}}
	if sh := r.b.o.Queues; sh != nil {
		q.reader = sh.Open(name, q.deliver)
	}
	r.queues[name] = q
	r.b.queuedBytes.Add(int64(queueCost(name)))
	r.b.m.destinations[kindQueue].Inc()
	return q
}

// removeIfIdle removes q if it is idle. It looks first under q.mu alone,
// so that SENDs to a full queue do not take the router's write lock.
func (r *router) removeIfIdle(q *queue) {
	q.mu.Lock()
	idle := q.idleLocked()
	q.mu.Unlock()
	if !idle {
		return
	}
	r.mu.Lock()
	q.mu.Lock()
	r.removeIdleLocked(q)
	q.mu.Unlock()
	r.mu.Unlock()
}

// idleLocked reports whether q holds nothing: no message, no consumer, and
// so nothing unacknowledged (its consumers hold that). Called with q.mu
// held.
func (q *queue) idleLocked() bool {
	return !q.dead && len(q.consumers) == 0 && q.buf.len() == 0
}

// removeIdleLocked removes q, and what it costs, when it is idle, and
// reports whether it did. Called with r.mu and q.mu held.
func (r *router) removeIdleLocked(q *queue) bool {
	if !q.idleLocked() {
		return false
	}
	q.dead = true
	delete(r.queues, q.name)
	if q.owner != "" {
		if r.owned[q.owner]--; r.owned[q.owner] == 0 {
			delete(r.owned, q.owner)
		}
	}
	q.buf.release()
	r.b.queuedBytes.Add(-int64(queueCost(q.name)))
	r.b.m.destinations[kindQueue].Dec()
	return true
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
	if q.full(delivery{msg: m}) {
		q.mu.Unlock()
		return true, true
	}
	q.bufferLocked(m)
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
	return true, false
}

// full reports whether buffering d would break a bound on what queues
// buffer: its cost and any growth of the ring's slots; q.mu is held.
func (q *queue) full(d delivery) bool {
	_, ok := q.fits(1, d.cost(), 0)
	return !ok
}

// fits reports whether n more deliveries that cost cost bytes fit q's
// bounds and, with others bytes more in other queues, MaxQueuedBytes; add
// is what they and the growth of the ring's slots would cost. q.mu is
// held.
func (q *queue) fits(n, cost, others int) (add int, ok bool) {
	o := &q.r.b.o
	add = cost + q.buf.growth(n)
	return add, q.buf.len()+n <= o.MaxQueueLength && q.buf.bytes+add <= o.MaxQueueBytes &&
		q.r.b.queuedBytes.Load()+int64(others+add) <= int64(o.MaxQueuedBytes)
}

// bufferLocked puts m at the back of q, without dispatching it; q.mu is
// held and m fits.
func (q *queue) bufferLocked(m *message) {
	q.buf.pushBack(delivery{msg: m})
	q.r.b.m.queueDepth.Inc()
}

// dispatch hands buffered messages to consumers with credit.
func (q *queue) dispatch() {
	var fx effects
	q.mu.Lock()
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
}

// dispatchLocked hands buffered messages to consumers with credit, round
// robin, up to the first persistent message not yet stored (see Journal);
// a shared queue then gives back what is left (see shareLocked). Called
// with q.mu held.
func (q *queue) dispatchLocked(fx *effects) {
	for q.buf.len() > 0 && !q.buf.front().msg.unstored() {
		d := q.buf.popFront()
		placed := q.offer(d, fx)
		if !placed && !q.uncarriable(d) {
			q.buf.pushFront(d)
			break
		}
		q.r.b.m.queueDepth.Dec()
		switch {
		case placed:
		case q.reader != nil:
			fx.shared.add(d.msg.ref, SettleRemove)
		case d.msg.journal != nil:
			if fx.forget == nil {
				fx.forget = &forgetting{b: q.r.b}
			}
			fx.forget.ids = append(fx.forget.ids, d.msg.journal.id)
		}
	}
	if q.reader != nil {
		q.shareLocked(fx)
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
func (r *router) consume(s *subscription) error {
	q, err := r.queue(s.key, s.who.Sub)
	if err != nil {
		return err
	}
	var fx effects
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return r.consume(s)
	}
	s.q = q
	q.consumers = append(q.consumers, s)
	q.dispatchLocked(&fx)
	q.mu.Unlock()
	fx.apply()
	return nil
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
	fx.shared.closing = r.removeIdleLocked(q)
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
