package redisqueue

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/broker"
)

// reader reads one queue for this node's consumers: a goroutine that
// waits for credit (Want), reads at most that many messages with
// XREADGROUP (blocking up to Options.Block) and delivers them.
type reader struct {
	q       *Queues
	key     string
	deliver func([]broker.Queued)
	want    atomic.Int64
	wake    chan struct{} // capacity 1: Want or Close
	closed  atomic.Bool
}

// Open starts reading queue dest (see broker.QueueBackend). The reader's
// goroutine belongs to Run: it ends when Close is called or Run ends.
func (q *Queues) Open(dest string, deliver func([]broker.Queued)) broker.QueueReader {
	r := &reader{q: q, key: Key(dest), deliver: deliver, wake: make(chan struct{}, 1)}
	q.mu.Lock()
	q.reading[r.key]++
	q.mu.Unlock()
	q.wg.Add(1)
	go r.run()
	return r
}

// Want sets how many messages the reader may read next.
func (r *reader) Want(n int) {
	r.want.Store(int64(n))
	if n > 0 {
		r.signal()
	}
}

func (r *reader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// maxRefs bounds the entries of one script call: Lua's unpack takes a few
// thousand values at most.
const maxRefs = 1000

// Settle hands refs to the Run loop, which acknowledges and deletes them
// or gives them back.
func (r *reader) Settle(refs []string, d broker.Disposition) {
	if d != broker.SettleRemove {
		r.q.givingBack(r.key, len(refs))
	}
	for len(refs) > 0 {
		n := min(len(refs), maxRefs)
		r.q.settles.put(settlement{r.key, refs[:n:n], d}, 0, -1)
		refs = refs[n:]
	}
}

// Close stops the reader once its current read is done; what that read
// brings is given back.
func (r *reader) Close() {
	if r.closed.Swap(true) {
		return
	}
	r.signal()
}

func (r *reader) run() {
	defer r.q.wg.Done()
	defer r.q.stopReading(r.key)
	ctx := r.q.ctx
	if !r.prepare(ctx) {
		return
	}
	var backoff time.Duration
	for r.wait(ctx) {
		batch, err := r.read(ctx)
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
			r.q.log.Warn("redisqueue: reading a queue failed", "key", r.key, "error", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		backoff = 0
		r.hand(batch)
	}
}

// prepare makes sure the queue's stream and group exist, and gives back
// what dead nodes hold of it, trying until it succeeds, Close or Run's end.
func (r *reader) prepare(ctx context.Context) bool {
	for backoff := 100 * time.Millisecond; r.live(); backoff = min(2*backoff, maxBackoff) {
		err := r.q.createGroup(ctx, r.key)
		if err == nil {
			r.q.reclaim(ctx, r.key)
			return true
		}
		r.q.log.Warn("redisqueue: creating a queue's group failed", "key", r.key, "error", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
	}
	return false
}

// createGroup creates the stream of key and its group, reading from the
// start, unless they exist; a stream it creates expires after EmptyExpiry
// unless a message is stored meanwhile.
func (q *Queues) createGroup(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	return createScript.run(ctx, q.c, []call{{key, []string{group, q.expiry}}})[0].Error()
}

// wait waits until the reader may read; it reports false once closed or
// Run is ending.
func (r *reader) wait(ctx context.Context) bool {
	for r.live() {
		if r.want.Load() > 0 {
			return true
		}
		select {
		case <-r.wake:
		case <-r.q.stopping:
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// live reports whether the reader is neither closed nor stopped by Run.
func (r *reader) live() bool { return !r.closed.Load() && !isClosed(r.q.stopping) }

// hand delivers a batch, or gives it back as it was once the reader is
// closed or stopped.
func (r *reader) hand(batch []broker.Queued) {
	if len(batch) == 0 {
		return
	}
	if !r.live() {
		r.Settle(refs(batch), broker.SettleReturn)
		return
	}
	r.want.Add(-int64(len(batch)))
	r.q.hold(r.key, batch)
	r.deliver(batch)
}

// hold notes the entries of key handed to the broker, until they are
// settled: the others pending for this node are orphans (see reclaimOwn).
func (q *Queues) hold(key string, batch []broker.Queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.held[key]
	if h == nil {
		h = make(map[string]struct{}, len(batch))
		q.held[key] = h
	}
	for _, m := range batch {
		h[m.Ref] = struct{}{}
	}
}

// release forgets refs of key once Redis settled them.
func (q *Queues) release(key string, refs []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.held[key]
	for _, ref := range refs {
		delete(h, ref)
	}
	if len(h) == 0 {
		delete(q.held, key)
	}
}

// orphans returns those of ids that are not held for key.
func (q *Queues) orphans(key string, ids []string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.held[key]
	var out []string
	for _, id := range ids {
		if _, ok := h[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// stopReading forgets a reader of key.
func (q *Queues) stopReading(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.reading[key]--; q.reading[key] <= 0 {
		delete(q.reading, key)
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
