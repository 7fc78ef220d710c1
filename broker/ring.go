package broker

import "sync/atomic"

// ring is a growable double-ended queue of deliveries waiting in a queue.
// It keeps the heap bytes it holds, its slots and its deliveries' messages
// (see cost.go), and adds them to total, the count of every queue of the
// broker.
type ring struct {
	buf        []delivery
	head, size int
	bytes      int
	total      *atomic.Int64
}

// minRing is the number of slots a ring starts with.
const minRing = 4

func (r *ring) len() int { return r.size }

// growth is the bytes the ring's slots grow by to take n more deliveries.
func (r *ring) growth(n int) int {
	slots := len(r.buf)
	if r.size+n <= slots {
		return 0 // what nearly every SEND finds
	}
	for slots < r.size+n {
		slots = nextLen(slots)
	}
	return slotsCost(slots) - slotsCost(len(r.buf))
}

// nextLen is the number of slots a ring of slots grows to.
func nextLen(slots int) int { return max(minRing, 2*slots) }

func (r *ring) grow() {
	if r.size < len(r.buf) {
		return
	}
	next := make([]delivery, nextLen(len(r.buf)))
	for i := range r.size {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.held(slotsCost(len(next)) - slotsCost(len(r.buf)))
	r.buf, r.head = next, 0
}

func (r *ring) pushBack(d delivery) {
	r.grow()
	r.buf[(r.head+r.size)%len(r.buf)] = d
	r.size++
	r.held(d.cost())
}

func (r *ring) pushFront(d delivery) {
	r.grow()
	r.head = (r.head + len(r.buf) - 1) % len(r.buf)
	r.buf[r.head] = d
	r.size++
	r.held(d.cost())
}

// front is the first delivery; the ring must not be empty.
func (r *ring) front() delivery { return r.buf[r.head] }

func (r *ring) popFront() delivery {
	d := r.buf[r.head]
	r.buf[r.head] = delivery{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	r.held(-d.cost())
	if r.size == 0 && len(r.buf) > 1024 {
		r.release()
	}
	return d
}

// release drops the slots of an empty ring.
func (r *ring) release() {
	r.held(-slotsCost(len(r.buf)))
	r.buf, r.head = nil, 0
}

// held accounts for n more (or, negative, fewer) bytes in the ring.
func (r *ring) held(n int) {
	r.bytes += n
	r.total.Add(int64(n))
}

// remove takes the delivery of m out of the ring, looking from the back,
// where a message the Journal has not stored yet is, and reports whether
// it was there.
func (r *ring) remove(m *message) bool {
	for i := r.size - 1; i >= 0; i-- {
		at := (r.head + i) % len(r.buf)
		d := r.buf[at]
		if d.msg != m {
			continue
		}
		for j := i; j < r.size-1; j++ {
			r.buf[(r.head+j)%len(r.buf)] = r.buf[(r.head+j+1)%len(r.buf)]
		}
		r.buf[(r.head+r.size-1)%len(r.buf)] = delivery{}
		r.size--
		r.held(-d.cost())
		return true
	}
	return false
}
