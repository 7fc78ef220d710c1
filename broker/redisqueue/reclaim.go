package redisqueue

import (
	"context"
	"strconv"
	"time"
)

// reclaimBatch is how many pending entries one reclaim script call gives
// back.
const reclaimBatch = 100

// reclaimLoop gives back, every ReclaimInterval, what dead nodes hold of
// the queues read here, until ctx ends. (A queue that no live node reads
// keeps them until a node opens it, which reclaims first.)
func (q *Queues) reclaimLoop(ctx context.Context) {
	t := time.NewTicker(q.o.ReclaimInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for _, key := range q.readKeys() {
			q.reclaim(ctx, key)
		}
	}
}

// readKeys returns the keys of the queues read here.
func (q *Queues) readKeys() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := make([]string, 0, len(q.reading))
	for k := range q.reading {
		keys = append(keys, k)
	}
	return keys
}

// reclaim gives back, marked redelivered, the entries of key pending for
// consumers whose nodes are not alive, and removes those consumers.
func (q *Queues) reclaim(ctx context.Context, key string) {
	dead, err := q.deadConsumers(ctx, key)
	if err != nil {
		q.log.Warn("redisqueue: listing a queue's pending messages failed", "key", key, "error", err)
		return
	}
	for _, node := range dead {
		if err := q.reclaimNode(ctx, key, node); err != nil {
			q.log.Warn("redisqueue: giving back a dead node's messages failed", "key", key, "node", node, "error", err)
		}
	}
}

// deadConsumers lists the consumers of key's group, other than this node,
// that have pending entries and whose node is not alive.
func (q *Queues) deadConsumers(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	summary, err := q.c.Do(ctx, q.c.B().Xpending().Key(key).Group(group).Build()).ToArray()
	if err != nil || len(summary) < 4 {
		return nil, err
	}
	consumers, _ := summary[3].ToArray() // nil when nothing is pending
	var dead []string
	for _, c := range consumers {
		pair, err := c.AsStrSlice()
		if err != nil || len(pair) != 2 {
			continue
		}
		if pair[0] != q.o.Node && !q.o.Alive(pair[0]) {
			dead = append(dead, pair[0])
		}
	}
	return dead, nil
}

// reclaimNode gives back what node holds of key, a batch at a time.
func (q *Queues) reclaimNode(ctx context.Context, key, node string) error {
	args := []string{group, node, strconv.Itoa(reclaimBatch)}
	for {
		rctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
		n, err := reclaimScript.run(rctx, q.c, []call{{key, args}})[0].AsInt64()
		cancel()
		if err != nil {
			return err
		}
		q.claimed.Add(float64(n))
		if n < reclaimBatch {
			return nil
		}
	}
}
