package main

import (
	"sync"
	"sync/atomic"
)

// ringBits bounds how far ahead of the oldest missing message a track can
// hold out-of-order arrivals (128 KiB of bitmap, allocated only when
// messages arrive out of order, as queue consumers' do).
const ringBits = 1 << 20

// track is what one receiving party got from one stream. Its fields other
// than received are guarded by the ledger's mutex.
type track struct {
	received atomic.Uint64 // distinct messages, read by publishers for their window

	next    uint64   // lowest sequence number not yet received
	ring    []uint64 // bitmap of received numbers above next, by seq % ringBits
	pending int      // bits set in ring
	dups    uint64
}

// add records sequence number seq and reports whether it was a duplicate.
// A message more than ringBits behind the newest one that never arrived is
// given up: the window moves on and it stays counted as lost (and as a
// duplicate too, should it arrive after all).
func (t *track) add(seq uint64) (dup bool) {
	switch {
	case seq < t.next:
		t.dups++
		return true
	case seq == t.next:
		t.next++
		t.advance()
	default:
		if seq-t.next >= ringBits {
			t.giveUp(seq - ringBits + 1)
		}
		if t.ring == nil {
			t.ring = make([]uint64, ringBits/64)
		}
		w, bit := (seq%ringBits)/64, uint64(1)<<(seq%64)
		if t.ring[w]&bit != 0 {
			t.dups++
			return true
		}
		t.ring[w] |= bit
		t.pending++
	}
	t.received.Add(1)
	return false
}

// giveUp moves next to to, forgetting what the ring held below it, then
// past the numbers the ring holds from there.
func (t *track) giveUp(to uint64) {
	if t.pending == 0 || to-t.next >= ringBits {
		clear(t.ring)
		t.pending, t.next = 0, to
		return
	}
	for ; t.next < to; t.next++ {
		w, bit := (t.next%ringBits)/64, uint64(1)<<(t.next%64)
		if t.ring[w]&bit != 0 {
			t.ring[w] &^= bit
			t.pending--
		}
	}
	t.advance()
}

// advance moves next past the numbers already held in the ring.
func (t *track) advance() {
	for t.pending > 0 {
		w, bit := (t.next%ringBits)/64, uint64(1)<<(t.next%64)
		if t.ring[w]&bit == 0 {
			return
		}
		t.ring[w] &^= bit
		t.pending--
		t.next++
	}
}

// ledger is what one receiving party (a subscriber, or all the consumers
// of a queue together) got from the streams it expects: a contiguous range
// of stream ids starting at first. It is safe for concurrent use.
type ledger struct {
	first  uint32
	tracks []track
	size   int // expected body size

	deliveries atomic.Uint64 // every MESSAGE, for progress

	mu       sync.Mutex
	warmNs   int64 // messages sent before this are not measured
	hist     *histogram
	corrupt  uint64 // bodies that failed their checks
	stray    uint64 // intact bodies from a stream this ledger does not expect
	measured uint64 // deliveries of messages sent after the warm-up
	lastNs   int64  // arrival of the last measured delivery
	// With -stall: the deliveries of the phases cut so far that count in
	// the run's figures, and, once the subscriber stopped reading, the
	// messages per track it still had to get.
	past   *histogram
	capped []uint64
}

func newLedger(first uint32, streams, size int) *ledger {
	return &ledger{first: first, tracks: make([]track, streams), size: size, hist: newHistogram()}
}

// setWarm sets the end of the warm-up, before publishing starts.
func (l *ledger) setWarm(ns int64) {
	l.mu.Lock()
	l.warmNs = ns
	l.mu.Unlock()
}

// deliver checks and records one received body, arrived at nowNs. sent
// returns how many messages a stream has sent so far, to tell a corrupt
// sequence number from a real one.
func (l *ledger) deliver(body []byte, nowNs int64, sent func(stream uint32) uint64) {
	l.deliveries.Add(1)
	s, ok := readBody(body, l.size)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !ok:
		l.corrupt++
	case s.stream < l.first || s.stream-l.first >= uint32(len(l.tracks)):
		l.stray++
	case s.seq >= sent(s.stream):
		l.corrupt++
	case !l.track(s.stream).add(s.seq) && s.sent >= l.warmNs:
		l.measured++
		l.lastNs = max(l.lastNs, nowNs)
		l.hist.record(nowNs - s.sent)
	}
}

// track returns the track of stream id.
func (l *ledger) track(id uint32) *track { return &l.tracks[id-l.first] }

// cutPhase returns the latency of the deliveries since the last cut, and
// keeps them for the run's figures if keep.
func (l *ledger) cutPhase(keep bool) *histogram {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hist
	l.hist = newHistogram()
	if keep {
		if l.past == nil {
			l.past = newHistogram()
		}
		l.past.merge(h)
	}
	return h
}

// mergeLatency adds the latency of the deliveries the run's figures count
// to h: after a -stall, those from before it only.
func (l *ledger) mergeLatency(h *histogram) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.capped == nil {
		h.merge(l.hist)
	}
	if l.past != nil {
		h.merge(l.past)
	}
}

// capAt makes what the streams sent so far all l must get: its party
// stops reading.
func (l *ledger) capAt(sent func(stream uint32) uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capped = make([]uint64, len(l.tracks))
	for i := range l.capped {
		l.capped[i] = sent(l.first + uint32(i))
	}
}

// tally is the sum of what ledgers saw.
type tally struct {
	expected, received, lost, dups, corrupt, stray, measured uint64
	lastNs                                                   int64
}

// tally adds l's counts to t; sent says what each stream sent in all.
func (l *ledger) tally(t *tally, sent func(stream uint32) uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.tracks {
		tr := &l.tracks[i]
		want, got := sent(l.first+uint32(i)), tr.received.Load()
		if l.capped != nil {
			want = min(want, l.capped[i])
			got = min(got, want)
		}
		t.expected += want
		t.received += got
		t.lost += want - min(got, want)
		t.dups += tr.dups
	}
	t.corrupt += l.corrupt
	t.stray += l.stray
	t.measured += l.measured
	t.lastNs = max(t.lastNs, l.lastNs)
}
