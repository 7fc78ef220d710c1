package redisqueue

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// Every script works on one queue's stream, KEYS[1], whose consumer group
// is ARGV[1]. An entry holds the message in field m and, once it was
// handed to a consumer and given back, r=1.

// addScript stores ARGV[3] unless the stream holds ARGV[2] entries already,
// creating the stream and its group (reading from the start) if needed. It
// returns 1 when stored, 0 when the queue is full. Acknowledged entries are
// deleted, so the stream's length is what the queue holds: waiting or
// delivered and not yet acknowledged.
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

// giveBack is a Lua function that gives back the entry id, pending in the
// group: acknowledged, deleted and added again at the tail, with r=1 when
// mark is '1' and otherwise as it was. An entry no longer pending (settled
// or given back already) is left alone; one pending but deleted is only
// acknowledged. It returns 1 when the entry went back.
const giveBack = `
local function giveBack(key, group, id, mark)
  if redis.call('XACK', key, group, id) == 0 then return 0 end
  local e = redis.call('XRANGE', key, id, id)
  if #e == 0 then return 0 end
  redis.call('XDEL', key, id)
  local f, m, r = e[1][2], nil, '0'
  for i = 1, #f, 2 do
    if f[i] == 'm' then m = f[i + 1] elseif f[i] == 'r' then r = f[i + 1] end
  end
  if mark == '1' then r = '1' end
  if m == nil then return 0 end
  redis.call('XADD', key, '*', 'm', m, 'r', r)
  return 1
end
`

// giveBackScript gives back the entries ARGV[3..], marked redelivered when
// ARGV[2] is '1', and returns how many went back.
var giveBackScript = newScript(giveBack + `
local n = 0
for i = 3, #ARGV do n = n + giveBack(KEYS[1], ARGV[1], ARGV[i], ARGV[2]) end
return n`)

// reclaimScript gives back, marked redelivered, up to ARGV[3] entries
// pending for consumer ARGV[2] (a node that is no longer alive), and
// deletes that consumer once it has none left. It returns how many entries
// it looked at: ARGV[3] means there may be more.
var reclaimScript = newScript(giveBack + `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[3]), ARGV[2])
for i = 1, #p do giveBack(KEYS[1], ARGV[1], p[i][1], '1') end
if #p < tonumber(ARGV[3]) then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
return #p`)

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
