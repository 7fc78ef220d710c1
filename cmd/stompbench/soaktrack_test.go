package main

import (
	"bufio"
	"slices"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

func TestSeqTrack(t *testing.T) {
	var tr seqTrack
	for _, seq := range []uint64{0, 1, 5, 3, 9, 4, 2} {
		if tr.add(seq) {
			t.Fatalf("%d counted a duplicate", seq)
		}
	}
	// 6, 7 and 8 are missing.
	if want := []span{{6, 9}}; !slices.Equal(tr.holes, want) {
		t.Errorf("holes %v, want %v", tr.holes, want)
	}
	if dup := tr.add(3); !dup || tr.dups != 1 {
		t.Errorf("3 again: dup %v, dups %d", dup, tr.dups)
	}
	if tr.add(12) {
		t.Errorf("12 counted a duplicate")
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
	for s, want := range map[span]uint64{{7, 9}: 1, {8, 11}: 2, {6, 14}: 5, {12, 12}: 0, {13, 15}: 2} {
		if got := tr.missingIn(s); got != want {
			t.Errorf("missingIn(%v) = %d, want %d", s, got, want)
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
	if !tr.add(1) {
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
	s := &soak{cfg: &config{}}
	p := s.addPublisher(0, 2, time.Second)
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
	if got := st0.missing(3); got != 1 {
		t.Errorf("stream 0 missing %d, want 1", got)
	}
	if got := st1.missing(3); got != 0 {
		t.Errorf("stream 1 missing %d, want 0", got)
	}
	if got := s.lost(); got != 1 {
		t.Errorf("lost %d, want 1", got)
	}
}

// Overdue counts only messages confirmed more than their stream's bound
// ago: -overdue for a topic, the longer -queue-overdue for a queue, whose
// messages a cluster may redeliver only 30 s after a node died.
func TestOverdue(t *testing.T) {
	s := &soak{b: &bench{clock: clock{start: time.Now()}}, cfg: &config{}}
	now := s.b.clock.now()
	for _, bound := range []time.Duration{10, time.Hour} { // a topic's, a queue's
		p := s.addPublisher(0, 1, bound)
		st := s.addStream(p, "/topic/a")
		s.addReceiver(st)
		st.sent.Store(5)
		p.log.confirm(2, now-100, 0)
		p.log.confirm(5, now+1e12, 0)
	}
	if got := s.totals().Overdue; got != 2 {
		t.Errorf("overdue %d, want the topic's 2 confirmed long ago", got)
	}
}

// A queue message may come again, marked redelivered, while no RECEIPT
// has confirmed its ACK (its consumer, or the consumer's node, went away
// before the ACK took effect): that is no duplicate. Once a RECEIPT
// confirmed the ACK, it is, and so is a second delivery not marked
// redelivered.
func TestQueueRedeliveryLedger(t *testing.T) {
	s, a, b, deliver := queueLedger(t, 10)
	receipt := ackReceiptFrame()

	deliver(a, 0, false) // acked, asking; a leaves before the RECEIPT
	deliver(a, 1, false) // acked, not asking
	deliver(b, 0, true)
	deliver(b, 1, true)
	if got := s.totals(); got.Duplicated != 0 || got.Redelivered != 2 || got.Delivered != 2 {
		t.Fatalf("after redeliveries of unconfirmed ACKs: %+v", got)
	}
	if !s.slotReceipt(b, receipt) || len(b.acked) != 1 || b.asked != 0 {
		t.Fatalf("b's RECEIPT: acked %v, asked %d; want 1 left unconfirmed", b.acked, b.asked)
	}
	deliver(a, 0, true) // its ACK was confirmed
	deliver(a, 1, false)
	deliver(a, 1, true) // still unconfirmed: b's ACK came after the one asking
	if got := s.totals(); got.Duplicated != 2 || got.Redelivered != 3 {
		t.Errorf("after the RECEIPT: %d duplicated, %d redelivered; want 2 and 3", got.Duplicated, got.Redelivered)
	}
}

// A resume's RECEIPT without an epoch, as a cluster node that cannot
// reach Redis answers (x-recovered:false, x-stream-offset:0), leaves the
// subscriber where it was, so that its next resume does not replay the
// whole history; one of a stream that has no epoch yet places it.
func TestResumeReceiptWithoutEpoch(t *testing.T) {
	s := &soak{}
	st := &soakStream{log: newConfirmLog(1)}
	st.sent.Store(250)
	sl := &soakSlot{recv: &soakReceiver{st: st}, offset: 249, epoch: "e1", located: true, resuming: true}
	receipt := func(offset, epoch string) *stomp.Frame {
		f := &stomp.Frame{Command: stomp.RECEIPT}
		f.Add("receipt-id", "sub-0")
		f.Add("x-recovered", "false")
		f.Add("x-stream-offset", offset)
		if epoch != "" {
			f.Add("x-stream-epoch", epoch)
		}
		return f
	}
	s.slotReceipt(sl, receipt("0", ""))
	if sl.offset != 249 || sl.epoch != "e1" || s.unrecovered.Load() != 1 || !slices.Equal(sl.recv.unmet, []span{{0, 250}}) {
		t.Errorf("after an unknowing RECEIPT: offset %d, epoch %q, %d unrecovered, unmet %v; want 249, e1, 1, [{0 250}]",
			sl.offset, sl.epoch, s.unrecovered.Load(), sl.recv.unmet)
	}
	s.slotReceipt(sl, receipt("7", "e2"))
	if sl.offset != 7 || sl.epoch != "e2" {
		t.Errorf("after a new epoch's RECEIPT: offset %d, epoch %q; want 7, e2", sl.offset, sl.epoch)
	}
	fresh := &soakSlot{recv: &soakReceiver{st: st}}
	s.slotReceipt(fresh, receipt("0", ""))
	if !fresh.located || fresh.offset != 0 {
		t.Errorf("a first subscription to an empty stream: located %v at %d; want located at 0", fresh.located, fresh.offset)
	}
}

// A queue message that a consumer about to vanish got, and dropped
// unacknowledged, counts as delivered only once it comes again: a
// broker that never redelivers it loses it. Marked redelivered, it
// counts as such; got again by a consumer dropping it too, it stays
// held; once delivered and its ACK confirmed, another delivery is a
// duplicate.
func TestVanishedConsumerLedger(t *testing.T) {
	s, a, b, deliver := queueLedger(t, 4)
	receipt := ackReceiptFrame()

	a.holding = true
	deliver(a, 0, false)
	deliver(a, 1, false)
	deliver(b, 2, false)
	if got := s.totals(); got.Delivered != 1 || s.lost() != 3 || a.dropped != 2 || len(a.acked) != 0 {
		t.Fatalf("after a dropped 0 and 1: %+v, %d lost, dropped %d, acked %v; want 1 delivered, 3 lost", got, s.lost(), a.dropped, a.acked)
	}
	deliver(b, 0, true)
	b.leaving = true
	deliver(b, 1, true) // b drops it too, as it leaves
	if got := s.totals(); got.Delivered != 2 || got.Redelivered != 2 || got.Duplicated != 0 || s.lost() != 2 {
		t.Fatalf("after redeliveries: %+v, %d lost; want 2 delivered, 2 redelivered, no duplicate, 2 lost", got, s.lost())
	}
	b.leaving = false
	if !s.slotReceipt(b, receipt) || len(b.acked) != 1 {
		t.Fatalf("b's RECEIPT: acked %v; want 0's ACK left unconfirmed", b.acked)
	}
	a.holding = false   // a came back
	deliver(a, 0, true) // its ACK unconfirmed: a redelivery
	deliver(a, 2, true) // its ACK confirmed: a duplicate, marked or not
	deliver(a, 2, false)
	if got := s.totals(); got.Redelivered != 3 || got.Duplicated != 2 || got.Delivered != 2 {
		t.Errorf("after the RECEIPT: %+v; want 3 redelivered, 2 duplicates, 2 delivered", got)
	}
	if lost := s.lost(); lost != 2 {
		t.Errorf("lost %d, want 2: 1, held, never kept, and 3, never sent to anyone", lost)
	}
}

// queueLedger is a soak with one queue whose publisher sent messages 0
// to sent-1, and its two consumers, a and b; deliver hands one of them
// message seq, marked redelivered or not.
func queueLedger(t *testing.T, sent uint64) (s *soak, a, b *soakSlot, deliver func(sl *soakSlot, seq uint64, redelivered bool)) {
	const size = 128
	s = &soak{b: &bench{}, cfg: &config{Size: size}}
	for i := range s.lat {
		s.lat[i].h = newHistogram()
	}
	st := s.addStream(s.addPublisher(0, 1, time.Second), "/queue/q")
	st.sent.Store(sent)
	r := s.addReceiver(st)
	r.queueing()
	a, b = &soakSlot{recv: r, queue: true}, &soakSlot{recv: r, queue: true}
	nc := discardConn(t)
	c := &conn{t: &tcpTransport{nc: nc, bw: bufio.NewWriterSize(nc, busyBuffers.write)}, version: stomp.V12}
	body, w := newBody(size)
	deliver = func(sl *soakSlot, seq uint64, redelivered bool) {
		w.write(body, stamp{stream: st.id, seq: seq})
		f := &stomp.Frame{Command: stomp.MESSAGE, Body: body}
		f.Add("ack", "1")
		if redelivered {
			f.Add("redelivered", "true")
		}
		s.slotMessage(sl, c, f)
	}
	return s, a, b, deliver
}

// ackReceiptFrame is the RECEIPT of a queue consumer's ACK.
func ackReceiptFrame() *stomp.Frame {
	f := &stomp.Frame{Command: stomp.RECEIPT}
	f.Add("receipt-id", ackReceipt)
	return f
}

// A resume answered x-recovered:false replays nothing (SPEC §7): what the
// subscriber missed of the messages sent before its RECEIPT is lost to it
// unless it still comes, counted as unrecovered; with -waive-unrecovered
// it is not lost. A message sent after that RECEIPT is due either way.
func TestUnmetResumeWaivesOnlyWhatWasSentBeforeItsReceipt(t *testing.T) {
	for _, waive := range []bool{false, true} {
		s, sl, deliver := topicLedger(t, waive)
		st := sl.recv.st
		st.sent.Store(8) // 5 to 7 sent while it was away
		s.slotReceipt(sl, unmetReceipt())
		s.slotReceipt(sl, unmetReceipt()) // and again, nothing got between
		st.sent.Store(11)
		deliver(9) // 8, sent after the RECEIPT, never comes
		deliver(10)
		deliver(6) // late, as a cluster's catch-up may bring it
		want := uint64(3)
		if waive {
			want = 1
		}
		r := s.summary(time.Second, false)
		if r.Lost != want || r.Unrecovered != 2 || s.lost() != want || r.Valid {
			t.Errorf("waive %v: lost %d (%d unrecovered), s.lost %d, valid %v; want %d lost, 2 unrecovered (5 and 7), invalid",
				waive, r.Lost, r.Unrecovered, s.lost(), r.Valid, want)
		}
		if got := s.totals().Overdue; got != 0 {
			t.Errorf("waive %v: overdue %d before any receipt, want 0", waive, got)
		}
	}
}

// topicLedger is a soak with one topic whose publisher sent messages 0
// to 4, and one subscriber, sl, that got them, at offset 4 of epoch e1,
// about to resume; deliver hands sl message seq.
func topicLedger(t *testing.T, waive bool) (s *soak, sl *soakSlot, deliver func(seq uint64)) {
	const size = 128
	s = &soak{b: &bench{}, cfg: &config{Size: size, WaiveUnrecovered: waive}, all: newHistogram()}
	for i := range s.lat {
		s.lat[i].h = newHistogram()
	}
	st := s.addStream(s.addPublisher(0, 1, time.Second), "/topic/t")
	st.sent.Store(5)
	sl = &soakSlot{recv: s.addReceiver(st), offset: 4, epoch: "e1", located: true, resuming: true}
	c := &conn{version: stomp.V12}
	body, w := newBody(size)
	deliver = func(seq uint64) {
		w.write(body, stamp{stream: st.id, seq: seq})
		s.slotMessage(sl, c, &stomp.Frame{Command: stomp.MESSAGE, Body: body})
	}
	for seq := range uint64(5) {
		deliver(seq)
	}
	return s, sl, deliver
}

// unmetReceipt is the RECEIPT of a resume a cluster node could not meet,
// Redis being down.
func unmetReceipt() *stomp.Frame {
	f := &stomp.Frame{Command: stomp.RECEIPT}
	f.Add("receipt-id", "sub-0")
	f.Add("x-recovered", "false")
	f.Add("x-stream-offset", "0")
	return f
}

// An unconfirmed message that nobody got is excused, once: not lost, nor
// counted as unrecovered when a resume not met skipped it too.
func TestUnmetResumeOverExcusedMessages(t *testing.T) {
	for _, waive := range []bool{false, true} {
		s, sl, _ := topicLedger(t, waive)
		st := sl.recv.st
		st.sent.Store(8)
		st.log.confirm(5, 0, 0)
		st.log.addGap(8) // 5 to 7 unconfirmed, and nobody got them
		s.slotReceipt(sl, unmetReceipt())
		if r := s.summary(time.Second, false); r.Lost != 0 || r.Unrecovered != 0 || r.Excused != 3 || !r.Valid {
			t.Errorf("waive %v: lost %d (%d unrecovered), excused %d, valid %v; want 0, 0, 3 excused, valid",
				waive, r.Lost, r.Unrecovered, r.Excused, r.Valid)
		}
	}
}

// A consumer that leaves may read what the broker sent it before it left
// after the broker redelivered that to the other consumer, and after that
// one's ACK was confirmed: no duplicate, unless the broker sent it
// unmarked twice.
func TestLateCopyOfALeavingConsumer(t *testing.T) {
	s, a, b, deliver := queueLedger(t, 2)
	deliver(b, 0, true) // redelivered: a left and its reader is slow
	deliver(b, 1, false)
	if !s.slotReceipt(b, ackReceiptFrame()) {
		t.Fatal("b's RECEIPT not taken as its ACK's")
	}
	a.leaving = true
	deliver(a, 0, false) // what a was sent before it left
	if got := s.totals(); got.Delivered != 2 || got.Duplicated != 0 || s.lost() != 0 {
		t.Fatalf("after a's late copy: %+v, %d lost; want 2 delivered, no duplicate, none lost", got, s.lost())
	}
	deliver(a, 0, false) // unmarked again
	deliver(a, 1, false)
	if got := s.totals(); got.Duplicated != 2 {
		t.Errorf("after a second unmarked copy of 0 and of 1: %+v; want 2 duplicates", got)
	}
}
