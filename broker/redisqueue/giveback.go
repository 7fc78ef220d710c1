package redisqueue

import (
	"context"
	"time"

	"github.com/stompd/stompd/broker"
)

// A give-back this node began reaches Redis before any later read of the
// same queue by this node: a consumer's NACK or disconnect here is thus
// redelivered before a message sent afterwards, even when the new message
// reaches Redis first, as in a queue of one node. Settle notes what it
// gives back (givingBack), the Run loop what Redis answered (gaveBack),
// and a reader waits for what was begun before it reads (awaitGiveBacks),
// at most Timeout: while Redis does not answer, reads fail anyway.

// giveBacks counts the refs of one queue handed to the Run loop to be given
// back, and those Redis answered.
type giveBacks struct{ begun, answered int64 }

// givingBack notes n refs of key handed to the Run loop to be given back.
func (q *Queues) givingBack(key string, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.giving[key]
	if g == nil {
		g = new(giveBacks)
		q.giving[key] = g
	}
	g.begun += int64(n)
}

// gaveBack notes that Redis answered the give-back of n refs of key, and
// wakes the readers waiting for it.
func (q *Queues) gaveBack(key string, n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if g := q.giving[key]; g != nil {
		if g.answered += int64(n); g.answered >= g.begun {
			delete(q.giving, key)
		}
	}
	close(q.gave)
	q.gave = make(chan struct{})
}

// awaitGiveBacks waits until Redis answered as many give-backs of key as
// had been handed to the Run loop when it was called, at most Timeout or
// until ctx ends.
func (q *Queues) awaitGiveBacks(ctx context.Context, key string) {
	q.mu.Lock()
	g := q.giving[key]
	var target int64
	if g != nil {
		target = g.begun
	}
	q.mu.Unlock()
	if g == nil {
		return
	}
	t := time.NewTimer(q.o.Timeout)
	defer t.Stop()
	for {
		q.mu.Lock()
		done, gave := g.answered >= target, q.gave
		q.mu.Unlock()
		if done {
			return
		}
		select {
		case <-gave:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// giveBack gives back, as they were, the entries refs of key pending for
// this node and never handed to the broker, within Timeout.
func (q *Queues) giveBack(ctx context.Context, key string, refs []string) error {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	n, err := giveBackScript.run(ctx, q.c, []call{{key, append([]string{group, q.o.Node, "0"}, refs...)}})[0].AsInt64()
	q.given[broker.SettleReturn].Add(float64(n))
	return err
}

// giveBack gives refs, pending for this node and never handed to the
// broker, back as they were; when Redis does not answer, the Run loop
// tries again.
func (r *reader) giveBack(ctx context.Context, refs []string) {
	if err := r.q.giveBack(ctx, r.key, refs); err != nil {
		r.Settle(refs, broker.SettleReturn)
	}
}
