package broker

import (
	"bytes"
	"strings"
	"sync"
)

// Destination prefixes.
const (
	topicPrefix        = "/topic/"
	queuePrefix        = "/queue/"
	userPrefix         = "/user/"
	refreshDestination = "/sys/auth/refresh"
)

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
	}
	return route{}, unknownDestination(dest)
}

// subscribeRoute resolves a SUBSCRIBE destination for subject. /user/<dest>
// is the subject's own /user/<subject>/<dest> when dest begins with queue/
// or topic/ (Spring's convention); otherwise its first segment names a user,
// and only that user may subscribe to it (see ownedBy).
func subscribeRoute(dest []byte, subject string) (route, error) {
	if !bytes.HasPrefix(dest, []byte(userPrefix)) {
		return sendRoute(dest)
	}
	rest := dest[len(userPrefix):]
	if hasName(rest, "queue/") || hasName(rest, "topic/") {
		return route{kindUser, userPrefix + subject + "/" + string(rest)}, nil
	}
	return sendRoute(dest)
}

// ownedBy reports whether subject may subscribe to rt: any topic or queue,
// and its own user destinations only.
func (rt route) ownedBy(subject string) bool {
	if rt.kind != kindUser {
		return true
	}
	user, _, _ := strings.Cut(rt.key[len(userPrefix):], "/")
	return user == subject
}

// hasName reports whether dest is prefix followed by a non-empty name.
func hasName(dest []byte, prefix string) bool {
	return len(dest) > len(prefix) && string(dest[:len(prefix)]) == prefix
}

func unknownDestination(dest []byte) *frameError {
	return protocolErrorf("unknown destination %q: use /topic/<name>, /queue/<name> or /user/<user>/<destination>", dest)
}

// router holds the destinations that exist: topics (and user destinations,
// which fan out the same way) while they have subscribers, queues while they
// have consumers or buffered messages.
type router struct {
	b      *Broker
	mu     sync.RWMutex // guards the maps and every topic's subscriber list
	topics map[string]*topic
	queues map[string]*queue
}

func newRouter(b *Broker) *router {
	return &router{b: b, topics: make(map[string]*topic), queues: make(map[string]*queue)}
}

// subscribe attaches s to the destination it names, creating it if needed.
func (r *router) subscribe(s *subscription) {
	if s.kind == kindQueue {
		r.consume(s)
		return
	}
	r.mu.Lock()
	t := r.topics[s.key]
	if t == nil {
		t = &topic{}
		r.topics[s.key] = t
		r.b.m.destinations[s.kind].Inc()
	}
	t.add(s)
	r.mu.Unlock()
}

// unsubscribe detaches s; a topic left without subscribers is removed.
func (r *router) unsubscribe(s *subscription) {
	if s.kind == kindQueue {
		r.stopConsuming(s)
		return
	}
	r.mu.Lock()
	if t := r.topics[s.key]; t != nil && t.remove(s) == 0 {
		delete(r.topics, s.key)
		r.b.m.destinations[s.kind].Dec()
	}
	r.mu.Unlock()
}

// publish routes m to its destination.
func (r *router) publish(m *message) {
	r.b.m.published[m.kind].Inc()
	if m.kind == kindQueue {
		r.enqueue(m)
		return
	}
	r.mu.RLock()
	t := r.topics[m.dest]
	r.mu.RUnlock()
	if t == nil || !t.fanOut(m) {
		r.b.m.dropNoSubscriber.Inc()
	}
}
