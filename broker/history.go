package broker

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"sync/atomic"
	"time"
)

// TopicHistory is a topic's history as Broker.Histories returns it and
// Options.Histories restores it: its epoch, the latest offset it gave and
// the messages it keeps, oldest first, each in the form a broker hands to
// Streams.Append.
type TopicHistory struct {
	Dest, Epoch string
	Last        uint64
	Entries     []StreamEntry
}

// history is the history of a topic on one node: the latest messages
// published to it, at most HistorySize of them holding at most
// MaxHistoryBytes, none older than HistoryTTL. Its topic's mu guards it.
type history struct {
	epoch   string
	last    uint64     // the latest offset given
	msgs    []*message // msgs[head:] are kept, oldest first
	head    int
	bytes   int       // heap bytes of the messages kept
	dropped int64     // when the newest message no longer kept was taken (Unix ns); math.MinInt64 for none
	idle    idleEntry // the topic's place among the idle ones, guarded by their list's mu
}

func newHistory() *history {
	return &history{epoch: newEpoch(), dropped: math.MinInt64}
}

// newEpoch returns a random epoch: 16 hexadecimal digits.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// kept returns the messages kept, oldest first.
func (h *history) kept() []*message { return h.msgs[h.head:] }

// add numbers m, not yet shared, and keeps it; then the oldest messages
// beyond the bounds go: this topic's own bounds, then, while all histories
// together hold more than theirs, more of this topic's oldest.
func (h *history) add(m *message, now time.Time, l *historyLimits) {
	h.last++
	m.number(h.epoch, h.last, now)
	h.counted(l, func() {
		h.keep(m)
		h.trim(now, l)
	})
	if l.held.Load() > l.total {
		h.counted(l, func() { h.shed(l) })
	}
}

// shed lets this topic's oldest messages go while all histories together
// hold more than MaxHistoryTotalBytes: the topic that takes a message makes
// the room for it.
func (h *history) shed(l *historyLimits) {
	excess := l.held.Load() - l.total
	for k := h.kept(); excess > 0 && len(k) > 0; k = h.kept() {
		excess -= int64(keptCost(k[0]))
		h.drop()
		l.m.historyEvicted.Inc()
	}
}

// counted runs fn, which changes what h keeps, and counts the change: once,
// however many messages came and went.
func (h *history) counted(l *historyLimits, fn func()) {
	n, bytes := len(h.kept()), h.bytes
	fn()
	if dn, db := len(h.kept())-n, h.bytes-bytes; dn != 0 || db != 0 {
		l.count(dn, db)
	}
}

// keep appends m, numbered, to the messages kept.
func (h *history) keep(m *message) {
	h.msgs = append(h.msgs, m)
	h.bytes += keptCost(m)
}

// keptCost is what m holds in the heap while a history keeps it: the
// message, the encoding of its common headers that a delivery may make
// (see message.encodes), and its slots in the history's array, which holds
// up to twice the messages kept.
func keptCost(m *message) int {
	return m.heap + m.encodingCost() + 16
}

// trim drops the messages beyond the bounds, and those older than the TTL,
// oldest first.
func (h *history) trim(now time.Time, l *historyLimits) {
	horizon := now.Add(-l.ttl).UnixNano()
	for k := h.kept(); len(k) > 0; k = h.kept() {
		if len(k) <= l.size && h.bytes <= l.bytes && k[0].at >= horizon {
			break
		}
		h.drop()
	}
	if h.head >= 16 && 2*h.head >= len(h.msgs) {
		h.msgs = append(h.msgs[:0], h.kept()...)
		clear(h.msgs[len(h.msgs):cap(h.msgs)])
		h.head = 0
	}
}

// drop lets the oldest message kept go.
func (h *history) drop() {
	m := h.msgs[h.head]
	h.msgs[h.head] = nil
	h.head++
	h.bytes -= keptCost(m)
	h.dropped = m.at
}

// release lets every message go, when the topic is removed.
func (h *history) release(l *historyLimits) {
	h.counted(l, func() { h.msgs, h.head, h.bytes = nil, 0, 0 })
}

// view returns what the history holds for a subscriber joining now.
func (h *history) view(now time.Time, l *historyLimits) histView {
	h.counted(l, func() { h.trim(now, l) })
	return histView{epoch: h.epoch, last: h.last, entries: h.kept(), dropped: h.dropped}
}

// historyLimits are the bounds of every topic's history, and count what
// they all hold.
type historyLimits struct {
	size  int           // messages per topic
	bytes int           // heap bytes per topic
	total int64         // heap bytes of all topics together
	ttl   time.Duration // age of a message kept
	m     *instruments
	held  atomic.Int64 // heap bytes all histories hold
}

func (l *historyLimits) count(msgs, bytes int) {
	l.held.Add(int64(bytes))
	l.m.historyMessages.Add(float64(msgs))
	l.m.historyBytes.Add(float64(bytes))
}
