package redisbus

import (
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// A topic's counter goes back when Redis loses its latest writes but not
// the counter: an asynchronous replica promoted before it had them (a
// failover), or a restart from an AOF file that misses its last second.
// Offsets would then repeat within an epoch, with other messages. A node
// notices it when it receives an offset at or below one it received on the
// same subscription in the same epoch, and fences the topic: its history
// gets a new epoch, its stream (of the old one) goes, and its counter
// continues above every offset the node received, so that its live
// subscribers take the next messages as they come while resuming clients
// get x-recovered:false. The messages numbered meanwhile, usually one, go
// to the broker as they are, which passes over offsets it delivered.

// position is the latest offset of an epoch received on a channel.
type position struct {
	epoch  string
	offset uint64
}

// offsets keeps a partition's latest position per channel while it is
// subscribed. The partition's connection records them as messages arrive;
// its loop forgets a channel when it unsubscribes.
type offsets struct {
	mu sync.Mutex
	at map[string]position
}

// advance records offset of epoch on ch, unless it went back: then it
// reports the latest offset received in that epoch, and true.
func (o *offsets) advance(ch, epoch string, offset uint64) (latest uint64, back bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, has := o.at[ch]; has && p.epoch == epoch && offset <= p.offset {
		return p.offset, true
	}
	o.at[ch] = position{epoch, offset}
	return 0, false
}

func (o *offsets) forget(ch string) {
	o.mu.Lock()
	delete(o.at, ch)
	o.mu.Unlock()
}

// get returns the latest position received on ch, if any.
func (o *offsets) get(ch string) (position, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, has := o.at[ch]
	return p, has
}

// deliverNumbered hands r's DeliverAt m, a message that appendScript
// published on ch, after fencing its topic when its offset went back; one
// this node delivered locally already (sources.go) is only counted as
// received.
func (p *partition) deliverNumbered(ch string, m numberedMsg, r Receiver) error {
	if latest, back := p.seen.advance(ch, m.epoch, m.offset); back {
		dest := strings.TrimPrefix(ch, p.service)
		p.b.log.Warn("redisbus: a topic's offsets went back (Redis lost its latest writes); its history gets a new epoch",
			"destination", dest, "epoch", m.epoch, "offset", m.offset, "received", latest)
		p.b.backlog.push(entry{dest: dest, fence: m.epoch, latest: latest})
	}
	if !p.b.deliverable(m.source) {
		return nil
	}
	return r.DeliverAt([]byte(m.msg), m.epoch, m.offset, m.at)
}

// fenceScript gives a topic whose offsets went back a new epoch. KEYS[1]
// is its stream, KEYS[2] its counter; ARGV[1] the epoch that went back,
// ARGV[2] a new epoch, ARGV[3] the latest offset received. A
// topic that has another epoch already is left alone. It returns 1 when
// it fenced.
var fenceScript = newScript(`
if redis.call('HGET', KEYS[2], 'e') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'e', ARGV[2])
if tonumber(redis.call('HGET', KEYS[2], 'n') or '0') < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], 'n', ARGV[3])
end
redis.call('DEL', KEYS[1])
return 1`)

// fenceCmd is the script run that fences e, an entry of deliverNumbered.
func (b *Bus) fenceCmd(e entry, eval bool) rueidis.Completed {
	keys := []string{historyKey(e.dest), counterKey(e.dest)}
	latest := strconv.FormatUint(e.latest, 10)
	if eval {
		return fenceScript.eval(b.client, keys, e.fence, newEpoch(), latest)
	}
	return fenceScript.evalsha(b.client, keys, e.fence, newEpoch(), latest)
}
