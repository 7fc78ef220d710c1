package redisqueue

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// Every script works on one queue's stream, KEYS[1], whose consumer group
// is ARGV[1]. An entry holds the message in field m. An entry given back
// stays where it is in the stream and pending in the group, but for the
// consumer givenBack, whose pending entries Redis keeps in the order of
// their ids: the order in which they were sent. An entry's delivery count
// says whether it was handed to a consumer: 1 when it was not, more when
// it was (XCLAIM with JUSTID leaves the count alone, RETRYCOUNT sets it).

// givenBack is the consumer of every queue's group that holds the entries
// given back until a reader takes them: not a node, whose ids are hex.
const givenBack = "given-back"

// addScript stores ARGV[3] unless the stream holds ARGV[2] entries already,
// creating the stream and its group (reading from the start) if needed. It
// returns 1 when stored, 0 when the queue is full. Acknowledged entries are
// deleted, so the stream's length is what the queue holds: waiting, given
// back, or delivered and not yet acknowledged.
var addScript = newScript(`
local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[2]) then return 0 end
if n == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[3])
return 1`)

// removeScript acknowledges and deletes the entries ARGV[2..].
var removeScript = newScript(`
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))`)

// giveBack is a Lua function that gives back the entry id when it is
// pending for consumer owner: it becomes givenBack's, with a delivery count
// of at least 2 when mark is '1' and otherwise as it was. An entry pending
// for another consumer (given back already, and perhaps taken by another
// node) or for none is left alone. It returns 1 when the entry went back.
const giveBack = `
local function giveBack(key, group, owner, id, mark)
  local p = redis.call('XPENDING', key, group, id, id, 1, owner)
  if #p == 0 then return 0 end
  local count = p[1][4]
  if mark == '1' and count < 2 then count = 2 end
  redis.call('XCLAIM', key, group, '` + givenBack + `', 0, id, 'RETRYCOUNT', count, 'JUSTID')
  return 1
end
`

// giveBackScript gives back the entries ARGV[4..] pending for consumer
// ARGV[2], marked redelivered when ARGV[3] is '1', and returns how many
// went back.
var giveBackScript = newScript(giveBack + `
local n = 0
for i = 4, #ARGV do n = n + giveBack(KEYS[1], ARGV[1], ARGV[2], ARGV[i], ARGV[3]) end
return n`)

// reclaimScript gives back, marked redelivered, up to ARGV[3] entries
// pending for consumer ARGV[2] (a node that is no longer alive), and
// deletes that consumer once it has none left (deleting a consumer drops
// its pending entries). It returns how many entries it looked at: ARGV[3]
// means there may be more.
var reclaimScript = newScript(giveBack + `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[3]), ARGV[2])
for i = 1, #p do giveBack(KEYS[1], ARGV[1], ARGV[2], p[i][1], '1') end
if #p < tonumber(ARGV[3]) then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
return #p`)

// takeScript takes for consumer ARGV[2] up to ARGV[3] entries: first those
// given back, oldest first, then, when ARGV[4] is '1', new ones, with
// XREADGROUP (which does not block in a script). It returns them flat, as
// id, message, and '1' when the entry was handed to a consumer before or
// '0'. A given-back entry that was deleted meanwhile is acknowledged and
// skipped.
var takeScript = newScript(`
local key, group, me, n = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
local function put(id, fields, redelivered)
  local m = ''
  for i = 1, #fields, 2 do
    if fields[i] == 'm' then m = fields[i + 1] end
  end
  local at = #out
  out[at + 1] = id
  out[at + 2] = m
  out[at + 3] = redelivered
end
local p = redis.call('XPENDING', key, group, '-', '+', n, '` + givenBack + `')
for i = 1, #p do
  local id = p[i][1]
  redis.call('XCLAIM', key, group, me, 0, id, 'JUSTID')
  local e = redis.call('XRANGE', key, id, id)
  if #e == 0 then
    redis.call('XACK', key, group, id)
  else
    put(id, e[1][2], p[i][4] > 1 and '1' or '0')
  end
end
local want = n - #out / 3
if ARGV[4] == '1' and want > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', want, 'STREAMS', key, '>')
  if r then
    for _, e in ipairs(r[1][2]) do put(e[1], e[2], '0') end
  end
end
return out`)

// script is a Lua script run by EVALSHA, and by EVAL when Redis does not
// know it yet (after a restart, on a new cluster node).
type script struct {
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// call is one run of a script: its key and arguments.
type call struct {
	key  string
	args []string
}

// run runs the script once per call, pipelined, and returns the results in
// order.
func (s *script) run(ctx context.Context, c rueidis.Client, calls []call) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(calls))
	for i, k := range calls {
		cmds[i] = c.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(k.key).Arg(k.args...).Build()
	}
	res := c.DoMulti(ctx, cmds...)
	for i, r := range res {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() {
			res[i] = c.Do(ctx, c.B().Eval().Script(s.src).Numkeys(1).Key(calls[i].key).Arg(calls[i].args...).Build())
		}
	}
	return res
}
