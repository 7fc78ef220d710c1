package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
)

// Options configures Queues. Zero values mean the defaults next to them.
type Options struct {
	// Node is this node's id, its consumer name in every queue's group.
	// Required; unique per running node (cmd/stompd makes one at start).
	Node string
	// Alive reports whether the node of that id is alive; the pending
	// messages of a node that is not are given back within
	// ReclaimInterval. It must say false only of a node known to be gone
	// (its heartbeat expired), never of one merely not heard of yet: the
	// unacknowledged messages of a live node it calls dead are delivered
	// twice. Called from Run's goroutines; it may block briefly. Required.
	Alive func(node string) bool
	// MaxLength bounds the messages a queue holds, waiting or delivered and
	// unacknowledged, across all nodes: a SEND beyond it is refused
	// (broker.ErrQueueFull). Default broker.DefaultMaxQueueLength.
	MaxLength int
	// MaxBytes bounds the bytes of the messages a queue holds (as encoded
	// for Redis), waiting or delivered and unacknowledged, across all
	// nodes: a SEND beyond it is refused (broker.ErrQueueFull). Default
	// broker.DefaultMaxQueueBytes.
	MaxBytes int
	// MaxQueues bounds the queues that exist in Redis, made by all nodes
	// together: a SEND that would make one more is refused
	// (broker.ErrTooManyQueues). Concurrent first SENDs to new queues from
	// several nodes can pass it by one each. Default
	// broker.DefaultMaxDestinations.
	MaxQueues int
	// MaxQueuesPerUser bounds the queues of MaxQueues that one user's SENDs
	// made, from any node, that exist at once: a SEND of that user that
	// would make one more is refused (broker.ErrTooManyQueuesPerUser), so
	// that no user can take all of MaxQueues and refuse everyone else's
	// new queues. It is checked with MaxQueues, in the same script; a SEND
	// with no user (an anonymous session) counts for no one. Default
	// broker.DefaultMaxQueuesPerUser.
	MaxQueuesPerUser int
	// EmptyExpiry is how long the stream of a queue that holds nothing
	// stays in Redis before it expires, unless a message is stored
	// meanwhile. Default 1 min.
	EmptyExpiry time.Duration
	// MaxBacklog bounds the bytes of messages waiting to be sent to Redis;
	// beyond it a SEND fails at once. Default 16 MiB.
	MaxBacklog int
	// Timeout bounds each round trip to Redis. Default 5 s.
	Timeout time.Duration
	// Block is the longest a read waits for messages: closing a queue's
	// reader takes up to this long. Default 1 s.
	Block time.Duration
	// ReclaimInterval is how often the queues read here are checked for
	// messages pending for nodes that are no longer alive. Default 5 s.
	ReclaimInterval time.Duration
	// ReclaimIdle is how long a consumer must have done nothing in a queue
	// (Redis's idle time for it: since it last read a message, on Redis
	// 7.0, or tried to, from 7.2) before its node's messages may be given
	// back, on top of Alive saying false: a node that started a moment ago
	// reads at once, but others may not have seen its first heartbeat yet.
	// Default 10 s, the membership's timeout: by then its heartbeat shows.
	ReclaimIdle time.Duration
	// ReadBatch bounds the messages one read takes. Default 256.
	ReadBatch int
	// Reads bounds the queues read at once. A read that waits for new
	// messages holds one connection of the client's blocking pool
	// (rueidis's ClientOption.BlockingPoolSize, shared with every other
	// blocking command and dedicated connection of the client) for up to
	// Block; past Reads, readers take turns, and a
	// read's Timeout starts with its turn, so a reader that waited long
	// for one does not give up in the middle of its read. Keep it below
	// what the pool has left for queues. Default 8.
	Reads   int
	Metrics *metrics.Set // nil: a registry of its own
	Logger  *slog.Logger // nil: discard
}

// Defaults of Options.
const (
	DefaultMaxBacklog      = 16 << 20
	DefaultEmptyExpiry     = time.Minute
	DefaultTimeout         = 5 * time.Second
	DefaultBlock           = time.Second
	DefaultReclaimInterval = 5 * time.Second
	DefaultReclaimIdle     = 10 * time.Second
	DefaultReadBatch       = 256
	DefaultReads           = 8
)

// group is the consumer group of every queue's stream.
const group = "stompd"

// Key returns the Redis key of queue dest's stream: stompd:q:{dest}, the
// braces making dest the hash tag of everything about that queue.
func Key(dest string) string { return "stompd:q:{" + dest + "}" }

// BytesKey returns the Redis key that counts the bytes of the messages in
// queue dest's stream: stompd:q:{dest}:bytes, of the same hash tag.
func BytesKey(dest string) string { return bytesKey(Key(dest)) }

func bytesKey(key string) string { return key + ":bytes" }

// Failures of a SEND that never reached Redis: the backlog was full, or Run
// has ended.
var (
	errBacklog = errors.New("redisqueue: too many messages waiting for Redis")
	errStopped = errors.New("redisqueue: stopped")
)

// Queues is a broker.QueueBackend on Redis Streams. Run must be running for
// anything to reach Redis.
type Queues struct {
	c          rueidis.Client
	o          Options
	log        *slog.Logger
	max        string               // MaxLength, formatted once
	maxBytes   string               // MaxBytes, formatted once
	expiry     string               // EmptyExpiry in ms, formatted once
	maxQueues  string               // MaxQueues, formatted once
	maxPerUser string               // MaxQueuesPerUser, formatted once
	admitted   map[string]time.Time // queue keys admitted by this node, until when; only the sending goroutine uses it

	adds    pipe[add]
	settles pipe[settlement]
	given   [broker.SettleReturn + 1]prometheus.Counter // by disposition; Remove unused
	claimed prometheus.Counter

	ctx      context.Context // cancelled at the end of Run: reads are abandoned
	cancel   context.CancelFunc
	stopping chan struct{}  // closed at the end of Run: readers stop
	wg       sync.WaitGroup // readers

	mu      sync.Mutex
	reading map[string]int                 // queues read here: readers per key
	held    map[string]map[string]struct{} // refs handed to the broker and not settled yet, per key
	giving  map[string]*giveBacks          // refs being given back, per key, until Redis answered all
	gave    chan struct{}                  // closed, and replaced, whenever Redis answered a give-back
	turns   chan struct{}                  // one element per read waiting in Redis (Options.Reads)
}

// New returns Queues on c with o.
func New(c rueidis.Client, o Options) (*Queues, error) {
	if o.Node == "" || o.Alive == nil {
		return nil, errors.New("redisqueue: Options.Node and Options.Alive are required")
	}
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queues{
		c: c, o: o, log: o.Logger, max: strconv.Itoa(o.MaxLength),
		maxBytes: strconv.Itoa(o.MaxBytes), expiry: strconv.FormatInt(o.EmptyExpiry.Milliseconds(), 10),
		maxQueues: strconv.Itoa(o.MaxQueues), maxPerUser: strconv.Itoa(o.MaxQueuesPerUser),
		admitted: make(map[string]time.Time),
		ctx:      ctx, cancel: cancel, stopping: make(chan struct{}),
		reading: make(map[string]int), held: make(map[string]map[string]struct{}),
		giving: make(map[string]*giveBacks), gave: make(chan struct{}),
		turns: make(chan struct{}, o.Reads),
	}
	q.adds.init()
	q.settles.init()
	s := o.Metrics
	q.given[broker.SettleRedeliver] = s.QueueRequeued.WithLabelValues(metrics.RequeueRedelivered)
	q.given[broker.SettleReturn] = s.QueueRequeued.WithLabelValues(metrics.RequeueReturned)
	q.claimed = s.QueueRequeued.WithLabelValues(metrics.RequeueReclaimed)
	return q, nil
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	o.MaxLength = orDefault(o.MaxLength, broker.DefaultMaxQueueLength)
	o.MaxQueues = orDefault(o.MaxQueues, broker.DefaultMaxDestinations)
	o.MaxQueuesPerUser = orDefault(o.MaxQueuesPerUser, broker.DefaultMaxQueuesPerUser)
	o.MaxBytes = orDefault(o.MaxBytes, broker.DefaultMaxQueueBytes)
	o.EmptyExpiry = orDefault(o.EmptyExpiry, DefaultEmptyExpiry)
	o.MaxBacklog = orDefault(o.MaxBacklog, DefaultMaxBacklog)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.Block = orDefault(o.Block, DefaultBlock)
	o.ReclaimInterval = orDefault(o.ReclaimInterval, DefaultReclaimInterval)
	o.ReclaimIdle = orDefault(o.ReclaimIdle, DefaultReclaimIdle)
	o.ReadBatch = orDefault(o.ReadBatch, DefaultReadBatch)
	o.Reads = orDefault(o.Reads, DefaultReads)
	return o
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Run sends what Enqueue and Settle were handed to Redis and gives back the
// pending messages of dead nodes, until ctx ends; it is called once. Then
// it stops every reader and waits for them, makes a last attempt at what
// waits to be settled, and returns. Stop the broker first, so that it has
// given back what it held.
func (q *Queues) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); q.sendAdds(ctx) }()
	go func() { defer wg.Done(); q.sendSettles(ctx) }()
	go func() { defer wg.Done(); q.reclaimLoop(ctx) }()
	wg.Wait()
	q.stopReaders()
	q.flushSettles()
}

// stopReaders stops every reader: those waiting for credit at once, those
// reading once their read is done (within Block, and what it brings is
// given back), or after Block and Timeout, when the read is abandoned.
func (q *Queues) stopReaders() {
	close(q.stopping)
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(q.o.Block + q.o.Timeout):
	}
	q.cancel()
	<-done
}

// add is a message waiting to be stored.
type add struct {
	key    string
	user   string // who sent it, "" for no one
	msg    []byte
	stored func(error)
}

// Enqueue hands msg, sent by user ("" for none), to the Run loop, which
// stores it in queue dest's stream and calls stored; it fails at once when
// MaxBacklog bytes are waiting or Run has ended. A queue it makes counts
// against user's MaxQueuesPerUser while it exists.
func (q *Queues) Enqueue(dest, user string, msg []byte, stored func(error)) {
	if !q.adds.put(add{Key(dest), user, msg, stored}, len(msg), q.o.MaxBacklog) {
		stored(errBacklog)
	}
}

// sendAdds stores what Enqueue was handed, in order, pipelined in batches,
// and reports each outcome.
func (q *Queues) sendAdds(ctx context.Context) {
	for {
		batch, ok := q.adds.take(ctx)
		if !ok {
			q.failAdds(q.adds.close(), errStopped)
			return
		}
		q.storeBatch(ctx, batch)
	}
}

// storeBatch stores a batch within Timeout, each add once its queue is
// admitted (see admit). What Redis did not answer
// (a connection lost or being made again) is tried again, with a growing
// pause, until Timeout has passed; then its senders learn that it was not
// stored, and those that asked for a RECEIPT get an ERROR instead.
func (q *Queues) storeBatch(ctx context.Context, batch []add) {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	for pause := 10 * time.Millisecond; ; pause *= 2 {
		ready, failed, why := q.admit(ctx, batch)
		for i, r := range q.addResults(ctx, ready) {
			err := q.stored(r, ready[i].key)
			if err == nil || isRedisErr(err) || errors.Is(err, broker.ErrQueueFull) {
				ready[i].stored(err)
				continue
			}
			failed, why = append(failed, ready[i]), err
		}
		if batch = failed; len(batch) == 0 {
			return
		}
		if !sleep(ctx, pause) {
			q.failAdds(batch, why)
			return
		}
	}
}

// addResults runs the add script for each of batch, if any.
func (q *Queues) addResults(ctx context.Context, batch []add) []rueidis.RedisResult {
	if len(batch) == 0 {
		return nil
	}
	return addScript.run(ctx, q.c, q.addCalls(batch))
}

func (q *Queues) addCalls(batch []add) []call {
	calls := make([]call, len(batch))
	for i, a := range batch {
		calls[i] = call{a.key, []string{group, q.max, rueidis.BinaryString(a.msg), q.maxBytes}}
	}
	return calls
}

// stored returns the outcome of the add script's result r for key.
func (q *Queues) stored(r rueidis.RedisResult, key string) error {
	n, err := r.AsInt64()
	switch {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("%w: %s holds %d messages", broker.ErrQueueFull, key, q.o.MaxLength)
	case n < 0:
		return fmt.Errorf("%w: %s would hold more than %d bytes", broker.ErrQueueFull, key, q.o.MaxBytes)
	}
	return nil
}

func (q *Queues) failAdds(batch []add, err error) {
	for _, a := range batch {
		a.stored(err)
	}
}
