package broker

import (
	"slices"
	"strconv"
	"sync"

	"github.com/stompd/stompd/stomp"
)

// outItem is one frame waiting for a connection's writer: a delivery of a
// shared message (msg and sub set) or a frame encoded whole (raw).
type outItem struct {
	msg         *message
	sub         *subscription
	seq         uint64 // the delivery's sequence within sub, when tracked
	redelivered bool
	raw         []byte
	cmd         stomp.Command
}

// size is what the item counts against the pending-bytes bound.
func (it *outItem) size() int {
	if it.msg != nil {
		return it.msg.size()
	}
	return len(it.raw)
}

// pushResult says what became of a frame handed to a connection, and what the
// caller must do once it has released its locks.
type pushResult uint8

const (
	pushed      pushResult = iota // queued; the running writer will take it
	pushedWake                    // queued; wake the parked writer
	pushedStart                   // queued; start a writer
	refused                       // the connection is closing
	overflowed                    // over MaxPendingBytes: the connection was cut
	full                          // over MaxPendingBytes: a queue waits for room
)

// queued reports whether the frame was queued.
func (r pushResult) queued() bool { return r <= pushedStart }

// outbox is a connection's bounded outbound queue. Publishers append to it
// under mu without blocking; the writer takes everything queued at once.
type outbox struct {
	mu      sync.Mutex
	items   []outItem
	bytes   int  // queued plus being written
	closing bool // nothing more is accepted; the writer drains, sends final, closes
	slow    bool // cut as a slow consumer: the queue was dropped
	final   []byte
	reason  string
	dropped int      // messages dropped by a slow-consumer cut
	waiting []*queue // queues that found no room, to dispatch again once written
	active  bool     // the writer goroutine exists
	parked  bool     // it waits for a wake-up
	kicked  bool     // it must look again before it rests
	retire  bool     // it must end when it next rests
}

// push queues it unless the connection is closing or the bound would be
// exceeded, in which case the connection is cut as a slow consumer: the
// queue is dropped and only the slow-consumer ERROR remains to be written.
func (o *outbox) push(it outItem, limit int) pushResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return refused
	}
	if o.bytes+it.size() > limit {
		o.cutSlow(limit, it)
		return overflowed
	}
	return o.appendLocked(it)
}

// pushFlow queues a delivery from queue q unless it would take the outbox
// past three quarters of the bound (the rest is headroom for RECEIPTs and
// topic messages, which cut the connection when they do not fit); then q
// waits, and is handed back by written once the writer made room. Queue
// delivery is flow-controlled rather than cut: one item always fits in an
// empty outbox, however large.
func (o *outbox) pushFlow(it outItem, limit int, q *queue) pushResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return refused
	}
	if o.bytes > 0 && o.bytes+it.size() > limit-limit/4 {
		if !slices.Contains(o.waiting, q) {
			o.waiting = append(o.waiting, q)
		}
		return full
	}
	return o.appendLocked(it)
}

// room reports whether a queue delivery may be queued now without waiting
// (see pushFlow); when not, q waits for the writer to make room, as if a
// delivery had been refused.
func (o *outbox) room(limit int, q *queue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bytes == 0 || o.bytes < limit-limit/4 {
		return true
	}
	if !slices.Contains(o.waiting, q) {
		o.waiting = append(o.waiting, q)
	}
	return false
}

func (o *outbox) appendLocked(it outItem) pushResult {
	o.bytes += it.size()
	o.items = append(o.items, it)
	return o.wakeLocked()
}

// wakeLocked makes sure the writer will look at the outbox, and says how:
// start it, wake it, or nothing, since it is running.
func (o *outbox) wakeLocked() pushResult {
	switch {
	case !o.active:
		o.active, o.retire = true, false
		return pushedStart
	case o.parked:
		o.parked = false
		return pushedWake
	}
	o.kicked = true
	return pushed
}

// kick asks the writer to look at the connection again (a heart-beat is
// due, the session ends), and says how, as for a push.
func (o *outbox) kick() pushResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wakeLocked()
}

// restAction is what the writer does once it wrote what it took.
type restAction uint8

const (
	restAgain restAction = iota // take again: something came or was asked
	restPark                    // wait for a wake-up
	restExit                    // end: the connection has been idle
)

// rest tells the writer what to do once it wrote what it took; a writer
// that is not busy ends rather than parks, and one that ends with shed set
// lets the outbox's room beyond keptBatch frames go.
func (o *outbox) rest(busy, shed bool) restAction {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case len(o.items) > 0 || o.kicked || o.closing:
		o.kicked = false
		return restAgain
	case o.retire || !busy:
		o.active, o.retire = false, false
		if shed && cap(o.items) > keptBatch {
			o.items = nil
		}
		return restExit
	}
	o.parked = true
	return restPark
}

// retireParked asks a parked writer to end, and reports whether the caller
// must wake it for that.
func (o *outbox) retireParked() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.parked {
		return false
	}
	o.parked, o.retire = false, true
	return true
}

// cut cuts the connection as a slow consumer, unless it is closing.
func (o *outbox) cut(limit int) pushResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return refused
	}
	o.cutSlow(limit, outItem{})
	return overflowed
}

func (o *outbox) cutSlow(limit int, last outItem) {
	for _, it := range append(o.items, last) {
		if it.msg != nil {
			o.dropped++
		}
	}
	clear(o.items)
	o.items = o.items[:0]
	o.closing, o.slow = true, true
	o.reason = "slow consumer"
	fe := &frameError{code: CodeSlowConsumer, message: "slow consumer: more than " + strconv.Itoa(limit) + " bytes pending"}
	o.final = errorFrame(fe, nil, stomp.V10)
}

// close stops the queue accepting frames; final, when not nil, is written
// after what is queued. It reports false when the queue was already
// closing.
func (o *outbox) close(final []byte, reason string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return false
	}
	o.closing, o.final, o.reason = true, final, reason
	return true
}

// take hands every queued item to the writer, giving the queue spare (a
// batch the writer is done with, emptied and cleared) to fill next.
func (o *outbox) take(spare []outItem) (items []outItem, closing bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	items, o.items = o.items, spare[:0]
	o.kicked = false
	return items, o.closing
}

// written releases n bytes the writer has written, and returns the queues
// that were waiting for room.
func (o *outbox) written(n int) []*queue {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes -= n
	w := o.waiting
	o.waiting = nil
	return w
}

// droppedMessages returns how many messages a slow-consumer cut dropped.
func (o *outbox) droppedMessages() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// finish returns the final frame and the close reason once closing.
func (o *outbox) finish() (final []byte, slow bool, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.final, o.slow, o.reason
}
