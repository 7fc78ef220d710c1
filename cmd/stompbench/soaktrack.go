package main

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// span is the sequence numbers from up to, not including, to.
type span struct{ from, to uint64 }

// maxHoles bounds the holes a seqTrack remembers. Past it the oldest hole
// is forgotten: its messages stay counted as missing, and one that still
// arrives counts as a duplicate.
const maxHoles = 256

// seqTrack is what one receiving party of the soak got from one stream:
// the lowest number not yet seen and the holes below it. Unlike track it
// grows with holes, not with how far arrivals run ahead, so ten thousand
// of them stay small over a long run whatever resumes skip. Arrivals out of
// order (two consumers of a queue) fill holes. The owner guards it.
type seqTrack struct {
	next     uint64
	holes    []span // sorted, disjoint, all below next
	received uint64 // distinct numbers got
	dups     uint64
}

// add records seq and reports whether it was a duplicate; the numbers it
// jumped over are now holes.
func (t *seqTrack) add(seq uint64) (dup bool) {
	if seq >= t.next {
		if seq > t.next {
			t.hole(span{t.next, seq})
		}
		t.next = seq + 1
	} else if !t.fill(seq) {
		t.dups++
		return true
	}
	t.received++
	return false
}

// hole remembers s, the newest hole, forgetting the oldest past maxHoles.
func (t *seqTrack) hole(s span) {
	if len(t.holes) == maxHoles {
		t.holes = slices.Delete(t.holes, 0, 1)
	}
	t.holes = append(t.holes, s)
}

// find returns the index of the hole holding seq, or -1.
func (t *seqTrack) find(seq uint64) int {
	i, _ := slices.BinarySearchFunc(t.holes, seq, func(h span, v uint64) int {
		if h.to <= v {
			return -1
		}
		if h.from > v {
			return 1
		}
		return 0
	})
	if i < len(t.holes) && t.holes[i].from <= seq && seq < t.holes[i].to {
		return i
	}
	return -1
}

// fill takes seq out of its hole, reporting false when it was in none.
func (t *seqTrack) fill(seq uint64) bool {
	i := t.find(seq)
	if i < 0 {
		return false
	}
	h := t.holes[i]
	switch {
	case h.to-h.from == 1:
		t.holes = slices.Delete(t.holes, i, i+1)
	case seq == h.from:
		t.holes[i].from++
	case seq == h.to-1:
		t.holes[i].to--
	default:
		t.holes[i].to = seq
		t.holes = slices.Insert(t.holes, i+1, span{seq + 1, h.to})
	}
	return true
}

// has reports whether seq arrived.
func (t *seqTrack) has(seq uint64) bool { return seq < t.next && t.find(seq) < 0 }

// missingBelow counts the numbers below n that did not arrive.
func (t *seqTrack) missingBelow(n uint64) uint64 { return t.missingIn(span{0, n}) }

// missingIn counts the numbers of s that did not arrive.
func (t *seqTrack) missingIn(s span) uint64 {
	var m uint64
	if lo := max(s.from, t.next); lo < s.to {
		m = s.to - lo
	}
	for _, h := range t.holes {
		if h.from >= s.to {
			break
		}
		if lo, hi := max(h.from, s.from), min(h.to, s.to); lo < hi {
			m += hi - lo
		}
	}
	return m
}

// confirmLog is what one soak publisher knows of its SENDs' fate. Its
// SENDs are numbered across its connections (the publisher's total) and
// go to its n streams in turn, so SEND k is message k/n of stream k%n.
// A RECEIPT confirms every SEND before it on its connection; the SENDs of
// a connection that dropped before their receipt are unconfirmed: a gap.
type confirmLog struct {
	n int

	confirmed atomic.Uint64                  // SENDs below this are confirmed or in a gap
	gaps      atomic.Pointer[[]*unconfirmed] // copied on write

	mu      sync.Mutex
	samples []confirmSample // when confirmed grew, oldest first
}

// confirmSample says that by atNs, SENDs below total were confirmed.
type confirmSample struct {
	atNs  int64
	total uint64
}

// unconfirmed is a run of SENDs, from up to to, whose connection dropped
// before their receipt, and which of them some party got.
type unconfirmed struct {
	from, to uint64
	got      []atomic.Uint64 // bitmap by SEND - from
}

func newConfirmLog(streams int) *confirmLog { return &confirmLog{n: streams} }

// confirm notes, at nowNs, a RECEIPT for the SENDs below total; it forgets
// samples older than the newest one at or before keepNs.
func (l *confirmLog) confirm(total uint64, nowNs, keepNs int64) {
	l.confirmed.Store(total)
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i+1 < len(l.samples) && l.samples[i+1].atNs <= keepNs {
		i++
	}
	l.samples = append(l.samples[i:], confirmSample{atNs: nowNs, total: total})
}

// confirmedAt returns how many SENDs were confirmed by atNs.
func (l *confirmLog) confirmedAt(atNs int64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.samples), func(i int) bool { return l.samples[i].atNs > atNs })
	if i == 0 {
		return 0
	}
	return l.samples[i-1].total
}

// addGap records the SENDs from the last confirmed one up to sent as
// unconfirmed and returns the gap, or nil when there are none. The caller
// then marks those some party already got (markGot); later arrivals mark
// themselves.
func (l *confirmLog) addGap(sent uint64) *unconfirmed {
	from := l.confirmed.Load()
	if from >= sent {
		return nil
	}
	g := &unconfirmed{from: from, to: sent, got: make([]atomic.Uint64, (sent-from+63)/64)}
	var gaps []*unconfirmed
	if old := l.gaps.Load(); old != nil {
		gaps = slices.Clone(*old)
	}
	gaps = append(gaps, g)
	l.gaps.Store(&gaps)
	l.confirmed.Store(sent)
	return g
}

// markGot notes that some party got message seq of stream pos, when it
// lies in a gap.
func (l *confirmLog) markGot(pos int, seq uint64) {
	gaps := l.gaps.Load()
	if gaps == nil {
		return
	}
	k := seq*uint64(l.n) + uint64(pos)
	for _, g := range *gaps {
		if g.from <= k && k < g.to {
			i := k - g.from
			g.got[i/64].Or(1 << (i % 64))
		}
	}
}

// sends returns the SENDs of stream pos among the first total.
func (l *confirmLog) sends(pos int, total uint64) uint64 {
	if total <= uint64(pos) {
		return 0
	}
	return (total - uint64(pos) + uint64(l.n) - 1) / uint64(l.n)
}

// excused counts the unconfirmed messages of stream pos numbered below
// below that no party got.
func (l *confirmLog) excused(pos int, below uint64) uint64 {
	return l.excusedIn(pos, span{0, below})
}

// excusedIn counts the unconfirmed messages of stream pos numbered in s
// that no party got.
func (l *confirmLog) excusedIn(pos int, s span) (none uint64) {
	gaps := l.gaps.Load()
	if gaps == nil {
		return 0
	}
	n, p := uint64(l.n), uint64(pos)
	lo, end := s.from*n, s.to*n // SEND k is message k/n of stream k%n
	for _, g := range *gaps {
		start := max(g.from, lo)
		first := start + (p+n-start%n)%n // the first SEND to pos from start on
		for k := first; k < min(g.to, end); k += n {
			i := k - g.from
			if g.got[i/64].Load()&(1<<(i%64)) == 0 {
				none++
			}
		}
	}
	return none
}

// unconfirmedTotal counts the SENDs in every gap.
func (l *confirmLog) unconfirmedTotal() uint64 {
	gaps := l.gaps.Load()
	if gaps == nil {
		return 0
	}
	var n uint64
	for _, g := range *gaps {
		n += g.to - g.from
	}
	return n
}
