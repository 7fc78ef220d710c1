package redisbus

import (
	"bytes"
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
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

// drain empties the backlog and returns how many entries it held.
func (q *backlog) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.entries)
	q.entries, q.bytes = nil, 0
	return n
}

// write is the one writer: it publishes the backlog in pipelined batches,
// in order, each batch after the previous one's replies, so that one
// publisher's messages to one destination reach Redis in its order. After a
// failed batch it waits (100 ms, doubling up to 1 s) before the next, and
// the backlog meanwhile fills up to its bound.
func (b *Bus) write(ctx context.Context, r Receiver) {
	var spare []entry
	cmds := make(rueidis.Commands, 0, maxBatch)
	backoff := time.Duration(0)
	for {
		taken, ok := b.backlog.take(ctx, spare)
		if !ok {
			b.dropFailed.Add(float64(b.backlog.drain()))
			return
		}
		failed := 0
		for rest := taken; len(rest) > 0; {
			n := min(len(rest), maxBatch)
			failed += b.publish(ctx, cmds[:0], rest[:n], r)
			rest = rest[n:]
		}
		clear(taken) // let the payloads go
		spare = taken[:0]
		if failed == 0 {
			backoff = 0
			continue
		}
		b.dropFailed.Add(float64(failed))
		backoff = min(max(2*backoff, 100*time.Millisecond), time.Second)
		sleep(ctx, backoff)
	}
}

// publish sends one batch, an SPUBLISH or a run of appendScript per entry,
// and returns how many failed. A script Redis does not know yet is sent
// again in full (EVAL), in order. An Append that failed goes to r's
// Deliver instead, to this node's subscribers only: while Redis is
// unreachable, a node's topics keep their local fan-out, without history.
func (b *Bus) publish(ctx context.Context, cmds rueidis.Commands, batch []entry, r Receiver) int {
	for _, e := range batch {
		cmds = append(cmds, b.command(e, false))
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	failed := 0
	for i, res := range b.client.DoMulti(ctx, cmds...) {
		if noScript(res) {
			res = b.client.Do(ctx, b.command(batch[i], true))
		}
		if res.Error() == nil {
			continue
		}
		switch e := batch[i]; {
		case e.fence != "":
			b.log.Warn("redisbus: fencing a topic's history failed", "destination", e.dest, "err", res.Error())
			continue // the next message that went back fences it again
		case e.dest != "":
			r.Deliver(bytes.Clone(e.payload)) // rueidis may hold the payload still, after a timeout
		}
		failed++
	}
	return failed
}

// command is the command that publishes e; eval asks for a script in full.
func (b *Bus) command(e entry, eval bool) rueidis.Completed {
	switch {
	case e.fence != "":
		return b.fenceCmd(e, eval)
	case e.dest != "":
		return b.appendCmd(e, eval)
	}
	// The payload is never changed once queued, so it may be read as a string.
	msg := unsafe.String(unsafe.SliceData(e.payload), len(e.payload))
	return b.client.B().Spublish().Channel(e.channel).Message(msg).Build()
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
