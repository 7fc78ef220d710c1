package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stompd/stompd/stomp"
)

// soakPub sends to its streams in turn at a steady rate, over one
// connection at a time: when it drops, the SENDs not yet confirmed by a
// RECEIPT become a gap in its confirmLog and the publisher carries on
// from the next node. Its fields other than c belong to its goroutine.
type soakPub struct {
	s       *soak
	idx     int
	streams []*soakStream
	rate    float64 // messages per second over all its streams
	overdue int64   // ns after its receipt when a message missing is overdue
	log     *confirmLog
	c       atomic.Pointer[conn]
	asks    askQueue

	node    int    // added to idx to pick the node
	total   uint64 // SENDs written, across connections
	askedAt int64  // when the last receipt was asked for
	body    []byte // "\n", the body, NUL
	bw      bodyWriter
	sched   schedule
}

// A publisher asks a RECEIPT for the last SEND of a batch at most this
// often, and never with more than maxAsks unanswered: one receipt
// confirms every SEND before it on the connection.
const (
	askEvery = 10 * time.Millisecond
	maxAsks  = 1024
)

// askQueue holds, in order, the totals that the RECEIPTs asked for on
// the current connection will confirm.
type askQueue struct {
	mu     sync.Mutex
	totals []uint64
}

func (q *askQueue) push(total uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.totals) >= maxAsks {
		return false
	}
	q.totals = append(q.totals, total)
	return true
}

func (q *askQueue) pop() (uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.totals) == 0 {
		return 0, false
	}
	t := q.totals[0]
	q.totals = q.totals[1:]
	return t, true
}

func (q *askQueue) reset() {
	q.mu.Lock()
	q.totals = nil
	q.mu.Unlock()
}

// connect opens the publisher's connection; the first one also builds its
// SEND frames.
func (p *soakPub) connect(ctx context.Context) error {
	cr := p.s.cred.Load()
	c, err := p.s.b.dial(ctx, p.s.b.dialerFor(true, p.idx+p.node), busyBuffers, cr.headers)
	if err != nil {
		return err
	}
	if p.body == nil {
		p.frames(c.version)
	}
	c.onReceipt = p.receipt
	c.run(func(error) {}) // recover counts the failure
	p.c.Store(c)
	p.s.catchUp(c, cr)
	return nil
}

// frames builds the body and each stream's SEND heads.
func (p *soakPub) frames(v stomp.Version) {
	size := p.s.cfg.Size
	var body []byte
	body, p.bw = newBody(size)
	p.body = stomp.AppendBody(nil, body)
	for _, st := range p.streams {
		h := stomp.AppendCommand(nil, stomp.SEND)
		h = stomp.AppendHeaderString(h, stomp.SEND, "destination", st.dest, v)
		h = stomp.AppendHeaderString(h, stomp.SEND, "content-type", "text/plain", v)
		h = stomp.AppendHeaderString(h, stomp.SEND, "content-length", strconv.Itoa(size), v)
		st.head = h
		st.rhead = stomp.AppendHeaderString(h[:len(h):len(h)], stomp.SEND, "receipt", "c", v)
	}
}

// receipt confirms the SENDs up to the one that asked for it.
func (p *soakPub) receipt(f *stomp.Frame) bool {
	if p.s.refreshReceipt(f) {
		return true
	}
	if id, _ := f.Get("receipt-id"); string(id) != "c" {
		return false
	}
	if total, ok := p.asks.pop(); ok {
		now := p.s.b.clock.now()
		p.log.confirm(total, now, now-p.overdue)
	}
	return true
}

// run publishes until ctx ends, then has its last SENDs confirmed.
func (p *soakPub) run(ctx context.Context) {
	a, err := newAlarm()
	if err != nil {
		p.s.failure(err)
		return
	}
	defer a.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	p.sched = schedule{startNs: p.s.b.clock.now(), rate: p.rate}
	for ctx.Err() == nil {
		c := p.c.Load()
		if c == nil || ended(c) {
			p.recover(ctx)
			continue
		}
		now := p.s.b.clock.now()
		due := p.sched.dueBy(now) - p.total
		if due == 0 {
			p.await(ctx, a, timer, p.sched.at(p.total))
			continue
		}
		n := int(min(due, maxBatch))
		if err := c.batch(func(t transport) error { return p.fill(t, n, now) }); err != nil {
			p.recover(ctx)
		}
	}
	p.finish()
}

// await sleeps until time at: on the runtime's timers until fineWait
// before it, so that ctx is heeded, then on the alarm.
func (p *soakPub) await(ctx context.Context, a *alarm, timer *time.Timer, at int64) {
	d := time.Duration(at - p.s.b.clock.now())
	if d <= fineWait {
		_ = a.sleep(d) // a failed alarm only wakes the publisher early
		return
	}
	timer.Reset(d - fineWait)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
}

// fill writes n SENDs, each stamped with the time it was due, the last
// asking for a receipt when askEvery has passed since the last one did.
func (p *soakPub) fill(t transport, n int, now int64) error {
	body := p.body[1 : len(p.body)-1]
	for i := range n {
		st := p.streams[p.total%uint64(len(p.streams))]
		seq := st.sent.Load()
		p.bw.write(body, stamp{stream: st.id, seq: seq, sent: p.sched.at(p.total)})
		st.sent.Store(seq + 1)
		p.total++
		head := st.head
		if i == n-1 && now-p.askedAt >= int64(askEvery) && p.asks.push(p.total) {
			head, p.askedAt = st.rhead, now
		}
		if err := t.write(head, p.body); err != nil {
			return err
		}
	}
	return nil
}

// recover closes a connection that failed, records its unconfirmed SENDs
// as a gap, and connects to the next node, backing off, until it succeeds
// or ctx ends.
func (p *soakPub) recover(ctx context.Context) {
	if c := p.c.Load(); c != nil {
		c.close(false, 0)
		p.s.failure(fmt.Errorf("publisher %d: %w", p.idx, c.err))
	}
	p.gap()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		p.node++
		err := p.connect(ctx)
		if err == nil {
			p.s.reconnects.Add(1)
			return
		}
		p.s.failure(fmt.Errorf("publisher %d: reconnecting: %w", p.idx, err))
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// gap records the SENDs not confirmed on the connection that ended, and
// marks those some party already got.
func (p *soakPub) gap() {
	p.asks.reset()
	g := p.log.addGap(p.total)
	if g == nil {
		return
	}
	n := uint64(len(p.streams))
	for k := g.from; k < g.to; k++ {
		st, seq := p.streams[k%n], k/n
		for _, r := range st.recv {
			r.mu.Lock()
			if r.reached(seq) {
				p.log.markGot(st.pos, seq)
			}
			r.mu.Unlock()
		}
	}
}

// finishWait bounds the wait for the last receipt.
const finishWait = 5 * time.Second

// finish asks, with DISCONNECT, a receipt that confirms every SEND, waits
// for it, and closes the connection; what it did not confirm is a gap.
func (p *soakPub) finish() {
	c := p.c.Load()
	if c == nil {
		return
	}
	c.closing.Store(true)
	f := stomp.AppendCommand(nil, stomp.DISCONNECT)
	f = stomp.AppendHeaderString(f, stomp.DISCONNECT, "receipt", "c", c.version)
	if p.asks.push(p.total) && c.writeFlush(stomp.AppendBody(f, nil)) == nil {
		deadline := time.Now().Add(finishWait)
		for p.log.confirmed.Load() < p.total && !ended(c) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.close(false, 0)
	p.gap()
}
