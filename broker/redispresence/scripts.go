package redispresence

import (
	"strconv"

	"github.com/redis/rueidis"
)

// partitions is how many groups the topics fall into, each with its own
// hash tag, slot and event channel, so that a node follows the events of
// 16 channels whatever the number of topics it watches.
const partitions = 16

// partitionOf returns the partition of dest: FNV-1a of its bytes, the same
// on every node.
func partitionOf(dest string) int {
	h := uint32(2166136261)
	for i := 0; i < len(dest); i++ {
		h = (h ^ uint32(dest[i])) * 16777619
	}
	return int(h % partitions)
}

// channelOf is partition i's event channel, "stompd:p:{<i>}".
func channelOf(i int) string { return "stompd:p:{" + strconv.Itoa(i) + "}" }

// keys names a topic's keys, which share its partition's hash tag:
//
//	<base>:m   hash, member's subject → name, the topic's members
//	<base>:r   hash, subject → how many nodes have it subscribed
//	<base>:n   hash, node → Redis time (ms) of its last join
//	<base>:v   hash, the epoch (e) and version (n, one more for each join or leave)
//	<base>:c:<node>  set, the subjects subscribed on that node
//
// where base is "stompd:p:{<partition>}<topic>".
type keys struct{ base string }

func keysOf(dest string) keys { return keys{channelOf(partitionOf(dest)) + dest} }

func (k keys) members() string           { return k.base + ":m" }
func (k keys) refs() string              { return k.base + ":r" }
func (k keys) nodes() string             { return k.base + ":n" }
func (k keys) version() string           { return k.base + ":v" }
func (k keys) onNode(node string) string { return k.base + ":c:" + node }

// eventLua publishes a join or leave with the topic's epoch and next
// version, as "<epoch> <version> <j|l> <len(dest)> <len(sub)>\n<dest><sub><name>".
// The version hash (fields e and n) expires after a day without changes;
// versions then start again from 1 in a new epoch (Redis's time), which
// the nodes that watch take as a gap.
const eventLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function event(kind, sub, name)
  local v = redis.call('HINCRBY', KEYS[4], 'n', 1)
  if v == 1 then
    redis.call('HSET', KEYS[4], 'e', now)
  end
  local e = redis.call('HGET', KEYS[4], 'e')
  redis.call('PEXPIRE', KEYS[4], 86400000)
  redis.call('SPUBLISH', ARGV[1], e .. ' ' .. v .. ' ' .. kind .. ' ' .. #ARGV[2] .. ' ' .. #sub .. '\n' .. ARGV[2] .. sub .. name)
end
local function leave(sub)
  if redis.call('HINCRBY', KEYS[2], sub, -1) <= 0 then
    redis.call('HDEL', KEYS[2], sub)
    local name = redis.call('HGET', KEYS[1], sub) or ''
    redis.call('HDEL', KEYS[1], sub)
    event('l', sub, name)
  end
end
`

// setScript records whether subject ARGV[4] (shown as ARGV[5]) is
// subscribed (ARGV[6] "1") to topic ARGV[2] on node ARGV[3] or not, and
// publishes on ARGV[1] the join or leave this makes cluster-wide.
// KEYS: members, refs, nodes, version, the node's set.
var setScript = rueidis.NewLuaScript(eventLua + `
local sub = ARGV[4]
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[3], ARGV[3], now)
  if redis.call('SADD', KEYS[5], sub) == 1 and redis.call('HINCRBY', KEYS[2], sub, 1) == 1 then
    redis.call('HSET', KEYS[1], sub, ARGV[5])
    event('j', sub, ARGV[5])
  end
elseif redis.call('SREM', KEYS[5], sub) == 1 then
  if redis.call('SCARD', KEYS[5]) == 0 then
    redis.call('HDEL', KEYS[3], ARGV[3])
  end
  leave(sub)
end
return 0
`)

// evictScript takes out of topic ARGV[2] the subjects of the nodes
// ARGV[4...] (whose sets are KEYS[5...]) that joined nothing for ARGV[3]
// ms, publishing their leaves on ARGV[1]: the caller names the nodes it
// knows are dead, and the age spares one that only started. It returns
// how many nodes it took out. KEYS: members, refs, nodes, version, sets.
var evictScript = rueidis.NewLuaScript(eventLua + `
local out = 0
for i = 5, #KEYS do
  local node = ARGV[i - 1]
  if now - tonumber(redis.call('HGET', KEYS[3], node) or '0') >= tonumber(ARGV[3]) then
    for _, sub in ipairs(redis.call('SMEMBERS', KEYS[i])) do
      leave(sub)
    end
    redis.call('DEL', KEYS[i])
    redis.call('HDEL', KEYS[3], node)
    out = out + 1
  end
end
return out
`)

// snapshotScript returns a topic's epoch and version ("" and "0" before
// its first event), its members (subject, name, ...) and the nodes with
// subscribers to it, read at one instant. KEYS: members, version, nodes.
var snapshotScript = rueidis.NewLuaScript(`
local v = redis.call('HMGET', KEYS[2], 'e', 'n')
return {v[1] or '', v[2] or '0', redis.call('HGETALL', KEYS[1]), redis.call('HKEYS', KEYS[3])}
`)
