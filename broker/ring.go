package broker

import "sync/atomic"

// ring is a growable double-ended queue of deliveries waiting in a queue.
// It keeps the bytes its messages hold, and adds them to total, the count
// of every queue of the broker.
type ring struct {
	buf        []delivery
	head, size int
	bytes      int
	total      *atomic.Int64
}

func (r *ring) len() int { return r.size }

func (r *ring) grow() {
	if r.size < len(r.buf) {
		return
	}
	next := make([]delivery, max(16, 2*len(r.buf)))
	for i := range r.size {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = next, 0
}

func (r *ring) pushBack(d delivery) {
	r.grow()
	r.buf[(r.head+r.size)%len(r.buf)] = d
	r.size++
	r.held(d.msg.size())
}

func (r *ring) pushFront(d delivery) {
	r.grow()
	r.head = (r.head + len(r.buf) - 1) % len(r.buf)
	r.buf[r.head] = d
	r.size++
	r.held(d.msg.size())
}

func (r *ring) popFront() delivery {
	d := r.buf[r.head]
	r.buf[r.head] = delivery{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	r.held(-d.msg.size())
	if r.size == 0 && len(r.buf) > 1024 {
		r.buf, r.head = nil, 0
	}
	return d
}

// held accounts for n more (or, negative, fewer) bytes in the ring.
func (r *ring) held(n int) {
	r.bytes += n
	r.total.Add(int64(n))
}
