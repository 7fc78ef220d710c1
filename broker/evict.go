package broker

import "sync"

// A topic with history and no subscriber stays in the router while its
// history keeps a message, up to HistoryTTL: one client SENDing once to
// each of MaxDestinations new topics would otherwise make every new
// destination fail for everyone until the TTL passes. A full router
// therefore evicts such a topic, the least recently active first, to make
// room for a new destination, and refuses one only when every destination
// has subscribers or is a queue. A topic evicted and made again has a new
// epoch (newHistory), so that a resume from the old one is not recovered.
//
// Active means published to or left by its last subscriber: a client that
// was just cut off is the likeliest to resume, and a topic that went quiet
// longest ago loses the least. Topics restored at start (Options.Histories)
// are listed in the order of their newest message.
//
// Only a single node keeps topic histories (with a Bus, topics keep none,
// and are removed once without subscribers), so eviction never concerns a
// Bus; nor presence and user destinations, which keep no history.
//
// Lock order: router.mu, then topic.mu, then idleTopics.mu.

// idleTopics lists the topics with history on this node that are in the
// router without a subscriber, least recently active first. A topic is
// listed when it is made, moved to the back when it is published to or
// loses its last subscriber, and unlisted when it gains one or leaves the
// router: each change O(1), made under the topic's mu.
type idleTopics struct {
	mu          sync.Mutex
	first, last *idleEntry
}

// idleEntry is a topic's place in its router's idleTopics; the list's mu
// guards prev, next and listed.
type idleEntry struct {
	l          *idleTopics
	t          *topic
	key        string
	prev, next *idleEntry
	listed     bool
}

// list puts e at the back, as the most recently active; e may be listed
// already.
func (e *idleEntry) list() {
	l := e.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlinkLocked(e)
	e.prev, e.listed = l.last, true
	if l.last != nil {
		l.last.next = e
	} else {
		l.first = e
	}
	l.last = e
}

// unlist takes e out of the list, if it is in it.
func (e *idleEntry) unlist() {
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	e.l.unlinkLocked(e)
}

func (l *idleTopics) unlinkLocked(e *idleEntry) {
	if !e.listed {
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.first = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.last = e.prev
	}
	e.prev, e.next, e.listed = nil, nil, false
}

// front returns the least recently active entry, nil when none is listed.
func (l *idleTopics) front() *idleEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// evictLocked removes the least recently active topic without
// subscribers that keeps a history, and reports whether there was one.
// Called with r.mu held (or before anything is served), so that no topic
// leaves the router meanwhile; a topic that gains a subscriber or is
// published to between front and its removal is passed over for the new
// front.
func (r *router) evictLocked() bool {
	for e := r.idle.front(); e != nil; e = r.idle.front() {
		if r.evictFront(e) {
			return true
		}
	}
	return false
}

// evictFront removes e's topic if it is still the front of the list: then,
// being listed, it is in the router with no subscriber. Its subscribers to
// be, which found it before, see it dead and look again.
func (r *router) evictFront(e *idleEntry) bool {
	t := e.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.idle.front() != e {
		return false
	}
	r.dropLocked(e.key, kindTopic, t)
	r.b.m.destinationsEvicted.Inc()
	return true
}
