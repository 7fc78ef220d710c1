package broker

import (
	"sync"
	"sync/atomic"
)

// topic fans each message out to every subscriber. Publishers read its
// subscriber list without a lock; subscribe and unsubscribe change it in
// O(1) amortised under the topic's own mu, which publishers never take.
//
// The list is an array of atomic slots, published with the length in use.
// A subscriber is added in a free slot (one an unsubscribe emptied) or at
// the end, and removed by emptying its slot, so that a publisher iterating
// the array meanwhile sees each subscriber at most once. When the array is
// full, or when fewer than a quarter of its slots are in use, the live
// subscribers move to a new array, which is then published; a publisher
// iterating the old one finishes with it, as with any snapshot taken
// before a change.
type topic struct {
	list  atomic.Pointer[subList]
	ready <-chan struct{} // from Bus.Listen, closed once it listens; nil without a Bus
	// numbered says that its messages carry offsets (see numbered.go);
	// hist is its history on one node, nil with Streams or without history.
	numbered bool
	hist     *history

	mu   sync.Mutex // guards the fields below, and every change to list
	live int        // subscribers in the list
	free []int32    // empty slots below the list's length in use
	dead bool       // removed from the router; subscribers look again
	// Without subscribers, a topic with history is listed in its router's
	// idleTopics (t.hist.idle), changed under mu as live goes 0↔1.
}

// subList is a topic's array of subscriber slots. Slots at or above n are
// unused; below it, an empty slot is nil.
type subList struct {
	slots []atomic.Pointer[subscription]
	n     atomic.Int32
}

// minSlots is the size of a topic's first array.
const minSlots = 4

// add puts s in the list. It reports false when the topic was removed from
// the router meanwhile.
func (t *topic) add(s *subscription) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return false
	}
	l := t.list.Load()
	switch {
	case len(t.free) > 0:
		i := t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		t.put(l, i, s)
	case l != nil && int(l.n.Load()) < len(l.slots):
		n := l.n.Load()
		t.put(l, n, s)
		l.n.Store(n + 1)
	default:
		l = t.rebuild(max(minSlots, 2*(t.live+1)))
		n := l.n.Load()
		t.put(l, n, s)
		l.n.Store(n + 1)
	}
	t.live++
	if t.live == 1 && t.hist != nil {
		t.hist.idle.unlist()
	}
	return true
}

func (t *topic) put(l *subList, i int32, s *subscription) {
	s.slot = i
	l.slots[i].Store(s)
}

// remove takes s out of the list and returns how many subscribers remain.
func (t *topic) remove(s *subscription) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.list.Load()
	if l == nil || s.slot >= l.n.Load() || l.slots[s.slot].Load() != s {
		return t.live
	}
	l.slots[s.slot].Store(nil)
	t.free = append(t.free, s.slot)
	t.live--
	if t.live == 0 && t.hist != nil {
		t.hist.idle.list()
	}
	if n := int(l.n.Load()); n > minSlots && 4*t.live < n {
		t.rebuild(max(minSlots, 2*t.live))
	}
	return t.live
}

// rebuild moves the live subscribers, in order, to a new array of size
// slots and publishes it. Called with t.mu held.
func (t *topic) rebuild(size int) *subList {
	next := &subList{slots: make([]atomic.Pointer[subscription], size)}
	var n int32
	if old := t.list.Load(); old != nil {
		for i := range old.n.Load() {
			if s := old.slots[i].Load(); s != nil {
				t.put(next, n, s)
				n++
			}
		}
	}
	next.n.Store(n)
	t.free = nil
	t.list.Store(next)
	return next
}

// len returns how many subscribers the topic has.
func (t *topic) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// fanOut hands m to every subscriber; it never blocks on one, and takes no
// lock. It reports whether there was any subscriber.
func (t *topic) fanOut(m *message) bool {
	l := t.list.Load()
	if l == nil {
		return false
	}
	found := false
	for i := range l.n.Load() {
		if s := l.slots[i].Load(); s != nil {
			s.deliverTopic(m)
			found = true
		}
	}
	return found
}
