package redisqueue

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
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
		if err := q.forgetGone(ctx); err != nil {
			q.log.Warn("redisqueue: forgetting queues whose streams expired failed", "error", err)
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
	if err := q.reclaimOwn(ctx, key); err != nil {
		q.log.Warn("redisqueue: giving back this node's orphaned messages failed", "key", key, "error", err)
	}
}

// reclaimOwn gives back, as they were, the entries of key pending for this
// node that it never handed to the broker: a read whose reply was lost
// (the connection broke, the read timed out) leaves them pending for a
// live node, which no other node reclaims. Only entries idle for longer
// than any read can take are looked at, so that a read still under way
// is left alone.
func (q *Queues) reclaimOwn(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	idle := 2 * (q.o.Block + q.o.Timeout).Milliseconds()
	cmd := q.c.B().Xpending().Key(key).Group(group).Idle(idle).Start("-").End("+").Count(reclaimBatch).Consumer(q.o.Node).Build()
	entries, err := q.c.Do(ctx, cmd).ToArray()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if fields, err := e.ToArray(); err == nil && len(fields) > 0 {
			if id, err := fields[0].ToString(); err == nil {
				ids = append(ids, id)
			}
		}
	}
	orphans := q.orphans(key, ids)
	if len(orphans) == 0 {
		return nil
	}
	return q.giveBack(ctx, key, orphans)
}

// deadConsumers lists the consumers of key's group, other than this node
// and givenBack, whose node is not alive and that have been idle for
// ReclaimIdle: those with pending entries, to give them back, and those
// without, to delete them, so that the group does not collect a consumer
// per node start.
func (q *Queues) deadConsumers(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	consumers, err := q.c.Do(ctx, q.c.B().XinfoConsumers().Key(key).Group(group).Build()).ToArray()
	if err != nil {
		return nil, err
	}
	var dead []string
	for _, c := range consumers {
		info, err := c.AsMap()
		if err != nil {
			continue
		}
		nameMsg, idle := info["name"], info["idle"]
		name, err := nameMsg.ToString()
		if err == nil && name != q.o.Node && name != givenBack && q.quiet(&idle) && !q.o.Alive(name) {
			dead = append(dead, name)
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

// quiet reports whether a consumer's idle time, in milliseconds as XINFO
// CONSUMERS gives it, is at least ReclaimIdle.
func (q *Queues) quiet(idle *rueidis.RedisMessage) bool {
	ms, err := idle.AsInt64()
	return err == nil && time.Duration(ms)*time.Millisecond >= q.o.ReclaimIdle
}
