package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// queuesKey is the sorted set of the queues that exist in Redis, by their
// stream keys, each scored by when it was last admitted or seen to exist
// (Redis's clock, in milliseconds). It bounds how many queues all nodes
// together make (Options.MaxQueues). It is a key of its own, in a slot of
// its own on a Redis Cluster: a queue is admitted before its first SEND
// from a node, not in the SEND's script.
const queuesKey = "stompd:queues"

// admitScript admits the queue ARGV[1]: one in the set already is admitted
// again, a new one only while the set holds fewer than ARGV[2]. It returns
// 1 when admitted, 0 when refused.
var admitScript = newScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  return 1
end
return 0`)

// staleScript returns up to ARGV[2] queues of the set not admitted nor
// seen for ARGV[1] milliseconds, for forgetGone to look at.
var staleScript = newScript(`
local t = redis.call('TIME')
local cutoff = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))`)

// settleScript takes the queues ARGV[3..] out of the set when ARGV[1] is
// '0' (their streams are gone) unless one was admitted again meanwhile
// (within the last ARGV[2] milliseconds), and otherwise marks them seen.
var settleScript = newScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 3, #ARGV do
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i])
  else
    local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if s and tonumber(s) < now - tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[i]) end
  end
end
return 0`)

// staleBatch bounds the queues forgetGone looks at each time.
const staleBatch = 100

// admit sorts the adds of batch by their queues' admission: ready are
// those of queues admitted (by this node within half of EmptyExpiry, or by
// Redis now), retry those whose admission Redis did not answer, with why;
// the others it fails, with an error wrapping broker.ErrTooManyQueues, or
// the error Redis replied. Adds keep their order.
func (q *Queues) admit(ctx context.Context, batch []add) (ready, retry []add, why error) {
	now := time.Now()
	var calls []call
	asked := map[string]bool{}
	for _, a := range batch {
		if now.Before(q.admitted[a.key]) || asked[a.key] {
			continue
		}
		asked[a.key] = true
		calls = append(calls, call{queuesKey, []string{a.key, q.maxQueues}})
	}
	if len(calls) == 0 {
		return batch, nil, nil
	}
	outcome := map[string]error{}
	for i, r := range admitScript.run(ctx, q.c, calls) {
		key := calls[i].args[0]
		n, err := r.AsInt64()
		switch {
		case err != nil:
			outcome[key], why = err, err
		case n == 0:
			outcome[key] = fmt.Errorf("%w: %d exist", broker.ErrTooManyQueues, q.o.MaxQueues)
		default:
			q.rememberAdmitted(key, now)
		}
	}
	for _, a := range batch {
		err, refused := outcome[a.key]
		switch {
		case !refused:
			ready = append(ready, a)
		case isRedisErr(err) || errors.Is(err, broker.ErrTooManyQueues):
			a.stored(err)
		default:
			retry = append(retry, a)
		}
	}
	return ready, retry, why
}

// rememberAdmitted notes that key was admitted at now, and forgets the
// admissions that ran out once there are many.
func (q *Queues) rememberAdmitted(key string, now time.Time) {
	if len(q.admitted) >= q.o.MaxQueues {
		for k, until := range q.admitted {
			if !now.Before(until) {
				delete(q.admitted, k)
			}
		}
	}
	q.admitted[key] = now.Add(q.o.EmptyExpiry / 2)
}

// forgetGone looks at the queues of the set not admitted nor seen for
// EmptyExpiry: those whose streams expired leave the set, the others are
// marked seen, so that the set holds the queues that exist.
func (q *Queues) forgetGone(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	keys, err := staleScript.run(ctx, q.c, []call{{queuesKey, []string{q.expiry, strconv.Itoa(staleBatch)}}})[0].AsStrSlice()
	if err != nil || len(keys) == 0 {
		return err
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = q.c.B().Exists().Key(k).Build()
	}
	gone, live := []string{"0", q.expiry}, []string{"1", q.expiry}
	for i, r := range q.c.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		switch {
		case err != nil:
			return err
		case n == 0:
			gone = append(gone, keys[i])
		default:
			live = append(live, keys[i])
		}
	}
	for _, r := range settleScript.run(ctx, q.c, []call{{queuesKey, gone}, {queuesKey, live}}) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}
