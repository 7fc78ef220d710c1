package main

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// stream is one sequence of messages to one destination, numbered from 0.
type stream struct {
	id   uint32
	dest string
	// tracks are every receiving party's record of this stream; the
	// publisher reads how far each got to keep within its window.
	tracks []*track

	sent atomic.Uint64 // messages numbered so far: every received seq is below it
	warm uint64        // messages sent during the warm-up, publisher only until it ends
	head []byte        // the SEND frame up to its body, publisher only
}

// inFlight is how many of the stream's messages some receiver still lacks.
func (s *stream) inFlight() uint64 {
	sent, least := s.sent.Load(), uint64(math.MaxUint64)
	for _, t := range s.tracks {
		least = min(least, t.received.Load())
	}
	return sent - min(sent, least)
}

// pace says how a publisher runs.
type pace struct {
	rate   float64 // messages per second, 0 for as fast as the window allows
	window int     // messages in flight per stream, -1 for no bound
	count  uint64  // messages per stream after the warm-up, 0 for no bound
	warmNs int64   // messages stamped before this are warm-up
	stopNs int64   // stop publishing at this time, 0 for no bound
}

// Batches end at maxBatch messages or batchBytes, whichever comes first.
const (
	maxBatch   = 256
	batchBytes = 64 << 10
)

// publisher sends the messages of its streams, in turn, over one
// connection. Its fields belong to the goroutine that calls run.
type publisher struct {
	c       *conn
	streams []*stream
	clock   *clock
	pace    pace
	body    []byte // the end of every SEND frame: the body, framed
	stamped []byte // the body within body, stamped in place
	bw      bodyWriter
	batch   int
	wake    chan struct{}
	waiting *atomic.Int32
	sched   schedule // at a set rate, from run's start
	alarm   *alarm   // wakes the publisher when a message falls due

	cursor   int    // the stream the next message goes to
	total    uint64 // messages sent
	measured uint64 // messages sent after the warm-up
	startNs  int64
	endNs    int64 // when the last batch was flushed
}

// newPublisher prepares the SEND frames of streams on c; extra headers
// (such as a per-SEND Authorization) go into every frame.
// It is woken through n.wakes[i].
func newPublisher(c *conn, streams []*stream, size int, extra []header, clk *clock, p pace, n *notifier, i int) *publisher {
	body, bw := newBody(size)
	for _, s := range streams {
		s.head = c.proto.sendHead(s.dest, size, extra, c.version)
	}
	framed, at := c.proto.bodyFrame(body)
	return &publisher{
		c: c, streams: streams, clock: clk, pace: p,
		body:    framed,
		stamped: framed[at : at+size],
		bw:      bw,
		batch:   max(1, min(maxBatch, batchBytes/(size+len(streams[0].head)))),
		wake:    n.wakes[i],
		waiting: &n.waiting,
	}
}

// run publishes until the pace's bounds are reached or ctx ends.
func (p *publisher) run(ctx context.Context) error {
	a, err := newAlarm()
	if err != nil {
		return err
	}
	defer a.close()
	p.alarm = a
	p.startNs = p.clock.now()
	p.endNs = p.startNs
	p.sched = schedule{startNs: p.startNs, rate: p.pace.rate}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil && !p.done() {
		now := p.clock.now()
		if p.pace.stopNs > 0 && now >= p.pace.stopNs {
			// At a set rate, what fell due before the end still goes.
			if p.pace.rate == 0 || p.total >= p.sched.dueBy(p.pace.stopNs-1) {
				break
			}
			now = p.pace.stopNs - 1
		}
		if p.pace.rate > 0 && p.sched.at(p.total) > now {
			if err := p.await(ctx, timer, p.sched.at(p.total)); err != nil {
				return err
			}
			continue
		}
		n, wait := p.allowed(now)
		if n == 0 {
			p.pause(ctx, timer, wait)
			continue
		}
		if err := p.c.batch(func(t transport) error { return p.fill(t, n, now) }); err != nil {
			return err
		}
		p.endNs = p.clock.now()
	}
	return nil
}

// done reports whether every stream sent its count.
func (p *publisher) done() bool {
	return p.pace.count > 0 && p.measured >= p.pace.count*uint64(len(p.streams))
}

// windowWait is how long a publisher held back by its window sleeps when
// no receiver wakes it first.
const windowWait = 5 * time.Millisecond

// allowed returns how many messages may go now, at least one being due
// at a set rate, and when the window allows none, how long to wait before
// asking again.
func (p *publisher) allowed(now int64) (n int, wait time.Duration) {
	n = p.batch
	if p.pace.count > 0 {
		n = int(min(uint64(n), p.pace.count*uint64(len(p.streams))-p.measured))
	}
	if p.pace.rate > 0 {
		n = int(min(uint64(n), p.sched.dueBy(now)-p.total))
	}
	if p.pace.window >= 0 {
		var flying uint64
		for _, s := range p.streams {
			flying = max(flying, s.inFlight())
		}
		room := uint64(p.pace.window) - min(flying, uint64(p.pace.window))
		if room == 0 {
			return 0, windowWait
		}
		n = int(min(uint64(n), room))
	}
	return n, 0
}

// fineWait is how long before a message falls due the publisher stops
// sleeping on the runtime's timers and sets its alarm.
const fineWait = time.Millisecond

// await sleeps until time at (or the end of publishing, if sooner): on
// the runtime's timers until fineWait before it, so that ctx is heeded,
// then on the alarm, so that the message leaves on time.
func (p *publisher) await(ctx context.Context, timer *time.Timer, at int64) error {
	if p.pace.stopNs > 0 {
		at = min(at, p.pace.stopNs)
	}
	d := time.Duration(at - p.clock.now())
	if d > fineWait {
		p.pause(ctx, timer, d-fineWait)
		return nil
	}
	return p.alarm.sleep(d)
}

// pause waits up to d, or until a receiver reports progress when the
// window holds the publisher back.
func (p *publisher) pause(ctx context.Context, timer *time.Timer, d time.Duration) {
	if p.pace.stopNs > 0 {
		d = min(d, time.Duration(p.pace.stopNs-p.clock.now()))
	}
	timer.Reset(max(d, 0))
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case <-timer.C:
	case <-p.wake:
		timer.Stop()
	case <-ctx.Done():
		timer.Stop()
	}
}

// fill writes n messages, stamped with now or, at a set rate, with the
// time each was due, so that a publisher falling behind shows as latency
// rather than hiding it.
func (p *publisher) fill(t transport, n int, now int64) error {
	for range n {
		s := p.streams[p.cursor]
		p.cursor = (p.cursor + 1) % len(p.streams)
		sent := now
		if p.pace.rate > 0 {
			sent = p.sched.at(p.total)
		}
		seq := s.sent.Load()
		p.bw.write(p.stamped, stamp{stream: s.id, seq: seq, sent: sent})
		s.sent.Store(seq + 1)
		p.total++
		if sent < p.pace.warmNs {
			s.warm = seq + 1
		} else {
			p.measured++
		}
		if err := t.write(s.head, p.body); err != nil {
			return err
		}
	}
	return nil
}

// notifier wakes publishers held back by their window when a receiver has
// made progress. Receivers check waiting first, so that it costs them one
// atomic load while nobody waits.
type notifier struct {
	waiting atomic.Int32
	wakes   []chan struct{}
}

// newNotifier returns a notifier for publishers publishers.
func newNotifier(publishers int) *notifier {
	n := &notifier{wakes: make([]chan struct{}, publishers)}
	for i := range n.wakes {
		n.wakes[i] = make(chan struct{}, 1)
	}
	return n
}

// notify wakes every waiting publisher.
func (n *notifier) notify() {
	if n.waiting.Load() == 0 {
		return
	}
	for _, ch := range n.wakes {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// clock gives nanoseconds on the monotonic clock since the run's start,
// shared by publishers and receivers.
type clock struct{ start time.Time }

func (c *clock) now() int64 { return int64(time.Since(c.start)) }
