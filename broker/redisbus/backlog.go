package redisbus

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// entryCost is what an entry costs in the backlog beyond its bytes: its
// slot and the channel's and payload's headers.
const entryCost = 64

// maxBatch bounds the commands of one pipelined round trip.
const maxBatch = 512

// commandTimeout bounds a round trip to Redis.
const commandTimeout = 5 * time.Second

// entry is a message waiting to be published: Publish's, whose payload
// begins with the node id, or Append's, whose dest is set and whose payload
// is the broker's message; or a fence of dest's epoch, when fence is set.
type entry struct {
	dest    string
	channel string
	payload []byte
	fence   string // the epoch of dest's history that went back
	latest  uint64 // with fence, the latest offset received in it
	source  uint64 // an Append's, once the writer sends it
	local   bool   // an Append's delivered to this node's subscribers already
	done    broker.Appended
}

// answer tells an Append's done what became of it, err nil once kept.
func (e entry) answer(err error) {
	if e.done != nil {
		e.done.Appended(e.dest, err)
	}
}

func (e entry) cost() int { return entryCost + len(e.channel) + len(e.dest) + len(e.payload) }

// backlog is the bounded queue between publishers and the one writer.
// Publishers append under mu and never wait; the writer takes everything
// at once.
type backlog struct {
	max  int
	wake chan struct{} // holds a token while entries wait

	mu      sync.Mutex
	entries []entry
	bytes   int
}

func newBacklog(max int) backlog {
	return backlog{max: max, wake: make(chan struct{}, 1)}
}

// push appends e, or reports false when it does not fit.
func (q *backlog) push(e entry) bool {
	n := e.cost()
	q.mu.Lock()
	if q.bytes+n > q.max {
		q.mu.Unlock()
		return false
	}
	q.entries = append(q.entries, e)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take waits until entries wait or ctx is done, and returns them, swapping
// in spare, emptied, for the publishers to fill.
func (q *backlog) take(ctx context.Context, spare []entry) ([]entry, bool) {
	select {
	case <-ctx.Done():
		return nil, false
	case <-q.wake:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := q.entries
	q.entries, q.bytes = spare[:0], 0
	return taken, true
}

// takeAppends removes the Append entries waiting and returns them, in
// their order, leaving the others queued.
func (q *backlog) takeAppends() []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var taken []entry
	kept := q.entries[:0]
	for _, e := range q.entries {
		if e.dest == "" || e.fence != "" {
			kept = append(kept, e)
			continue
		}
		taken = append(taken, e)
		q.bytes -= e.cost()
	}
	clear(q.entries[len(kept):]) // let the payloads go
	q.entries = kept
	return taken
}

// unshift puts es, taken by takeAppends, back in front of the entries
// queued since.
func (q *backlog) unshift(es []entry) {
	if len(es) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range es {
		q.bytes += e.cost()
	}
	q.entries = append(es, q.entries...)
}

// rearm wakes the writer again when entries wait.
func (q *backlog) rearm() {
	q.mu.Lock()
	waiting := len(q.entries) > 0
	q.mu.Unlock()
	if waiting {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// drain empties the backlog, answers its Appends as not kept, and returns
// how many entries it held.
func (q *backlog) drain() int {
	q.mu.Lock()
	es := q.entries
	q.entries, q.bytes = nil, 0
	q.mu.Unlock()
	for _, e := range es {
		e.answer(errUnavailable)
	}
	return len(es)
}

// probeEvery is how often the writer asks Redis whether it is back,
// after a failed batch, and probeTimeout how long it waits for the answer.
const (
	probeEvery   = 50 * time.Millisecond
	probeTimeout = 250 * time.Millisecond
)

// write is the one writer: it publishes the backlog in pipelined batches,
// in order, each batch after the previous one's replies, so that one
// publisher's messages to one destination reach Redis in its order. After a
// failed batch it puts back what it took after it and waits until Redis
// answers again (outage): the backlog meanwhile fills up to its bound with
// Publish entries, while Append entries go to local delivery and to the
// outbox.
func (b *Bus) write(ctx context.Context, r Receiver) {
	var spare []entry
	cmds := make(rueidis.Commands, 0, maxBatch)
	for {
		taken, ok := b.backlog.take(ctx, spare)
		if !ok {
			b.dropFailed.Add(float64(b.backlog.drain() + b.outbox.drain()))
			return
		}
		broke := false
		for rest := taken; len(rest) > 0 && !broke; {
			n := min(len(rest), maxBatch)
			broke = b.publish(ctx, cmds[:0], rest[:n], r)
			rest = rest[n:]
			if broke {
				b.backlog.unshift(slices.Clone(rest))
			}
		}
		clear(taken) // let the payloads go
		spare = taken[:0]
		if broke {
			b.outage(ctx, r)
		}
	}
}

// outage returns once Redis answers a PING again, or ctx is done, after a
// failed batch. Every probeEvery it takes the Append entries queued, asks
// Redis, and hands them to r's Deliver and to the outbox, as a failed one
// would be, when it did not answer: so the node's subscribers wait at most
// a probe, not a backoff, and an Append queued once Redis is back is
// numbered and kept, for every node, before local delivery. Each topic
// keeps its order: its Appends are queued, and so delivered, in order, and
// once Redis answers, the outbox and those of the probe that succeeded go
// back to the front of the backlog, in that order.
func (b *Bus) outage(ctx context.Context, r Receiver) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	defer b.backlog.rearm()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		appended := b.backlog.takeAppends()
		if b.ping(ctx) == nil {
			b.backlog.unshift(append(b.outbox.release(), appended...))
			for _, p := range b.parts {
				p.redisBack()
			}
			return
		}
		for _, e := range appended {
			deliverLocally(e, r)
			b.hold(e)
		}
	}
}

// ping asks Redis for a PONG, within probeTimeout.
func (b *Bus) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return b.client.Do(ctx, b.client.B().Ping().Build()).Error()
}

// publish sends one batch, pipelined: an SPUBLISH per Publish entry, a
// fence per fence entry, and one run of appendScript per partition for the
// Append entries, and reports whether a command failed. A script Redis
// does not know yet is sent again in full (EVAL). When a command failed,
// the Appends of the batch and of the one before that did not reach this
// node numbered yet go to r's Deliver, to this node's subscribers, and the
// Appends of the scripts that failed to the outbox, to be kept once Redis
// is back: while Redis is unreachable, a node's topics keep their local
// fan-out. A failed Publish is dropped and counted.
func (b *Bus) publish(ctx context.Context, cmds rueidis.Commands, batch []entry, r Receiver) (broke bool) {
	lo := b.sources.next + 1
	if len(b.sent) > 0 {
		lo = b.sent[0].source
	}
	units := b.units(batch)
	b.sources.sending(lo, b.sources.next)
	for _, u := range units {
		cmds = append(cmds, u.command(b, batch, false))
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var lost []*appends
	for i, res := range b.client.DoMulti(ctx, cmds...) {
		if noScript(res) {
			res = b.client.Do(ctx, units[i].command(b, batch, true))
		}
		err := res.Error()
		switch u := units[i]; {
		case err == nil:
			u.kept(batch)
		case u.appends != nil:
			lost = append(lost, u.appends)
		default:
			b.failed(batch[u.entry], err)
		}
		broke = broke || err != nil
	}
	if !broke {
		b.keepSent(batch)
		return false
	}
	b.unconfirmed(batch, r)
	for _, a := range lost {
		for _, i := range a.entries {
			b.hold(batch[i])
		}
	}
	return true
}

// keepSent keeps the Append entries of batch, which Redis took, as b.sent:
// until the next batch is taken too, their messages may not have reached
// this node yet.
func (b *Bus) keepSent(batch []entry) {
	b.sent = b.sent[:0]
	for _, e := range batch {
		if e.source != 0 && !e.local {
			b.sent = append(b.sent, e)
		}
	}
}

// unconfirmed hands r's Deliver, in their order, the messages of b.sent
// and of batch, a batch that failed in part, that did not reach this node
// numbered yet (sources.go) nor were delivered from the outbox: the failed
// ones, and those whose script ran but which Redis may not have pushed to
// this node before it went down.
func (b *Bus) unconfirmed(batch []entry, r Receiver) {
	for _, es := range [][]entry{b.sent, batch} {
		for _, e := range es {
			if e.source != 0 && !e.local && b.sources.failed(e.source) {
				deliverLocally(e, r)
			}
		}
	}
	clear(b.sent) // let the payloads go
	b.sent = b.sent[:0]
}

// deliverLocally hands r's Deliver a copy of e's payload: rueidis may
// hold the payload still, after a timeout, and the outbox sends it again.
func deliverLocally(e entry, r Receiver) {
	r.Deliver(bytes.Clone(e.payload))
}

// unit is what one command of a batch carries: one entry, or the Append
// entries of one partition.
type unit struct {
	entry   int
	appends *appends
}

// maxScriptBytes bounds the messages of one run of appendScript beyond
// the first, so that Redis, which runs nothing else meanwhile, is not held
// long.
const maxScriptBytes = 1 << 20

// units sorts a batch into its commands: the Append entries of each
// partition go together, in their order, up to maxScriptBytes, each with
// its source.
func (b *Bus) units(batch []entry) []unit {
	var parts [partitions]*appends
	units := make([]unit, 0, len(batch))
	for i, e := range batch {
		if e.dest == "" || e.fence != "" {
			units = append(units, unit{entry: i})
			continue
		}
		if e.source == 0 { // not one from the outbox
			batch[i].source = b.sources.give()
		}
		p := partitionOf(e.dest)
		if parts[p] == nil || parts[p].bytes+len(e.payload) > maxScriptBytes {
			parts[p] = &appends{}
			units = append(units, unit{appends: parts[p]})
		}
		parts[p].add(i, batch[i])
	}
	return units
}

// command is the command that publishes u; eval asks for a script in full.
func (u unit) command(b *Bus, batch []entry, eval bool) rueidis.Completed {
	if u.appends != nil {
		return u.appends.command(b, eval)
	}
	switch e := batch[u.entry]; {
	case e.fence != "":
		return b.fenceCmd(e, eval)
	default:
		// The payload is never changed once queued, so it may be read as a string.
		msg := unsafe.String(unsafe.SliceData(e.payload), len(e.payload))
		return b.client.B().Spublish().Channel(e.channel).Message(msg).Build()
	}
}

// kept tells u's Appends, whose command succeeded, that they were kept.
func (u unit) kept(batch []entry) {
	if u.appends == nil {
		return
	}
	for _, i := range u.appends.entries {
		batch[i].answer(nil)
	}
}

// failed counts e, a Publish entry whose command failed with err, as
// dropped, or logs e, a fence entry.
func (b *Bus) failed(e entry, err error) {
	if e.fence != "" {
		b.log.Warn("redisbus: fencing a topic's history failed", "destination", e.dest, "err", err)
		return // the next message that went back fences it again
	}
	b.dropFailed.Inc()
}
