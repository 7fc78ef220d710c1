package main

import (
	"slices"
	"testing"
	"time"
)

func TestSeqTrack(t *testing.T) {
	var tr seqTrack
	for _, seq := range []uint64{0, 1, 5, 3, 9, 4, 2} {
		if dup, _ := tr.add(seq); dup {
			t.Fatalf("%d counted a duplicate", seq)
		}
	}
	// 6, 7 and 8 are missing.
	if want := []span{{6, 9}}; !slices.Equal(tr.holes, want) {
		t.Errorf("holes %v, want %v", tr.holes, want)
	}
	if dup, _ := tr.add(3); !dup || tr.dups != 1 {
		t.Errorf("3 again: dup %v, dups %d", dup, tr.dups)
	}
	if dup, skipped := tr.add(12); dup || skipped != 2 {
		t.Errorf("12: dup %v, skipped %d, want 2 skipped", dup, skipped)
	}
	tr.add(7)
	if want := []span{{6, 7}, {8, 9}, {10, 12}}; !slices.Equal(tr.holes, want) {
		t.Errorf("holes %v, want %v", tr.holes, want)
	}
	if tr.received != 9 || !tr.has(7) || tr.has(8) || tr.has(13) {
		t.Errorf("received %d, has 7 %v, 8 %v, 13 %v", tr.received, tr.has(7), tr.has(8), tr.has(13))
	}
	for n, want := range map[uint64]uint64{0: 0, 7: 1, 9: 2, 11: 3, 13: 4, 20: 11} {
		if got := tr.missingBelow(n); got != want {
			t.Errorf("missingBelow(%d) = %d, want %d", n, got, want)
		}
	}
}

// A track remembers at most maxHoles holes, however many messages skip,
// and counts what it forgot as still missing.
func TestSeqTrackBounded(t *testing.T) {
	var tr seqTrack
	for i := range uint64(10 * maxHoles) {
		tr.add(2 * i)
	}
	if len(tr.holes) != maxHoles {
		t.Errorf("%d holes, want %d", len(tr.holes), maxHoles)
	}
	if got := tr.missingBelow(tr.next); got != maxHoles {
		t.Errorf("missing %d of the remembered holes, want %d", got, maxHoles)
	}
	if dup, _ := tr.add(1); !dup {
		t.Error("a message from a forgotten hole is not a duplicate")
	}
}

func TestConfirmLogSends(t *testing.T) {
	l := newConfirmLog(3) // SEND k is message k/3 of stream k%3
	for _, c := range []struct {
		pos         int
		total, want uint64
	}{{0, 0, 0}, {0, 1, 1}, {1, 1, 0}, {2, 3, 1}, {0, 7, 3}, {1, 7, 2}, {2, 7, 2}} {
		if got := l.sends(c.pos, c.total); got != c.want {
			t.Errorf("sends(%d, %d) = %d, want %d", c.pos, c.total, got, c.want)
		}
	}
}

func TestConfirmedAt(t *testing.T) {
	l := newConfirmLog(1)
	l.confirm(10, 100, 0)
	l.confirm(20, 200, 0)
	l.confirm(30, 300, 250) // keeps 200's, the newest by 250, forgets 100's
	for at, want := range map[int64]uint64{50: 0, 150: 0, 200: 20, 299: 20, 1000: 30} {
		if got := l.confirmedAt(at); got != want {
			t.Errorf("confirmedAt(%d) = %d, want %d", at, got, want)
		}
	}
	if len(l.samples) != 2 {
		t.Errorf("%d samples kept, want 2", len(l.samples))
	}
}

// A publisher of 2 streams (SEND k is message k/2 of stream k%2) loses
// its connection after SENDs 0 to 5, of which 0 to 2 were confirmed. Of
// the unconfirmed ones, stream 1's message 1 reached its party before the
// drop was seen and stream 0's message 2 reached one of its two parties
// after: both are due everywhere. Nobody got stream 1's message 2: it is
// excused.
func TestUnconfirmedAccounting(t *testing.T) {
	s := &soak{}
	p := s.addPublisher(0, 2)
	st0, st1 := s.addStream(p, "/topic/a"), s.addStream(p, "/topic/b")
	a, b, c := s.addReceiver(st0), s.addReceiver(st0), s.addReceiver(st1)
	st0.sent.Store(3)
	st1.sent.Store(3)
	p.log.confirm(3, 1, 0)
	p.total = 6
	for _, seq := range []uint64{0, 1} {
		a.tr.add(seq)
		b.tr.add(seq)
		c.tr.add(seq)
	}
	p.gap() // c has message 1 of stream 1 already
	a.tr.add(2)
	p.log.markGot(st0.pos, 2)

	if got := p.log.unconfirmedTotal(); got != 3 {
		t.Errorf("unconfirmed %d, want 3", got)
	}
	if got := st0.log.excused(st0.pos, 3); got != 0 {
		t.Errorf("stream 0: %d excused, want 0: a party got each", got)
	}
	if got := st1.log.excused(st1.pos, 3); got != 1 {
		t.Errorf("stream 1: %d excused, want 1", got)
	}
	// b lacks message 2 of stream 0; c's missing message 2 is excused.
	if got := st0.overdue(3); got != 1 {
		t.Errorf("stream 0 overdue %d, want 1", got)
	}
	if got := st1.overdue(3); got != 0 {
		t.Errorf("stream 1 overdue %d, want 0", got)
	}
	if got := s.lost(); got != 1 {
		t.Errorf("lost %d, want 1", got)
	}
}

// Overdue counts only messages confirmed more than -overdue ago.
func TestOverdue(t *testing.T) {
	s := &soak{b: &bench{clock: clock{start: time.Now()}}, cfg: &config{Overdue: 10}}
	p := s.addPublisher(0, 1)
	st := s.addStream(p, "/topic/a")
	s.addReceiver(st)
	st.sent.Store(5)
	p.log.confirm(2, s.b.clock.now()-100, 0)
	p.log.confirm(5, s.b.clock.now()+1e12, 0)
	if got := s.totals().Overdue; got != 2 {
		t.Errorf("overdue %d, want the 2 confirmed long ago", got)
	}
}
