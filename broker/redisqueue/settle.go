package redisqueue

import (
	"context"
	"slices"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// settlement is a Settle call waiting to reach Redis.
type settlement struct {
	key  string
	refs []string
	d    broker.Disposition
}

// maxBackoff bounds the wait between attempts while Redis fails.
const maxBackoff = 5 * time.Second

// sendSettles carries out the Settle calls, pipelined in batches. A batch
// that Redis did not answer is tried again, with a growing pause, until it
// does: what is settled is only what a node holds already (read under its
// consumers' credit), so what waits is bounded by that, and a message
// given back is never lost meanwhile (it stays pending for this node).
func (q *Queues) sendSettles(ctx context.Context) {
	var backoff time.Duration
	for {
		batch, ok := q.settles.take(ctx)
		if !ok {
			return
		}
		failed := q.settle(ctx, batch)
		if len(failed) == 0 {
			backoff = 0
			continue
		}
		q.settles.putFront(failed)
		backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
		q.log.Warn("redisqueue: settling messages failed; trying again", "messages", len(failed), "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
	}
}

// flushSettles makes a last attempt at what waits to be settled, once Run's
// context ended.
func (q *Queues) flushSettles() {
	ctx, cancel := context.WithTimeout(context.Background(), q.o.Timeout)
	defer cancel()
	if failed := q.settle(ctx, q.settles.close()); len(failed) > 0 {
		q.log.Warn("redisqueue: stopped with messages not settled; another node gives them back once this one is gone", "settlements", len(failed))
	}
}

// settle runs one batch and returns the settlements Redis did not answer.
// One that Redis refused (a script error) is logged and not tried again.
func (q *Queues) settle(ctx context.Context, batch []settlement) (failed []settlement) {
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	var byD [broker.SettleReturn + 1][]settlement
	for _, s := range coalesce(batch) {
		byD[s.d] = append(byD[s.d], s)
	}
	for d, ss := range byD {
		if len(ss) > 0 {
			failed = append(failed, q.settleAll(ctx, broker.Disposition(d), ss)...)
		}
	}
	return failed
}

// coalesce merges the settlements of one key and disposition, up to
// maxRefs refs each, so that a batch of ACKs of a queue is one script call.
func coalesce(batch []settlement) []settlement {
	type kd struct {
		key string
		d   broker.Disposition
	}
	at := make(map[kd]int)
	var out []settlement
	for _, s := range batch {
		k := kd{s.key, s.d}
		if i, ok := at[k]; ok && len(out[i].refs)+len(s.refs) <= maxRefs {
			out[i].refs = append(out[i].refs, s.refs...)
			continue
		}
		at[k] = len(out)
		out = append(out, settlement{s.key, slices.Clip(s.refs), s.d})
	}
	return out
}

// settleAll runs settlements ss, all of disposition d, and returns those
// Redis did not answer.
func (q *Queues) settleAll(ctx context.Context, d broker.Disposition, ss []settlement) (failed []settlement) {
	s, head := giveBackScript, []string{group, q.o.Node, "0"}
	switch d {
	case broker.SettleRemove:
		s, head = removeScript, []string{group, q.expiry}
	case broker.SettleRedeliver:
		head[2] = "1"
	}
	calls := make([]call, len(ss))
	for i, st := range ss {
		calls[i] = call{st.key, append(head[:len(head):len(head)], st.refs...)}
	}
	for i, r := range s.run(ctx, q.c, calls) {
		n, err := r.AsInt64()
		switch {
		case err == nil:
			if d != broker.SettleRemove {
				q.given[d].Add(float64(n))
			}
		case isRedisErr(err):
			q.log.Error("redisqueue: Redis refused to settle messages", "key", ss[i].key, "error", err)
		default:
			failed = append(failed, ss[i])
			continue
		}
		q.release(ss[i].key, ss[i].refs)
		if d != broker.SettleRemove {
			q.gaveBack(ss[i].key, len(ss[i].refs))
		}
	}
	return failed
}

// isRedisErr reports whether err is Redis's final answer, rather than a
// failure to get one or an answer that asks to try again (a server still
// loading its data, a cluster failing over).
func isRedisErr(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && !e.IsLoading() && !e.IsTryAgain() && !e.IsClusterDown()
}

// sleep waits d, or until ctx ends; it reports false when ctx ended.
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
