package redisbus

import (
	"strconv"
	"unsafe"

	"github.com/redis/rueidis"
)

// appendScript numbers topic messages and keeps them, for topics of one
// partition (one slot). KEYS holds each topic's stream and counter, in
// pairs, and last the partition's clock (cut.go); ARGV[1] is the
// history's size, ARGV[2] and ARGV[3] the stream's and the counter's TTL
// in ms, ARGV[4] a new epoch, ARGV[5] the node id,
// ARGV[6] the Bus's run (a new id each time the node starts), and then come
// the messages in threes: the number of their topic's pair in KEYS (from
// 1), their source (sources.go; followed by "l" for one delivered on its
// node already, outbox.go) and the message.
//
// A topic without a counter (new, idle for longer than its TTL, or lost
// with Redis's data) gets the new epoch, and its stream, holding whatever an
// older epoch left, is deleted: offsets never repeat within an epoch. The
// counter keeps, per run, the latest source it took (field "s:<run>"): a
// message whose source is not above it was kept already (sent again from
// the outbox after a reply was lost) and is passed over; a run's sources
// rise, and a topic's messages are sent in their order. Each
// message is added as entry "<offset>-<clock>", its clock the partition's
// number raised by one for it, with Redis's time in ms (field t) and its
// source and node (field s), the stream trimmed to about the
// size (MAXLEN ~, whole nodes at a time), and published, numbered, on its
// topic's channel, as "\n<epoch> <offset> <ms> <source> <node>\n<message>"
// (its channel is its stream's key
// with channelPrefix for historyPrefix). Each topic's counter and both
// expiries are then set, and the clock, once some message was kept, which
// is then published on the partition's service channel as
// "\n<life> <number>". A clock that does not exist starts a new life, the
// new epoch. One run serves many messages: Redis's cost of a
// script run is mostly its own, not that of the commands it calls.
var appendScript = newScript(`
local t = redis.call('TIME')
local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local run = 's:' .. ARGV[6]
local clock = KEYS[#KEYS]
local c = redis.call('HMGET', clock, 'e', 'n')
local life, q0 = c[1] or ARGV[4], tonumber(c[2] or '0')
local q = q0
local topics = {}
for i = 7, #ARGV, 3 do
  local k = tonumber(ARGV[i])
  local stream, counter = KEYS[2 * k - 1], KEYS[2 * k]
  local topic = topics[k]
  if not topic then
    local h = redis.call('HMGET', counter, 'e', 'n', run)
    topic = {e = h[1], n = tonumber(h[2] or '0'), s = tonumber(h[3] or '0'), ch = '` + channelPrefix + `' .. string.sub(stream, ` + strconv.Itoa(len(historyPrefix)+1) + `)}
    if not topic.e then
      topic.e = ARGV[4]
      redis.call('DEL', stream)
      redis.call('HSET', counter, 'e', topic.e)
    end
    topics[k] = topic
  end
  local seq = tonumber(string.match(ARGV[i + 1], '^%d+'))
  if seq > topic.s then
    topic.s = seq
    topic.n = topic.n + 1
    local n = string.format('%d', topic.n)
    local src = ARGV[i + 1] .. ' ' .. ARGV[5]
    q = q + 1
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], n .. '-' .. string.format('%d', q), 'm', ARGV[i + 2], 't', ms, 's', src)
    redis.call('SPUBLISH', topic.ch, '\n' .. topic.e .. ' ' .. n .. ' ' .. ms .. ' ' .. src .. '\n' .. ARGV[i + 2])
  end
end
for k, topic in pairs(topics) do
  redis.call('HSET', KEYS[2 * k], 'n', string.format('%d', topic.n), run, string.format('%d', topic.s))
  redis.call('PEXPIRE', KEYS[2 * k - 1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2 * k], ARGV[3])
end
if q > q0 then
  local n = string.format('%d', q)
  redis.call('HSET', clock, 'e', life, 'n', n)
  redis.call('SPUBLISH', '` + channelPrefix + `' .. string.sub(clock, ` + strconv.Itoa(len(clockPrefix)+1) + `), '\n' .. life .. ' ' .. n)
end
return 0`)

// appends are the Append entries of one partition in a batch, which one
// run of appendScript appends, in their order.
type appends struct {
	entries []int          // their places in the batch
	keys    []string       // stream and counter of each topic
	topic   map[string]int // a topic's number in keys, from 1
	msgs    []string       // the script's message threes
	clock   string         // the partition's clock
	bytes   int            // the messages' bytes
}

// add adds entry i of the batch, e.
func (a *appends) add(i int, e entry) {
	if a.topic == nil {
		a.topic, a.clock = make(map[string]int), clockKey(partitionOf(e.dest))
	}
	k, has := a.topic[e.dest]
	if !has {
		a.keys = append(a.keys, historyKey(e.dest), counterKey(e.dest))
		k = len(a.keys) / 2
		a.topic[e.dest] = k
	}
	// The payload is never changed once queued, so it may be read as a string.
	msg := unsafe.String(unsafe.SliceData(e.payload), len(e.payload))
	a.entries = append(a.entries, i)
	a.bytes += len(msg)
	src := strconv.FormatUint(e.source, 10)
	if e.local {
		src += "l"
	}
	a.msgs = append(a.msgs, strconv.Itoa(k), src, msg)
}

// command is the run of appendScript for a; eval asks for the script in
// full.
func (a *appends) command(b *Bus, eval bool) rueidis.Completed {
	h := &b.history
	args := append([]string{h.size, h.ttl, h.counter, newEpoch(), b.node, b.run}, a.msgs...)
	keys := append(a.keys[:len(a.keys):len(a.keys)], a.clock)
	if eval {
		return appendScript.eval(b.client, keys, args...)
	}
	return appendScript.evalsha(b.client, keys, args...)
}
