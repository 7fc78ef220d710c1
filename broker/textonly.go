package broker

import "slices"

// keepText keeps at the front of batch, in order, the items a connection
// whose transport carries text only (SockJS) can be sent. A message that is
// not valid UTF-8 cannot reach such a client intact, and a broker must not
// alter a body, so it is skipped for this connection alone and counted as
// dropped (not_text): subscribers on other transports receive it, and no
// session ends for what another client sent. A tracked delivery of it is
// forgotten, so that it holds no credit; from a queue, that message is
// thus dropped, as a poison message would be.
func (c *conn) keepText(batch []outItem) []outItem {
	k := 0
	for i := range batch {
		it := &batch[i]
		if it.msg != nil && !it.msg.isText(c.version) {
			c.b.m.dropNotText.Inc()
			if it.seq != 0 {
				it.sub.forget(it.seq)
			}
			continue
		}
		batch[k] = *it
		k++
	}
	return batch[:k]
}

// forget drops pending delivery seq, if it is still pending, freeing its
// credit.
func (s *subscription) forget(seq uint64) {
	s.mu.Lock()
	i, ok := s.find(seq)
	if ok {
		s.pending = slices.Delete(s.pending, i, i+1)
	}
	s.mu.Unlock()
	if ok && s.kind == kindQueue {
		s.q.dispatch()
	}
}
