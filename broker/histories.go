package broker

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"
)

// publishNumbered routes m, a message to a topic with history: on one
// node it is kept in the topic's history (which creates the topic, within
// MaxDestinations) and fanned out in one step; with Streams it goes to the
// streams, which hand it to every node's DeliverAt, and tell st, the
// sender's, once they kept it.
func (r *router) publishNumbered(m *message, st *stores) error {
	r.b.m.published[kindTopic].Inc()
	if r.streams != nil {
		r.streams.Append(m.dest, m.appendWire(make([]byte, 0, m.wireLen())), st.add())
		return nil
	}
	for {
		t, err := r.topic(m.dest, kindTopic)
		if err != nil {
			return err
		}
		if t.publishKept(m, r.b.at(m.accepted), r.hist) { // accepted just now
			return nil
		}
	}
}

// join makes s, a subscriber of a numbered topic held since its
// SUBSCRIBE, live: on one node it replays from the topic's history in the
// same step; with Streams it reads the history first (in s's reader, under
// no lock, bounded by ListenWait and the connection's life).
func (r *router) join(s *subscription, receipt []byte) {
	r.mu.RLock()
	t := r.topics[s.key]
	r.mu.RUnlock()
	var v histView
	if r.streams != nil {
		v = r.readStream(s)
	}
	var fx effects
	t.mu.Lock()
	if t.hist != nil {
		v = t.hist.view(r.b.now(), r.hist)
	}
	t.joinLocked(s, v, receipt, &fx)
	t.mu.Unlock()
	fx.apply()
}

// readStream reads the history a subscriber of s's topic may replay from
// the streams. A failed read is a history lost: nothing is replayed.
func (r *router) readStream(s *subscription) histView {
	ctx, cancel := context.WithTimeout(s.c.ctx, ListenWait)
	defer cancel()
	after := uint64(math.MaxUint64) // only the epoch and the latest offset
	if s.resume != nil && s.resume.from != fromNext {
		after = 0
	}
	sr, err := r.streams.Read(ctx, s.key, after)
	if err != nil {
		s.c.log.Warn("reading a topic's history failed", "destination", s.key, "error", err)
		return histView{dropped: math.MaxInt64}
	}
	return r.streamView(sr)
}

// streamView turns what the streams read into a view: messages older than
// HistoryTTL are left out, and a message the streams no longer keep is
// taken to be as recent as the oldest one they do.
func (r *router) streamView(sr StreamRead) histView {
	v := histView{epoch: sr.Epoch, last: sr.Last, dropped: math.MinInt64}
	horizon := r.b.now().Add(-r.hist.ttl).UnixNano()
	for _, e := range sr.Entries {
		m, err := r.b.decodeNumbered(e.Msg, sr.Epoch, e.Offset, e.At)
		switch {
		case err != nil:
			continue
		case m.at < horizon:
			v.dropped = max(v.dropped, m.at)
			continue
		}
		v.entries = append(v.entries, m)
	}
	if sr.First > 1 && v.dropped == math.MinInt64 {
		v.dropped = math.MaxInt64
		if len(sr.Entries) > 0 {
			v.dropped = sr.Entries[0].At.UnixNano()
		}
	}
	return v
}

// sweepHistories removes the topics without subscribers whose history
// kept nothing younger than HistoryTTL.
func (r *router) sweepHistories() {
	type kept struct {
		key string
		t   *topic
	}
	var ts []kept
	r.mu.RLock()
	for key, t := range r.topics {
		if t.hist != nil {
			ts = append(ts, kept{key, t})
		}
	}
	r.mu.RUnlock()
	for _, k := range ts {
		if k.t.len() == 0 {
			r.removeTopic(k.key, kindTopic, k.t)
		}
	}
}

// histories returns every topic's history, ordered by destination.
func (r *router) histories() []TopicHistory {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var hs []TopicHistory
	for key, t := range r.topics {
		if t.hist != nil {
			hs = append(hs, t.saved(key, r.b.now(), r.hist))
		}
	}
	slices.SortFunc(hs, func(a, b TopicHistory) int { return cmp.Compare(a.Dest, b.Dest) })
	return hs
}

// saved returns t's history as TopicHistory.
func (t *topic) saved(key string, now time.Time, l *historyLimits) TopicHistory {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.hist.view(now, l)
	th := TopicHistory{Dest: key, Epoch: v.epoch, Last: v.last, Entries: make([]StreamEntry, len(v.entries))}
	for i, m := range v.entries {
		th.Entries[i] = StreamEntry{Offset: m.offset, At: time.Unix(0, m.at), Msg: m.appendWire(make([]byte, 0, m.wireLen()))}
	}
	return th
}

// restoreHistories gives the router the histories of Options.Histories, within
// MaxDestinations; what is not a topic's history is skipped. They are
// restored in the order of their newest message, so that the topics idle
// longest are evicted first, and the newest kept when there are too many.
// Those that find no room at all, the persistent queues having filled
// MaxDestinations, are refused no client: they are logged, not counted;
// the oldest that newer ones evicted are counted as evicted, and logged.
func (r *router) restoreHistories(hs []TopicHistory) {
	if r.hist == nil || r.streams != nil {
		return
	}
	hs = slices.Clone(hs)
	slices.SortStableFunc(hs, func(a, b TopicHistory) int { return a.newest().Compare(b.newest()) })
	tried, left, before := 0, 0, len(r.topics)
	for _, th := range hs {
		switch {
		case !hasName([]byte(th.Dest), topicPrefix) || th.Epoch == "":
			continue
		case !r.fitsLocked():
			left++
			continue
		}
		tried++
		t := r.newTopic(th.Dest, kindTopic)
		t.hist.restore(r.b, th)
		r.addTopicLocked(th.Dest, kindTopic, t)
	}
	if evicted := tried - (len(r.topics) - before); evicted > 0 || left > 0 {
		r.b.log.Warn("saved topic histories not restored: more than max-destinations",
			"evicted", evicted, "no_room", left, "max_destinations", r.b.o.MaxDestinations, "queues", len(r.queues))
	}
}

// newest returns when th's newest message was taken, the zero Time when it
// keeps none.
func (th TopicHistory) newest() time.Time {
	if len(th.Entries) == 0 {
		return time.Time{}
	}
	return th.Entries[len(th.Entries)-1].At
}

// restore makes h the history th describes. A message it no longer keeps
// is taken to be as recent as the oldest one it does.
func (h *history) restore(b *Broker, th TopicHistory) {
	h.epoch, h.last = th.Epoch, th.Last
	h.counted(b.r.hist, func() {
		for _, e := range th.Entries {
			m, err := b.decodeNumbered(e.Msg, th.Epoch, e.Offset, e.At)
			if err != nil || e.Offset > th.Last || len(h.msgs) > 0 && e.Offset <= h.msgs[len(h.msgs)-1].offset {
				continue
			}
			h.keep(m)
		}
		switch {
		case len(h.msgs) > 0 && h.msgs[0].offset > 1:
			h.dropped = h.msgs[0].at
		case len(h.msgs) == 0 && h.last > 0:
			h.dropped = b.now().UnixNano()
		}
		h.trim(b.now(), b.r.hist)
	})
}

// Histories returns the history of every topic that has one on this node,
// ordered by destination, for Options.Histories of the next broker of this
// node. Called after Shutdown it is the history as it was at shutdown.
func (b *Broker) Histories() []TopicHistory { return b.r.histories() }

// startSweep starts the timer that removes the idle topics with history:
// one for the broker, every quarter of HistoryTTL (1 s to 1 min), until
// Shutdown.
func (b *Broker) startSweep() {
	if b.r.hist == nil || b.r.streams != nil {
		return
	}
	every := min(max(b.o.HistoryTTL/4, time.Second), time.Minute)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep = time.AfterFunc(every, func() {
		b.r.sweepHistories()
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.closed {
			b.sweep.Reset(every)
		}
	})
}
