package broker

import (
	"slices"
	"time"

	"github.com/stompd/stompd/stomp"
)

// A topic with history numbers its messages: each carries its offset and
// the history's epoch, and every subscriber receives them in offset order,
// each at most once. Its messages are fanned out in one step under the
// topic's mu (on one node, together with keeping the message in the
// history; with Streams, in the order DeliverAt is called), and a new
// subscriber joins in one step under it too: its RECEIPT, the messages it
// asked to be replayed, then the live ones.
//
// A subscriber is in the topic's list from its SUBSCRIBE on, holding the
// live messages fanned out to it until it joins: with Streams, the history
// is read from the streams meanwhile, in the subscriber's reader under no
// lock, and the held messages that the replay already covered are passed
// over.

// streamPos is where a subscriber of a numbered topic is; its topic's mu
// guards it.
type streamPos struct {
	holding   bool       // not joined yet: live messages are held
	held      []*message // held, in offset order
	heldBytes int
	overflow  bool   // held more than MaxPendingBytes: cut once it joins
	last      uint64 // the latest offset delivered or passed over
	epoch     string // last's
}

// advance reports whether a subscriber at p takes m, and moves p to m when
// it does: a message without an offset, one after p, or one of another
// epoch, whose offsets start afresh (with Streams, the history was lost,
// Redis restarted without its data, while the subscriber stayed).
func (p *streamPos) advance(m *message) bool {
	switch {
	case m.offset == 0: // from Deliver: a node without history, or streams that could not number it
		return true
	case m.epoch != p.epoch || m.offset > p.last:
		p.epoch, p.last = m.epoch, m.offset
		return true
	}
	return false
}

// hold keeps m until the subscriber joins, within limit bytes.
func (p *streamPos) hold(m *message, limit int) {
	if p.overflow || p.heldBytes+m.size() > limit {
		p.overflow, p.held = true, nil
		return
	}
	p.held = append(p.held, m)
	p.heldBytes += m.size()
}

// publishKept keeps m, a message to t, in t's history and hands it to t's
// subscribers, in one step; without subscribers, t becomes the most
// recently active idle topic. It reports false when t was removed from the
// router meanwhile.
func (t *topic) publishKept(m *message, now time.Time, l *historyLimits) bool {
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return false
	}
	t.hist.add(m, now, l)
	if t.live == 0 {
		t.hist.idle.list()
	}
	_, cut := t.fanOutLocked(m)
	t.mu.Unlock()
	settleCuts(cut)
	return true
}

// fanOutNumbered hands m, a message with its offset, to t's subscribers in
// one step, and reports whether there was any.
func (t *topic) fanOutNumbered(m *message) bool {
	t.mu.Lock()
	found, cut := t.fanOutLocked(m)
	t.mu.Unlock()
	settleCuts(cut)
	return found
}

// fanOutLocked hands m to every subscriber: those joining hold it, those
// that received it (or passed over it) already do not receive it again.
// It starts or wakes their writers at once, so that writers drain while
// the fan-out goes on (waking them all at the end made a fan-out to 100
// subscribers nearly twice as slow): that wake is the one channel send
// made under a lock, on a channel of capacity 1 that carries one wake-up
// per park of the writer, so it never blocks. The connections it cut as
// slow consumers are returned, to settle once t.mu is released. Called
// with t.mu held.
func (t *topic) fanOutLocked(m *message) (found bool, cut []*conn) {
	l := t.list.Load()
	if l == nil {
		return false, nil
	}
	for i := range l.n.Load() {
		s := l.slots[i].Load()
		if s == nil {
			continue
		}
		found = true
		if p := s.pos; p.holding {
			p.hold(m, s.c.b.o.MaxPendingBytes)
			continue
		} else if !p.advance(m) {
			continue
		}
		if r := s.pushTopic(m); r == overflowed {
			cut = append(cut, s.c)
		} else {
			s.c.startOrWake(r)
		}
	}
	return found, cut
}

// settleCuts settles the slow-consumer cuts of a fan-out.
func settleCuts(cut []*conn) {
	for _, c := range cut {
		c.settle(overflowed)
	}
}

// joinLocked makes s, held since its SUBSCRIBE, a live subscriber of t in
// one step: its RECEIPT (when receipt is not nil), what it asked to be
// replayed from v, then the messages it held that come after. Called with
// t.mu held.
func (t *topic) joinLocked(s *subscription, v histView, receipt []byte, fx *effects) {
	c := s.c
	recovered, replay := v.resolve(s.resume)
	c.b.m.countResume(s.resume, recovered, len(replay))
	if receipt != nil {
		raw := c.streamReceipt(receipt, recovered, v.epoch, v.last, true)
		fx.add(c, c.out.push(outItem{cmd: stomp.RECEIPT, raw: raw}, c.b.o.MaxPendingBytes))
	}
	p := s.pos
	p.holding, p.last, p.epoch = false, v.last, v.epoch
	if p.overflow {
		fx.add(c, c.out.cut(c.b.o.MaxPendingBytes))
		return
	}
	for _, m := range replay {
		fx.add(c, s.pushTopic(m))
	}
	// Held messages of another epoch before the first of the view's are
	// older than the view: the history they belonged to was lost.
	older := max(0, slices.IndexFunc(p.held, func(m *message) bool { return m.offset != 0 && m.epoch == v.epoch }))
	for _, m := range p.held[older:] {
		if p.advance(m) {
			fx.add(c, s.pushTopic(m))
		}
	}
	p.held, p.heldBytes = nil, 0
}
