package broker

// ring is a growable double-ended queue of deliveries waiting in a queue.
type ring struct {
	buf        []delivery
	head, size int
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
}

func (r *ring) pushFront(d delivery) {
	r.grow()
	r.head = (r.head + len(r.buf) - 1) % len(r.buf)
	r.buf[r.head] = d
	r.size++
}

func (r *ring) popFront() delivery {
	d := r.buf[r.head]
	r.buf[r.head] = delivery{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	if r.size == 0 && len(r.buf) > 1024 {
		r.buf, r.head = nil, 0
	}
	return d
}
