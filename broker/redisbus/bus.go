package redisbus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
)

// Options configures a Bus. The zero value of every field but Node means
// the default documented next to it.
type Options struct {
	// Node is this node's id, unique in the cluster; it may not be empty
	// nor hold a newline.
	Node    string
	Logger  *slog.Logger // nil: discard
	Metrics *metrics.Set // nil: no metrics
	// MaxBacklog bounds the bytes of messages waiting to be published
	// (each counted with its destination and entryCost), 16 MiB; beyond it
	// messages are dropped and counted (cluster_backlog).
	MaxBacklog int
	// HistorySize is how many messages a topic's history keeps, about (see
	// Append), and HistoryTTL how long a history idle since its last
	// message is kept, 5 minutes; the broker's own settings of the same
	// names. They matter only when the Bus is the broker's Streams.
	HistorySize int
	HistoryTTL  time.Duration
	// MaxHeld bounds the bytes of the live topic messages each partition's
	// connection holds while it catches up after a reconnection (each
	// counted with its channel and heldCost), 1 MiB; past it they are let go
	// and read again from the streams (see catchup.go).
	MaxHeld int
	// MaxOutbox bounds the bytes of the topic messages (those Append
	// takes) that wait for Redis while it is down (each counted as in
	// MaxBacklog), 64 MiB; past it the oldest are dropped and counted
	// (cluster_outbox), and their senders' RECEIPTs become ERRORs (see
	// outbox.go).
	MaxOutbox int
}

// DefaultMaxHeld is the default of Options.MaxHeld.
const DefaultMaxHeld = 1 << 20

// DefaultHistoryTTL is the default of Options.HistoryTTL.
const DefaultHistoryTTL = 5 * time.Minute

// DefaultMaxBacklog is the default of Options.MaxBacklog.
const DefaultMaxBacklog = 16 << 20

// ErrNode is returned by New for an Options.Node that is empty or holds a
// newline.
var ErrNode = errors.New("redisbus: the node id must be non-empty and without a newline")

// Bus is a broker.Bus on Redis sharded pub/sub. Its methods are safe for
// concurrent use; Run does its work.
type Bus struct {
	client  rueidis.Client
	node    string
	prefix  string // the node id and a newline, which begins each of its messages
	log     *slog.Logger
	backlog backlog
	parts   [partitions]*partition
	history history
	sources sources
	sent    []entry // the writer's: the Appends of the last batch Redis took
	outbox  outbox  // the writer's: the Appends waiting for Redis
	run     string  // this run's id, under which appendScript keeps its sources

	dropFull, dropFailed, dropOutbox prometheus.Counter
}

// New returns a Bus that publishes and listens through client, which the
// caller owns and closes after Run has returned.
func New(client rueidis.Client, o Options) (*Bus, error) {
	if o.Node == "" || strings.Contains(o.Node, "\n") {
		return nil, ErrNode
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = DefaultMaxBacklog
	}
	if o.MaxHeld == 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	if o.MaxOutbox == 0 {
		o.MaxOutbox = DefaultMaxOutbox
	}
	if o.HistoryTTL == 0 {
		o.HistoryTTL = DefaultHistoryTTL
	}
	b := &Bus{
		client: client, node: o.Node, prefix: o.Node + "\n", log: o.Logger,
		backlog:    newBacklog(o.MaxBacklog),
		history:    newHistory(o.HistorySize, o.HistoryTTL),
		outbox:     outbox{max: o.MaxOutbox},
		run:        newEpoch(),
		dropFull:   o.Metrics.MessagesDropped.WithLabelValues(metrics.DropClusterBacklog),
		dropFailed: o.Metrics.MessagesDropped.WithLabelValues(metrics.DropClusterUnavailable),
		dropOutbox: o.Metrics.MessagesDropped.WithLabelValues(metrics.DropClusterOutbox),
	}
	for i := range b.parts {
		b.parts[i] = newPartition(b, i, o.MaxHeld)
	}
	return b, nil
}

// Publish queues msg for SPUBLISH on dest's channel, behind the node id;
// it never waits for Redis. When the backlog is full the message is
// dropped and counted.
func (b *Bus) Publish(dest string, msg []byte) {
	payload := make([]byte, 0, len(b.prefix)+len(msg))
	payload = append(append(payload, b.prefix...), msg...)
	if !b.backlog.push(entry{channel: channel(dest), payload: payload}) {
		b.dropFull.Inc()
	}
}

// Append queues msg, a message to the topic dest, to be numbered and kept
// in dest's history and published to every node listening on dest, this
// one included, by one script in dest's slot; it never waits for Redis.
// done, when not nil, learns once Redis kept it (the script replied), or that it never
// will: when the backlog is full the message is dropped and counted at
// once. With Append, the Bus is the broker's Streams (Options.Streams of
// package broker).
func (b *Bus) Append(dest string, msg []byte, done broker.Appended) {
	e := entry{dest: dest, channel: channel(dest), payload: msg, done: done}
	if !b.backlog.push(e) {
		b.dropFull.Inc()
		e.answer(errBacklogFull)
	}
}

// Listen subscribes to dest's channel, if it is not yet, as soon as its
// partition's connection can. The channel it returns is closed once Redis
// replied to that SSUBSCRIBE (or the channel was subscribed already): from
// then on every SPUBLISH to it reaches this node. It is closed at once
// while the partition's connection is down, and when it is lost.
func (b *Bus) Listen(dest string) <-chan struct{} { return b.parts[partitionOf(dest)].listen(dest) }

// Unlisten undoes a Listen: once dest has had as many of each, its
// channel is unsubscribed.
func (b *Bus) Unlisten(dest string) { b.parts[partitionOf(dest)].unlisten(dest) }

// Receiver takes the messages a Bus receives: a *broker.Broker.
type Receiver interface {
	// Deliver takes a message another node published.
	Deliver(msg []byte) error
	// DeliverAt takes a message of a topic's history, from any node.
	DeliverAt(msg []byte, epoch string, offset uint64, at time.Time) error
}

// Run publishes the backlog and keeps the subscriptions that Listen asks
// for, handing every message of another node to r's Deliver and every
// numbered message (Append's, of any node) to r's DeliverAt, until ctx is
// done. It reconnects by itself after Redis fails, and then subscribes
// again to everything listened to. Run returns once all of its goroutines
// have stopped; messages still in the backlog are dropped and counted. It
// is called once, typically with the broker, started before the
// broker serves (until it connects, a SUBSCRIBE waits for it up to
// broker.ListenWait), and stopped after the broker's Shutdown.
func (b *Bus) Run(ctx context.Context, r Receiver) {
	var wg sync.WaitGroup
	for _, p := range b.parts {
		wg.Go(func() { p.run(ctx, r) })
	}
	b.write(ctx, r)
	wg.Wait()
}

// Why an Append was not kept, as its broker.Appended learns it.
var (
	errBacklogFull = errors.New("the backlog of messages for Redis is full")
	errUnavailable = errors.New("the cluster's Redis is unavailable")
)

// errReply is a reply from Redis of an unexpected shape.
var errReply = errors.New("redisbus: unexpected reply from Redis")
