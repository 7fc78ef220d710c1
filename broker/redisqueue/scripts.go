package redisqueue

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// Every script works on one queue's stream, KEYS[1] (and a sized one on its
// byte count, KEYS[2], of the same hash tag), whose consumer group
// is ARGV[1]. An entry holds the message in field m. An entry given back
// stays where it is in the stream and pending in the group, but for the
// consumer givenBack, whose pending entries Redis keeps in the order of
// their ids: the order in which they were sent. An entry's delivery count
// says whether it was handed to a consumer: 1 when it was not, more when
// it was (XCLAIM with JUSTID leaves the count alone, RETRYCOUNT sets it).

// givenBack is the consumer of every queue's group that holds the entries
// given back until a reader takes them: not a node, whose ids are hex.
const givenBack = "given-back"

// addScript stores ARGV[3] unless the stream holds ARGV[2] entries already
// or its entries' messages would then take more than ARGV[4] bytes,
// creating the stream and its group (reading from the start) if needed.
// KEYS[2] counts the bytes of the messages in the stream. It returns 1 when
// stored, 0 when the queue holds too many messages, -1 too many bytes.
// Acknowledged entries are deleted, so the stream's length is what the
// queue holds: waiting, given back, or delivered and not yet acknowledged.
// A stored message cancels the expiry of an empty stream.
var addScript = newSizedScript(`
local n = redis.call('XLEN', KEYS[1])
if n >= tonumber(ARGV[2]) then return 0 end
local size = #ARGV[3]
if tonumber(redis.call('GET', KEYS[2]) or '0') + size > tonumber(ARGV[4]) then return -1 end
if n == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  else
    redis.call('PERSIST', KEYS[1])
  end
end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[3])
redis.call('INCRBY', KEYS[2], size)
return 1`)

// removeScript acknowledges and deletes the entries ARGV[3..], taking
// their messages' bytes off KEYS[2]. A stream left empty expires after
// ARGV[2] ms unless a message is stored meanwhile; its byte count goes.
var removeScript = newSizedScript(`
local size = 0
for i = 3, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e == 1 then
    for j = 1, #e[1][2], 2 do
      if e[1][2][j] == 'm' then size = size + #e[1][2][j + 1] end
    end
  end
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3))
local n = redis.call('XDEL', KEYS[1], unpack(ARGV, 3))
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif size > 0 and redis.call('DECRBY', KEYS[2], size) <= 0 then
  redis.call('DEL', KEYS[2])
end
return n`)

// createScript creates the stream KEYS[1] and its group ARGV[1], reading
// from the start, unless they exist. A stream it creates is empty and
// expires after ARGV[2] ms unless a message is stored meanwhile.
var createScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
return 0`)

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
// know it yet (after a restart, on a new cluster node). Its KEYS are those
// that keysOf returns for the key of a run: that key alone (newScript),
// or with others of the same slot (see newSizedScript, newSetScript).
type script struct {
	src, sha string
	keysOf   func(key string) []string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:]), keysOf: func(key string) []string { return []string{key} }}
}

// newSizedScript returns a script that takes as KEYS[2] the count of bytes
// of the queue whose stream is KEYS[1] (BytesKey).
func newSizedScript(src string) *script {
	s := newScript(src)
	s.keysOf = func(key string) []string { return []string{key, bytesKey(key)} }
	return s
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
		keys := s.keysOf(k.key)
		cmds[i] = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(k.args...).Build()
	}
	res := c.DoMulti(ctx, cmds...)
	for i, r := range res {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() {
			keys := s.keysOf(calls[i].key)
			res[i] = c.Do(ctx, c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(calls[i].args...).Build())
		}
	}
	return res
}
