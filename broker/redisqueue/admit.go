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

// makersKey and madeKey bound the queues of the set each user makes
// (Options.MaxQueuesPerUser): makersKey is the hash of the queues of the
// set that a user made, by stream key, to that user; madeKey the hash of
// how many of them each user made. Their hash tag is queuesKey's name,
// which puts them in queuesKey's slot, so that one script checks and
// changes all three atomically on a Redis Cluster too. A queue made by no
// user (an anonymous session) is in neither.
const (
	makersKey = "{" + queuesKey + "}:makers"
	madeKey   = "{" + queuesKey + "}:made"
)

// newSetScript returns a script on the set of queues and its makers: its
// KEYS are queuesKey, makersKey and madeKey, whatever the key of a run.
func newSetScript(src string) *script {
	s := newScript(src)
	s.keysOf = func(string) []string { return []string{queuesKey, makersKey, madeKey} }
	return s
}

// admitScript admits the queue ARGV[1], made by the user ARGV[3] (empty for
// none): one in the set already is admitted again, whoever made it; a new
// one only while the set holds fewer than ARGV[2] queues and that user
// made fewer than ARGV[4] of them, and it is then recorded as that user's.
// It returns 1 when admitted, 0 when refused for the set's bound, -1 for
// the user's.
var admitScript = newSetScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local key, user = ARGV[1], ARGV[3]
if not redis.call('ZSCORE', KEYS[1], key) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
  if user ~= '' then
    if tonumber(redis.call('HGET', KEYS[3], user) or '0') >= tonumber(ARGV[4]) then return -1 end
    redis.call('HSET', KEYS[2], key, user)
    redis.call('HINCRBY', KEYS[3], user, 1)
  end
end
redis.call('ZADD', KEYS[1], now, key)
return 1`)

// staleScript returns up to ARGV[2] queues of the set not admitted nor
// seen for ARGV[1] milliseconds, for forgetGone to look at.
var staleScript = newScript(`
local t = redis.call('TIME')
local cutoff = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))`)

// settleScript takes the queues ARGV[3..] out of the set when ARGV[1] is
// '0' (their streams are gone) unless one was admitted again meanwhile
// (within the last ARGV[2] milliseconds), off their makers' counts too, and
// otherwise marks them seen.
var settleScript = newSetScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function forget(key)
  redis.call('ZREM', KEYS[1], key)
  local user = redis.call('HGET', KEYS[2], key)
  if not user then return end
  redis.call('HDEL', KEYS[2], key)
  if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then redis.call('HDEL', KEYS[3], user) end
end
for i = 3, #ARGV do
  if ARGV[1] == '1' then
    redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i])
  else
    local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if s and tonumber(s) < now - tonumber(ARGV[2]) then forget(ARGV[i]) end
  end
end
return 0`)

// staleBatch bounds the queues forgetGone looks at each time.
const staleBatch = 100

// admit sorts the adds of batch by their queues' admission: ready are
// those of queues admitted (by this node within half of EmptyExpiry, or by
// Redis now, for their sender), retry those whose admission Redis did not
// answer, with why; the others it fails, with an error wrapping
// broker.ErrTooManyQueues (broker.ErrTooManyQueuesPerUser for their
// sender's bound), or the error Redis replied. Adds keep their order.
func (q *Queues) admit(ctx context.Context, batch []add) (ready, retry []add, why error) {
	now := time.Now()
	asks := q.toAsk(batch, now)
	if len(asks) == 0 {
		return batch, nil, nil
	}
	outcome := map[admission]error{}
	for i, r := range admitScript.run(ctx, q.c, q.admitCalls(asks)) {
		err := q.refusal(r, asks[i])
		switch {
		case err == nil:
			q.rememberAdmitted(asks[i].key, now)
			continue
		case !errors.Is(err, broker.ErrTooManyQueues):
			why = err
		}
		outcome[asks[i]] = err
	}
	for _, a := range batch {
		err, refused := outcome[admission{a.key, a.user}]
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

// admission is the admission of a queue, by its stream key, for the SENDs
// of one user to it.
type admission struct{ key, user string }

// toAsk returns the admissions that batch needs Redis for: one per queue
// and sender, none for a queue this node admitted within half of
// EmptyExpiry.
func (q *Queues) toAsk(batch []add, now time.Time) []admission {
	var asks []admission
	asked := map[admission]bool{}
	for _, a := range batch {
		ad := admission{a.key, a.user}
		if now.Before(q.admitted[a.key]) || asked[ad] {
			continue
		}
		asked[ad] = true
		asks = append(asks, ad)
	}
	return asks
}

func (q *Queues) admitCalls(asks []admission) []call {
	calls := make([]call, len(asks))
	for i, ad := range asks {
		calls[i] = call{queuesKey, []string{ad.key, q.maxQueues, ad.user, q.maxPerUser}}
	}
	return calls
}

// refusal returns why Redis's answer r to admission ad refuses it, or nil
// when it was admitted.
func (q *Queues) refusal(r rueidis.RedisResult, ad admission) error {
	n, err := r.AsInt64()
	switch {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("%w: %d exist", broker.ErrTooManyQueues, q.o.MaxQueues)
	case n < 0:
		return fmt.Errorf("%w: %q made %d that exist", broker.ErrTooManyQueuesPerUser, ad.user, q.o.MaxQueuesPerUser)
	}
	return nil
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
