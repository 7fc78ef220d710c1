package redisbus

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// historyPrefix begins the keys of a topic's history: its stream,
// "stompd:h:{<partition>}<destination>", and its counter,
// "stompd:hc:{<partition>}<destination>", a hash of its epoch (field e) and
// its latest offset (field n). Both have the hash tag of the topic's
// channel, so that one script reaches all three in one slot.
const (
	historyPrefix = "stompd:h:"
	counterPrefix = "stompd:hc:"
)

// counterTTL is how long a topic's counter outlives its last message, when
// that is longer than the history's TTL: the epoch and offsets of a topic
// idle for a while carry on, so that a client that had everything before
// the pause resumes with nothing lost, while its entries expired long ago.
const counterTTL = 24 * time.Hour

func historyKey(dest string) string {
	return historyPrefix + "{" + strconv.Itoa(partitionOf(dest)) + "}" + dest
}

func counterKey(dest string) string {
	return counterPrefix + "{" + strconv.Itoa(partitionOf(dest)) + "}" + dest
}

// history is what Append's script is given besides the messages: the
// history's size and the keys' TTLs in ms; on is whether the Bus keeps
// one (HistorySize above 0).
type history struct {
	size, ttl, counter string
	on                 bool
}

func newHistory(size int, ttl time.Duration) history {
	return history{
		on:      size > 0,
		size:    strconv.Itoa(size),
		ttl:     strconv.FormatInt(ttl.Milliseconds(), 10),
		counter: strconv.FormatInt(max(ttl, counterTTL).Milliseconds(), 10),
	}
}

// newEpoch returns a random epoch, for a script that may need one: 16 hex
// digits, unique across the topics' epochs of every node.
func newEpoch() string {
	var e [8]byte
	rand.Read(e[:])
	return hex.EncodeToString(e[:])
}

// readScript reads a topic's history. KEYS[1] is its stream, KEYS[2] its
// counter; ARGV[1] the offset to read after, ARGV[2] the history's size.
// It returns nothing for a topic without a counter, and otherwise its
// epoch, its latest offset, the oldest offset kept (0 for none) and the
// entries above ARGV[1], at most the size of the latest, as XRANGE gives
// them. Entries beyond the size, which MAXLEN ~ may leave, count as gone.
var readScript = newReadOnlyScript(`
local e = redis.call('HGET', KEYS[2], 'e')
if not e then return {} end
local last = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local floor = math.max(1, last - tonumber(ARGV[2]) + 1)
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first = 0
if #oldest == 1 then
  first = math.max(floor, tonumber((string.gsub(oldest[1][1], '-%d+$', ''))))
end
local from = math.max(floor, tonumber(ARGV[1]) + 1)
if from > last then return {e, last, first, {}} end
return {e, last, first, redis.call('XRANGE', KEYS[1], string.format('%d', from), '+')}`)

// script is a Lua script run by EVALSHA, and by EVAL when Redis does not
// know it yet (after a restart, on a new cluster node). A read-only one
// runs as EVALSHA_RO and EVAL_RO, which rueidis sends again after a
// network error (a connection that a Redis restart broke).
type script struct {
	src, sha string
	readOnly bool
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

func newReadOnlyScript(src string) *script {
	s := newScript(src)
	s.readOnly = true
	return s
}

func (s *script) evalsha(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	if s.readOnly {
		return c.B().EvalshaRo().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func (s *script) eval(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	if s.readOnly {
		return c.B().EvalRo().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// do runs s with keys and args by EVALSHA, and by EVAL when Redis did not
// know it.
func (s *script) do(ctx context.Context, c rueidis.Client, keys []string, args ...string) rueidis.RedisResult {
	r := c.Do(ctx, s.evalsha(c, keys, args...))
	if noScript(r) {
		r = c.Do(ctx, s.eval(c, keys, args...))
	}
	return r
}

// noScript reports whether r failed because Redis did not know the script.
func noScript(r rueidis.RedisResult) bool {
	e, ok := rueidis.IsRedisErr(r.Error())
	return ok && e.IsNoScript()
}

var _ broker.Streams = (*Bus)(nil)

// Read returns what dest's history holds now with offsets above after,
// oldest first, in one script on dest's slot. It implements
// broker.Streams; the entries' messages are the broker's bytes as Append
// was given them. A topic without a counter (one that never had a message,
// or whose counter expired or was lost) is given one, with a new epoch and
// no offset yet, so that a subscriber learns the epoch its first messages
// will carry, as on one node, and can resume with it.
func (b *Bus) Read(ctx context.Context, dest string, after uint64) (broker.StreamRead, error) {
	r := b.read(ctx, dest, after)
	sr, err := r.sr, r.err
	if err != nil || sr.Epoch != "" {
		return sr, err
	}
	sr.Epoch, err = b.startEpoch(ctx, dest)
	return sr, err
}

// startScript gives a topic without a counter one with epoch ARGV[1] and
// TTL ARGV[2] ms, deleting its stream as appendScript does, and returns
// the topic's epoch, that one or the one another node or an Append gave
// it first. KEYS[1] is its stream, KEYS[2] its counter.
var startScript = newScript(`
if redis.call('HSETNX', KEYS[2], 'e', ARGV[1]) == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return redis.call('HGET', KEYS[2], 'e')`)

// startEpoch runs startScript for dest and returns its epoch.
func (b *Bus) startEpoch(ctx context.Context, dest string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return startScript.do(ctx, b.client, []string{historyKey(dest), counterKey(dest)}, newEpoch(), b.history.counter).ToString()
}

// read is Read that also returns the entries' sources (sources.go) and
// clocks (cut.go), in their order.
func (b *Bus) read(ctx context.Context, dest string, after uint64) readResult {
	return b.readAll(ctx, []string{dest}, []uint64{after})[0]
}

// readResult is what read returns for one topic.
type readResult struct {
	sr      broker.StreamRead
	sources []string
	clocks  []uint64
	cut     *uint64 // the entries whose clock is not above it are passed over (cut.go)
	err     error
}

// readAll is read for each of dests, after the offset of the same index
// in afters, pipelined maxBatch topics a round trip: a partition catching
// up many topics waits for a few round trips, not one per topic.
func (b *Bus) readAll(ctx context.Context, dests []string, afters []uint64) []readResult {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	res := make([]readResult, len(dests))
	for lo := 0; lo < len(dests); lo += maxBatch {
		hi := min(lo+maxBatch, len(dests))
		b.readBatch(ctx, dests[lo:hi], afters[lo:hi], res[lo:hi])
	}
	return res
}

// readBatch runs readScript for each of dests in one round trip, and once
// more, in full (EVAL), for those Redis did not know it for, and puts
// what each read in res.
func (b *Bus) readBatch(ctx context.Context, dests []string, afters []uint64, res []readResult) {
	cmd := func(i int, eval bool) rueidis.Completed {
		keys := []string{historyKey(dests[i]), counterKey(dests[i])}
		after := strconv.FormatUint(afters[i], 10)
		if eval {
			return readScript.eval(b.client, keys, after, b.history.size)
		}
		return readScript.evalsha(b.client, keys, after, b.history.size)
	}
	cmds := make(rueidis.Commands, len(dests))
	for i := range dests {
		cmds[i] = cmd(i, false)
	}
	var again []int
	for i, r := range b.client.DoMulti(ctx, cmds...) {
		if noScript(r) {
			again = append(again, i)
			continue
		}
		res[i] = readReplyOf(r)
	}
	if len(again) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, i := range again {
		cmds = append(cmds, cmd(i, true))
	}
	for j, r := range b.client.DoMulti(ctx, cmds...) {
		res[again[j]] = readReplyOf(r)
	}
}

// readReplyOf parses the result of a run of readScript.
func readReplyOf(r rueidis.RedisResult) readResult {
	reply, err := r.ToArray()
	if err != nil {
		return readResult{err: err}
	}
	return parseRead(reply)
}

// parseRead turns readScript's reply into a StreamRead and its entries'
// sources and clocks.
func parseRead(reply []rueidis.RedisMessage) readResult {
	var sr broker.StreamRead
	if len(reply) == 0 {
		return readResult{}
	}
	if len(reply) != 4 {
		return readResult{err: errReply}
	}
	var err error
	var last, first int64
	sr.Epoch, err = reply[0].ToString()
	if err == nil {
		last, err = reply[1].AsInt64()
	}
	if err == nil {
		first, err = reply[2].AsInt64()
	}
	var entries []rueidis.XRangeEntry
	if err == nil {
		entries, err = reply[3].AsXRange()
	}
	if err != nil {
		return readResult{err: err}
	}
	sr.Last, sr.First = uint64(last), uint64(first)
	sr.Entries = make([]broker.StreamEntry, 0, len(entries))
	r := readResult{sources: make([]string, 0, len(entries)), clocks: make([]uint64, 0, len(entries))}
	for _, e := range entries {
		entry, q, err := parseEntry(e)
		if err != nil {
			return readResult{err: err}
		}
		sr.Entries = append(sr.Entries, entry)
		r.sources = append(r.sources, e.FieldValues["s"])
		r.clocks = append(r.clocks, q)
	}
	r.sr = sr
	return r
}

// parseEntry turns one stream entry, "<offset>-<clock>" with fields m and
// t (and s, its source, which Read leaves out), into a StreamEntry and its
// clock (cut.go; 0 for an entry an older node kept, "<offset>-0").
func parseEntry(e rueidis.XRangeEntry) (broker.StreamEntry, uint64, error) {
	id, q, ok := strings.Cut(e.ID, "-")
	offset, err := strconv.ParseUint(id, 10, 64)
	clock, err2 := strconv.ParseUint(q, 10, 64)
	ms, err3 := strconv.ParseInt(e.FieldValues["t"], 10, 64)
	msg, has := e.FieldValues["m"]
	if !ok || err != nil || err2 != nil || err3 != nil || !has {
		return broker.StreamEntry{}, 0, errReply
	}
	return broker.StreamEntry{Offset: offset, At: time.UnixMilli(ms), Msg: []byte(msg)}, clock, nil
}

// numberedMsg is a message as appendScript publishes it.
type numberedMsg struct {
	epoch  string
	offset uint64
	at     time.Time
	source string // "<source> <node id>"
	msg    string
}

// parseNumbered parses what follows the first newline of a message that
// appendScript published: "<epoch> <offset> <ms> <source> <node>\n<message>".
func parseNumbered(s string) (numberedMsg, error) {
	head, msg, ok := strings.Cut(s, "\n")
	epoch, rest, ok2 := strings.Cut(head, " ")
	off, rest, ok3 := strings.Cut(rest, " ")
	ms, source, _ := strings.Cut(rest, " ")
	offset, err := strconv.ParseUint(off, 10, 64)
	at, err2 := strconv.ParseInt(ms, 10, 64)
	if !ok || !ok2 || !ok3 || err != nil || err2 != nil {
		return numberedMsg{}, errReply
	}
	return numberedMsg{epoch, offset, time.UnixMilli(at), source, msg}, nil
}
