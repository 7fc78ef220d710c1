package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// soak is the soak scenario's load: -conns subscribers of -conns/-fanout
// topics, a few publishers sending to every topic in turn at -rate in all,
// -queues queues of two consumers each at 5% of -rate, connections churned
// and resumed from the topics' history, and the token refreshed in band.
type soak struct {
	b       *bench
	cfg     *config
	streams []*soakStream // topics, then queues, by stream id
	slots   []*soakSlot   // topic subscribers, then queue consumers
	pubs    []*soakPub
	cred    atomic.Pointer[credentials] // the current token's

	lat    [latShards]latShard
	allMu  sync.Mutex
	all    *histogram // every interval's latencies, for the final report
	bgCtx  context.Context
	bgStop context.CancelFunc

	goMu    sync.Mutex
	stopped bool // no more background goroutines start
	wg      sync.WaitGroup

	reconnects, refreshes, errs, recovered, unrecovered, vanished atomic.Uint64

	errMu    sync.Mutex
	firstErr error
}

var _ soakTraffic = (*soak)(nil)

// queueShare is the part of -rate that goes to the queues.
const queueShare = 0.05

// minLoad is the percentage of the SENDs due at -rate that the broker
// must have taken for a soak to count: one whose broker was down for a
// good part of the run did not soak it.
const minLoad = 90

// soakStream is one topic or queue, published by one soak publisher at
// position pos of its streams.
type soakStream struct {
	id    uint32
	dest  string
	sent  atomic.Uint64 // messages numbered so far
	head  []byte        // the SEND frame up to its body
	rhead []byte        // the same asking for a receipt
	log   *confirmLog
	pos   int
	recv  []*soakReceiver // every party due its messages
	// overdue is how many ns after its receipt a message missing is
	// overdue: -overdue for a topic, -queue-overdue for a queue.
	overdue int64
	waive   bool // -waive-unrecovered
}

// soakReceiver is one receiving party: a topic subscriber across its
// reconnections, or both consumers of a queue.
type soakReceiver struct {
	st    *soakStream
	shard int // the latency shard it records into

	mu      sync.Mutex
	tr      seqTrack
	corrupt uint64 // bodies that failed their checks or came from another stream
	// unmet holds, for each resume the broker could not meet (it replays
	// nothing then, SPEC §7), the messages it may have skipped: from the
	// next one due when its RECEIPT came to the next one sent then. Those
	// sent later were published after the RECEIPT, and are due.
	unmet []span
	// A queue's: open holds the messages got whose ACK no RECEIPT has
	// confirmed yet, held those a consumer got and dropped unacknowledged
	// (it vanished, or was leaving), which do not count as got. Only such
	// a message may come again, redelivered:true, without being a
	// duplicate; redelivered counts those that did. firsts is the messages
	// that came unmarked, which the broker may send so only once.
	open        map[uint64]struct{}
	held        map[uint64]struct{}
	firsts      seqTrack
	redelivered uint64
}

func newSoak(b *bench) *soak {
	cfg := &b.cfg
	s := &soak{b: b, cfg: cfg, all: newHistogram()}
	for i := range s.lat {
		s.lat[i].h = newHistogram()
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	s.cred.Store(&credentials{headers: b.headers})
	topics := cfg.Conns / cfg.Fanout
	for p := range cfg.Pubs {
		s.addPublisher(cfg.Rate*(1-queueShare)/float64(cfg.Pubs), (topics-p+cfg.Pubs-1)/cfg.Pubs, cfg.Overdue)
	}
	for i := range topics {
		s.addStream(s.pubs[i%cfg.Pubs], "/topic/bench."+b.runID+"."+strconv.Itoa(i))
	}
	for i := range cfg.Conns {
		st := s.streams[i%topics]
		s.slots = append(s.slots, &soakSlot{idx: i, recv: s.addReceiver(st)})
	}
	if cfg.Queues > 0 {
		qp := s.addPublisher(cfg.Rate*queueShare, cfg.Queues, cfg.QueueOverdue)
		for q := range cfg.Queues {
			st := s.addStream(qp, "/queue/bench."+b.runID+"."+strconv.Itoa(q))
			r := s.addReceiver(st)
			r.queueing()
			for range 2 {
				s.slots = append(s.slots, &soakSlot{idx: len(s.slots), recv: r, queue: true})
			}
		}
	}
	return s
}

func (s *soak) addPublisher(rate float64, streams int, overdue time.Duration) *soakPub {
	p := &soakPub{s: s, idx: len(s.pubs), rate: rate, log: newConfirmLog(streams), overdue: int64(overdue)}
	s.pubs = append(s.pubs, p)
	return p
}

func (s *soak) addStream(p *soakPub, dest string) *soakStream {
	st := &soakStream{id: uint32(len(s.streams)), dest: dest, log: p.log, pos: len(p.streams), overdue: p.overdue, waive: s.cfg.WaiveUnrecovered}
	s.streams = append(s.streams, st)
	p.streams = append(p.streams, st)
	return st
}

func (s *soak) addReceiver(st *soakStream) *soakReceiver {
	r := &soakReceiver{st: st, shard: len(s.slots) % latShards}
	st.recv = append(st.recv, r)
	return r
}

// queueing makes r a queue's receiver, which tells redeliveries from
// duplicates.
func (r *soakReceiver) queueing() {
	r.open, r.held = map[uint64]struct{}{}, map[uint64]struct{}{}
}

// deliver checks and records one body that r received at nowNs, marked
// redelivered or not, and returns its number, or false when it is corrupt.
// For a queue, the message is open until confirmAcks; one that its
// consumer drops unacknowledged is held instead, and counts as got only
// once it comes again.
func (s *soak) deliver(r *soakReceiver, body []byte, nowNs int64, redelivered, drop bool) (uint64, bool) {
	m, ok := readBody(body, s.cfg.Size)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !ok || m.stream != r.st.id || m.seq >= r.st.sent.Load() {
		r.corrupt++
		return 0, false
	}
	if r.open == nil || r.queued(m.seq, redelivered, drop) {
		r.record(m, nowNs, &s.lat[r.shard])
	}
	return m.seq, true
}

// queued sorts out queue message seq, marked redelivered or not, that a
// consumer got and keeps or drops, under mu: it reports whether to record
// it, a duplicate unless it is new or was held. The latency of one held
// counts the time until it came again.
//
// A consumer that drops what it gets is leaving, and its reader may still
// be reading what the broker sent it before it left, after the broker
// redelivered that to the other consumer, which may have acknowledged it
// already: such a late copy is no duplicate, unless it is the second copy
// sent unmarked.
func (r *soakReceiver) queued(seq uint64, redelivered, drop bool) bool {
	if !redelivered && r.firsts.add(seq) {
		r.tr.dups++ // sent as new twice
		return false
	}
	_, open := r.open[seq]
	_, held := r.held[seq]
	if redelivered && (open || held) {
		r.redelivered++
	}
	switch {
	case drop && (held || r.tr.has(seq)), open && redelivered:
		return false // got, or dropped, before
	case drop:
		r.held[seq] = struct{}{}
		r.st.log.markGot(r.st.pos, seq) // the broker had it: not excused
		return false
	case held:
		delete(r.held, seq)
	}
	r.open[seq] = struct{}{}
	return true
}

// reached reports whether a party of r got seq, kept or dropped, under mu.
func (r *soakReceiver) reached(seq uint64) bool {
	_, held := r.held[seq]
	return held || r.tr.has(seq)
}

// record counts message m, arrived at nowNs, and its latency, under mu.
func (r *soakReceiver) record(m stamp, nowNs int64, lat *latShard) {
	if !r.tr.add(m.seq) {
		r.st.log.markGot(r.st.pos, m.seq)
		lat.record(nowNs - m.sent)
	}
}

// resumeUnmet notes a resume the broker could not meet, whose RECEIPT
// came when the messages below sent were sent: those not got yet may be
// skipped. A span that overlaps the last one (no message got between two
// such resumes) extends it; past maxHoles the oldest is forgotten, its
// messages due again.
func (r *soakReceiver) resumeUnmet(sent uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := span{r.tr.next, sent}
	switch n := len(r.unmet); {
	case s.from >= s.to:
	case n > 0 && s.from <= r.unmet[n-1].to:
		r.unmet[n-1].to = max(r.unmet[n-1].to, s.to)
	default:
		if n == maxHoles {
			r.unmet = slices.Delete(r.unmet, 0, 1)
		}
		r.unmet = append(r.unmet, s)
	}
}

// unrecovered counts the deliveries below due that r is missing and that
// resumes not met may have skipped, less the unconfirmed messages nobody
// got (excused already), under mu.
func (r *soakReceiver) unrecovered(due uint64) uint64 {
	var n uint64
	for _, s := range r.unmet {
		if s.to = min(s.to, due); s.from < s.to {
			m := r.tr.missingIn(s) // less a hole forgotten past maxHoles
			n += m - min(m, r.st.log.excusedIn(r.st.pos, s))
		}
	}
	return n
}

// confirmAcks closes the messages whose ACK a RECEIPT confirmed: a
// delivery of one of them from now on is a duplicate.
func (r *soakReceiver) confirmAcks(seqs []uint64) {
	r.mu.Lock()
	for _, seq := range seqs {
		delete(r.open, seq)
	}
	r.mu.Unlock()
}

// latShards spreads latency recording over this many locks.
const latShards = 16

// latShard is one part of the current interval's latency histogram.
type latShard struct {
	mu sync.Mutex
	h  *histogram
}

func (l *latShard) record(ns int64) {
	l.mu.Lock()
	l.h.record(ns)
	l.mu.Unlock()
}

// latencies returns the latencies of the deliveries since the last call.
func (s *soak) latencies() *histogram {
	out := newHistogram()
	for i := range s.lat {
		fresh := newHistogram()
		l := &s.lat[i]
		l.mu.Lock()
		old := l.h
		l.h = fresh
		l.mu.Unlock()
		out.merge(old)
	}
	s.allMu.Lock()
	s.all.merge(out)
	s.allMu.Unlock()
	return out
}

// missing counts the deliveries of stream st's first due messages still
// missing, less those of unconfirmed messages nobody got, and, with
// -waive-unrecovered, those that resumes not met may have skipped.
func (st *soakStream) missing(due uint64) uint64 {
	var missing, waived uint64
	for _, r := range st.recv {
		r.mu.Lock()
		missing += r.tr.missingBelow(due)
		if st.waive {
			waived += r.unrecovered(due)
		}
		r.mu.Unlock()
	}
	excused := st.log.excused(st.pos, due)*uint64(len(st.recv)) + waived
	return missing - min(missing, excused)
}

// unrecovered counts the deliveries of stream st's first due messages
// still missing that resumes not met may have skipped.
func (st *soakStream) unrecovered(due uint64) uint64 {
	var n uint64
	for _, r := range st.recv {
		r.mu.Lock()
		n += r.unrecovered(due)
		r.mu.Unlock()
	}
	return n
}

// totals is what the soak has done so far; Overdue counts messages
// confirmed more than their stream's overdue bound ago.
func (s *soak) totals() soakTotals {
	t := soakTotals{
		Reconnects: s.reconnects.Load(), Refreshes: s.refreshes.Load(), Errors: s.errs.Load(),
		ResumesRecovered: s.recovered.Load(), ResumesUnrecovered: s.unrecovered.Load(),
		Vanished: s.vanished.Load(), Conns: s.liveConns(),
	}
	if s.b.auth != nil {
		t.AuthFailovers = s.b.auth.failovers.Load()
	}
	now := s.b.clock.now()
	for _, st := range s.streams {
		t.Published += st.sent.Load()
		t.Overdue += st.missing(st.log.sends(st.pos, st.log.confirmedAt(now-st.overdue)))
		for _, r := range st.recv {
			r.mu.Lock()
			t.Delivered += r.tr.received
			t.Duplicated += r.tr.dups
			t.Redelivered += r.redelivered
			t.Corrupted += r.corrupt
			r.mu.Unlock()
		}
	}
	return t
}

// lost counts the deliveries missing of every message sent, less those of
// unconfirmed messages nobody got: what the run lost once it drained.
func (s *soak) lost() uint64 {
	var n uint64
	for _, st := range s.streams {
		n += st.missing(st.sent.Load())
	}
	return n
}

// liveConns counts the connections open now.
func (s *soak) liveConns() int {
	n := 0
	for _, sl := range s.slots {
		n += alive(sl.c.Load())
	}
	for _, p := range s.pubs {
		n += alive(p.c.Load())
	}
	return n
}

func alive(c *conn) int {
	if c == nil || c.closing.Load() || ended(c) {
		return 0
	}
	return 1
}

// ended reports whether c's reader stopped.
func ended(c *conn) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// spawn runs fn on a goroutine of the soak's, unless the soak is stopping.
func (s *soak) spawn(fn func()) {
	s.goMu.Lock()
	defer s.goMu.Unlock()
	if !s.stopped {
		s.wg.Go(fn)
	}
}

// stopBackground ends churn, refreshes and reconnections and waits for
// them.
func (s *soak) stopBackground() {
	s.bgStop()
	s.goMu.Lock()
	s.stopped = true
	s.goMu.Unlock()
	s.wg.Wait()
}

// failure counts an error and remembers the first.
func (s *soak) failure(err error) {
	s.errs.Add(1)
	s.errMu.Lock()
	if s.firstErr == nil {
		s.firstErr = err
	}
	s.errMu.Unlock()
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// run carries the soak out: connect, publish with churn and refreshes
// for -duration (or until ctx ends) while a sampler prints a row on rows
// every -sample-every, drain, close, and summarise.
func (s *soak) run(ctx context.Context, rows io.Writer) (*soakSummary, error) {
	defer s.bgStop()
	if err := raiseFileLimit(s.cfg.Subs + s.cfg.Pubs + 1); err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		s.stopBackground()
		s.closeAll()
		return nil, err
	}
	began := time.Now()
	pubCtx, stop := context.WithTimeout(ctx, s.cfg.Duration)
	defer stop()
	watch := newSampler(s.cfg, s)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { watch.run(watchCtx, rows); close(watching) }()
	progress := s.b.every(func(time.Duration) string { return s.totals().String() })
	s.spawn(func() { s.churn(pubCtx) })
	if s.b.auth != nil {
		s.spawn(s.refreshTokens)
	}
	var wg sync.WaitGroup
	for _, p := range s.pubs {
		wg.Go(func() { p.run(pubCtx) })
	}
	wg.Wait()
	due := uint64(s.cfg.Rate * time.Since(began).Seconds())
	s.drain()
	progress()
	stopWatch()
	<-watching
	watch.lastMinute()
	s.stopBackground()
	s.closeAll()
	if s.b.auth != nil {
		s.b.auth.hc.CloseIdleConnections()
	}
	r := s.summary(time.Since(began), ctx.Err() != nil)
	r.Due = due
	r.Valid = r.Valid && r.Published >= due*minLoad/100
	r.Watch = watch.finish(r.soakTotals)
	r.Valid = r.Valid && r.Watch.ok()
	return r, nil
}

// connect opens the subscribers and consumers, then the publishers.
func (s *soak) connect(ctx context.Context) error {
	var joined atomic.Int64
	stop := s.b.every(func(time.Duration) string {
		return fmt.Sprintf("connected %d/%d", joined.Load(), len(s.slots))
	})
	defer stop()
	err := forEach(len(s.slots), func(i int) error {
		if err := s.openSlot(ctx, s.slots[i], false); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		joined.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	return forEach(len(s.pubs), func(i int) error {
		if err := s.pubs[i].connect(ctx); err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		return nil
	})
}

// drain waits until nothing is missing or deliveries stalled for -drain.
func (s *soak) drain() {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	lastChange := time.Now()
	for s.lost() > 0 {
		if d := s.totals().Delivered; d != last {
			last, lastChange = d, time.Now()
		} else if time.Since(lastChange) >= s.cfg.Drain {
			return
		}
		<-tick.C
	}
}

// closeAll closes every connection politely.
func (s *soak) closeAll() {
	_ = forEach(len(s.slots), func(i int) error {
		if c := s.slots[i].c.Load(); c != nil {
			c.close(true, time.Second)
		}
		return nil
	})
	for _, p := range s.pubs {
		if c := p.c.Load(); c != nil {
			c.close(false, 0)
		}
	}
}

// String is the progress line.
func (t soakTotals) String() string {
	return fmt.Sprintf("conns %s  published %s  delivered %s  overdue %d  dup %d  redelivered %d  corrupt %d  reconnects %d  refreshes %d  errors %d",
		count(uint64(t.Conns)), count(t.Published), count(t.Delivered), t.Overdue, t.Duplicated, t.Redelivered, t.Corrupted,
		t.Reconnects, t.Refreshes, t.Errors)
}
