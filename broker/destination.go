package broker

import (
	"bytes"
	"strings"
	"sync"
)

// Destination prefixes.
const (
	topicPrefix = "/topic/"
	queuePrefix = "/queue/"
	userPrefix  = "/user/"
)

// RefreshDestination is the reserved destination of an in-band refresh: a
// SEND to it hands its credential to the Refresher, is answered with its
// RECEIPT, and is routed nowhere.
const RefreshDestination = "/sys/auth/refresh"

// route is where a destination leads: its kind and the key of the topic or
// queue that carries it.
type route struct {
	kind destKind
	key  string
}

// sendRoute resolves a SEND destination: /topic/<name>, /queue/<name> or
// /user/<subject>/<dest>.
func sendRoute(dest []byte) (route, error) {
	switch {
	case hasName(dest, topicPrefix):
		return route{kindTopic, string(dest)}, nil
	case hasName(dest, queuePrefix):
		return route{kindQueue, string(dest)}, nil
	case bytes.HasPrefix(dest, []byte(userPrefix)):
		user, rest, ok := bytes.Cut(dest[len(userPrefix):], []byte{'/'})
		if ok && len(user) > 0 && len(rest) > 0 {
			return route{kindUser, string(dest)}, nil
		}
	case bytes.HasPrefix(dest, []byte(presencePrefix+"/")):
		return route{}, forbiddenf("cannot send to %q: presence destinations are read-only, kept by the broker; SUBSCRIBE to them to see who is subscribed to the topic", dest)
	}
	return route{}, unknownDestination(dest)
}

// subscribeRoute resolves a SUBSCRIBE destination for subject. /user/<dest>
// is the subject's own /user/<subject>/<dest> when dest begins with queue/
// or topic/ (Spring's convention); otherwise its first segment names a user,
// and only that user may subscribe to it (see owner).
//
// /presence/topic/<name> routes to the topic whose members it shows.
func subscribeRoute(dest []byte, subject string) (route, error) {
	if bytes.HasPrefix(dest, []byte(presencePrefix+"/")) {
		return presenceRoute(dest)
	}
	if !bytes.HasPrefix(dest, []byte(userPrefix)) {
		return sendRoute(dest)
	}
	rest := dest[len(userPrefix):]
	if hasName(rest, "queue/") || hasName(rest, "topic/") {
		return route{kindUser, userPrefix + subject + "/" + string(rest)}, nil
	}
	return sendRoute(dest)
}

// presenceRoute resolves a presence destination, /presence/topic/<name>.
func presenceRoute(dest []byte) (route, error) {
	topic, ok := presenceTopic(dest)
	if !ok {
		return route{}, protocolErrorf("unknown presence destination %q: use /presence/topic/<name>", dest)
	}
	return route{kindPresence, topic}, nil
}

// owner says whose rt is to a session of subject: a user destination is its
// user's, a topic or queue nobody's in particular.
func (rt route) owner(subject string) Owner {
	if rt.kind != kindUser {
		return OwnerNone
	}
	if user, _, _ := strings.Cut(rt.key[len(userPrefix):], "/"); user == subject {
		return OwnerSelf
	}
	return OwnerOther
}

// hasName reports whether dest is prefix followed by a non-empty name.
func hasName(dest []byte, prefix string) bool {
	return len(dest) > len(prefix) && string(dest[:len(prefix)]) == prefix
}

func unknownDestination(dest []byte) *frameError {
	return protocolErrorf("unknown destination %q: use /topic/<name>, /queue/<name> or /user/<user>/<destination>", dest)
}

// router holds the destinations that exist, at most MaxDestinations:
// topics (and user destinations, which fan out the same way) while they
// have subscribers or, with history, keep messages; queues while they have
// consumers or buffered messages. When it is full, a topic kept only by
// its history makes room for a new destination (see evict.go).
type router struct {
	b       *Broker
	bus     Bus            // nil on a single node
	hist    *historyLimits // nil without topic history
	streams Streams        // with hist, nil on a single node
	mu      sync.RWMutex   // guards the maps
	topics  map[string]*topic
	queues  map[string]*queue
	owned   map[string]int // queues in queues by the user who made them
	idle    idleTopics     // the topics with history on this node and no subscriber
}

func newRouter(b *Broker) *router {
	r := &router{b: b, bus: b.o.Bus, topics: make(map[string]*topic), queues: make(map[string]*queue), owned: make(map[string]int)}
	if b.o.HistorySize > 0 && (b.o.Bus == nil || b.o.Streams != nil) {
		r.hist = &historyLimits{size: b.o.HistorySize, bytes: b.o.MaxHistoryBytes, total: int64(b.o.MaxHistoryTotalBytes), ttl: b.o.HistoryTTL, m: b.m}
		r.streams = b.o.Streams
	}
	return r
}

// subscribe attaches s to the destination it names, creating it if needed.
// With a Bus, s joins a topic only once the Bus listens on it (or gave up,
// or ListenWait passed, or the connection ended), so that from the RECEIPT
// on s receives what any node publishes; the wait is the subscriber's own,
// in its reader, under no lock.
//
// A presence subscription is registered with the presence instead; in a
// cluster it waits likewise for the Presence to have the topic's members.
func (r *router) subscribe(s *subscription) error {
	switch s.kind {
	case kindQueue:
		return r.consume(s)
	case kindPresence:
		if ready := r.b.presence.watch(s); ready != nil {
			s.c.awaitListen(ready)
		}
		return nil
	}
	for {
		t, err := r.topic(s.key, s.kind)
		if err != nil {
			return err
		}
		if t.ready != nil {
			s.c.awaitListen(t.ready)
		}
		if t.numbered {
			s.pos = &streamPos{holding: true}
		}
		if t.add(s) {
			if s.kind == kindTopic {
				r.b.presence.join(s.key, s.who)
			}
			return nil
		}
	}
}

// topic returns the topic (or user destination) key, creating it within
// MaxDestinations. With a Bus, a new topic asks it to listen on its
// destination; Listen is called under r.mu so that the topic is found only
// with the channel that tells when the Bus listens.
func (r *router) topic(key string, kind destKind) (*topic, error) {
	r.mu.RLock()
	t := r.topics[key]
	r.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t = r.topics[key]; t != nil {
		return t, nil
	}
	if err := r.admitLocked(); err != nil {
		return nil, err
	}
	t = r.newTopic(key, kind)
	if r.bus != nil {
		t.ready = r.bus.Listen(key)
	}
	r.addTopicLocked(key, kind, t)
	return t, nil
}

// newTopic returns a topic of kind, numbered when it keeps a history.
func (r *router) newTopic(key string, kind destKind) *topic {
	t := &topic{numbered: r.hist != nil && kind == kindTopic}
	if t.numbered && r.streams == nil {
		t.hist = newHistory()
		t.hist.idle = idleEntry{l: &r.idle, t: t, key: key}
	}
	return t
}

// addTopicLocked puts t, new, in the router as key; with a history, and
// no subscriber yet, it is listed as idle. Called with r.mu held, or
// before anything is served.
func (r *router) addTopicLocked(key string, kind destKind, t *topic) {
	r.topics[key] = t
	r.b.m.destinations[kind].Inc()
	if t.hist != nil {
		t.hist.idle.list()
	}
}

// fitsLocked reports whether one more destination fits within
// MaxDestinations, evicting a topic kept only by its history if need be.
// Called with r.mu held.
func (r *router) fitsLocked() bool {
	return len(r.topics)+len(r.queues) < r.b.o.MaxDestinations || r.evictLocked()
}

// admitLocked checks that one more destination fits within MaxDestinations,
// evicting a topic kept only by its history if need be, and counts a
// refusal. Called with r.mu held.
func (r *router) admitLocked() error {
	if r.fitsLocked() {
		return nil
	}
	r.b.m.destinationsRefused.Inc()
	return limitErrorf("too many destinations: the limit is %d", r.b.o.MaxDestinations)
}

// unsubscribe detaches s; a topic left without subscribers is removed.
// A topic subscriber leaves the topic's members before it stops receiving
// the topic's messages.
func (r *router) unsubscribe(s *subscription) {
	switch s.kind {
	case kindQueue:
		r.stopConsuming(s)
		return
	case kindPresence:
		r.b.presence.unwatch(s)
		return
	case kindTopic:
		r.b.presence.leave(s.key, s.who.Sub)
	}
	r.mu.RLock()
	t := r.topics[s.key]
	r.mu.RUnlock()
	if t != nil && t.remove(s) == 0 && r.removeTopic(s.key, s.kind, t) && r.bus != nil {
		r.bus.Unlisten(s.key)
	}
}

// removeTopic removes t, the topic key, if it is still without
// subscribers (one may have subscribed since it was found empty) and
// keeps no message younger than HistoryTTL. It reports whether it removed
// it.
func (r *router) removeTopic(key string, kind destKind, t *topic) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live != 0 || t.dead || t.hist != nil && len(t.hist.view(r.b.now(), r.hist).entries) > 0 {
		return false
	}
	r.dropLocked(key, kind, t)
	return true
}

// dropLocked removes t, the topic key, from the router with its history.
// Called with r.mu and t.mu held.
func (r *router) dropLocked(key string, kind destKind, t *topic) {
	t.dead = true
	if t.hist != nil {
		t.hist.release(r.hist)
		t.hist.idle.unlist()
	}
	delete(r.topics, key)
	r.b.m.destinations[kind].Dec()
}

// publish routes m to its destination: a queue, or this node's
// subscribers and then the Bus, if there is one. It fails only when m
// would create a queue beyond MaxDestinations, or beyond MaxQueuesPerUser
// for owner, the user who sent it. Without a Bus, a message
// nobody receives is counted as dropped; with one, the other nodes may
// have subscribers. A message to a topic with history that goes to the
// Streams is followed in st, its sender's.
func (r *router) publish(m *message, st *stores, owner string) error {
	if m.kind == kindQueue {
		_, err := r.enqueue(m, owner)
		return err
	}
	if m.kind == kindTopic && r.hist != nil {
		return r.publishNumbered(m, st)
	}
	r.b.m.published[m.kind].Inc()
	found := r.fanOut(m)
	switch {
	case r.bus != nil:
		r.bus.Publish(m.dest, m.appendWire(make([]byte, 0, m.wireLen())))
	case !found:
		r.b.m.dropNoSubscriber.Inc()
	}
	return nil
}

// numbers reports whether this node's topic histories number the messages
// it publishes to a destination of kind (with Streams, the copies that come
// back from them are numbered).
func (r *router) numbers(kind destKind) bool {
	return kind == kindTopic && r.hist != nil && r.streams == nil
}

// fanOut hands a topic or user destination's message to this node's
// subscribers, and reports whether there was any.
func (r *router) fanOut(m *message) bool {
	r.mu.RLock()
	t := r.topics[m.dest]
	r.mu.RUnlock()
	switch {
	case t == nil:
		return false
	case t.numbered:
		return t.fanOutNumbered(m)
	}
	return t.fanOut(m)
}
