package broker

import "slices"

// A message that is not valid UTF-8 cannot reach a client whose transport
// carries text only (SockJS) intact, and a broker must not alter a body.
// From a topic, it is skipped for such a subscriber alone and counted as
// dropped (not_text): subscribers on other transports receive it, and no
// session ends for what another client sent. A queue offers it only to
// consumers that can carry it, and drops it (not_text) only when it has
// consumers and none of them can, as a poison message would be.

// carries reports whether the subscriber's transport can carry m.
func (s *subscription) carries(m *message) bool {
	return !s.c.textOnly || m.isText(s.c.version)
}

// uncarriable reports whether q has consumers and none can carry d, which
// is then dropped and counted. Called with q.mu held.
func (q *queue) uncarriable(d delivery) bool {
	if len(q.consumers) == 0 || slices.ContainsFunc(q.consumers, func(s *subscription) bool { return s.carries(d.msg) }) {
		return false
	}
	q.r.b.m.dropNotText.Inc()
	return true
}
