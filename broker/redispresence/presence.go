package redispresence

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
)

// Options configures a Presence. The zero value of every field but Node
// and Alive means the default documented next to it.
type Options struct {
	Node string // this node's id
	// Alive reports whether a node is alive (redisbus.Members.Alive); the
	// members of a node it calls dead leave the topics this node watches.
	Alive func(node string) bool
	// Sweep is how often a watched topic is read afresh from Redis, which
	// takes out the members of dead nodes: 5 s.
	Sweep time.Duration
	// Grace spares a node that joined something this recently from being
	// taken for dead (it may have started after Alive last heard): 10 s.
	Grace   time.Duration
	Metrics *metrics.Set // nil: no metrics
	Logger  *slog.Logger // nil: discard
}

// Defaults of Options.
const (
	DefaultSweep = 5 * time.Second
	DefaultGrace = 10 * time.Second
)

// commandTimeout bounds one call to Redis.
const commandTimeout = 5 * time.Second

// Target is what a Presence shows the members to: a *broker.Broker.
type Target interface {
	SetMembers(dest string, members []broker.Member)
	MemberChanged(dest string, m broker.Member, joined bool)
}

// Presence is a broker.Presence on Redis; see the package doc.
type Presence struct {
	client  rueidis.Client
	o       Options
	log     *slog.Logger
	resyncs prometheus.Counter
	wake    chan struct{} // holds a token when the keeper has work

	mu      sync.Mutex                  // guards the fields below; a leaf
	local   map[string]map[string]entry // this node's subscriptions, by topic and subject
	pending map[topicSub]struct{}       // local entries Redis has not taken yet
	watched map[string]*watch           // by topic
	up      [partitions]bool            // the partition's events are followed

	// applying serialises, per partition, what is shown to the Target, so
	// that events and snapshots are applied in order. It is taken before
	// mu, never under it, and held across calls to the Target.
	applying [partitions]sync.Mutex
}

// entry is a subject's subscriptions to a topic on this node.
type entry struct {
	name  string
	count int
}

type topicSub struct{ dest, sub string }

// watch is a topic the broker watches, under mu; what the Target was
// shown changes only under the partition's applying lock too.
type watch struct {
	ready   chan struct{} // closed once the Target was shown the members
	shown   bool          // ready is closed
	synced  bool          // the Target was shown the topic as of epoch and version
	epoch   string
	version int64
	due     time.Time // when to read it afresh
}

// New returns node o.Node's presence through client, which the caller
// owns.
func New(client rueidis.Client, o Options) *Presence {
	if o.Sweep == 0 {
		o.Sweep = DefaultSweep
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	return &Presence{
		client: client, o: o, log: o.Logger, resyncs: o.Metrics.PresenceResyncs, wake: make(chan struct{}, 1),
		local: make(map[string]map[string]entry), pending: make(map[topicSub]struct{}), watched: make(map[string]*watch),
	}
}

// Set records that m.Sub has count subscriptions to dest on this node,
// for the keeper to write to Redis.
func (p *Presence) Set(dest string, m broker.Member, count int) {
	p.mu.Lock()
	subs := p.local[dest]
	switch {
	case count > 0 && subs == nil:
		subs = make(map[string]entry)
		p.local[dest] = subs
		fallthrough
	case count > 0:
		name := m.Name
		if e, ok := subs[m.Sub]; ok {
			name = e.name
		}
		subs[m.Sub] = entry{name: name, count: count}
	default:
		delete(subs, m.Sub)
		if len(subs) == 0 {
			delete(p.local, dest)
		}
	}
	p.pending[topicSub{dest, m.Sub}] = struct{}{}
	p.mu.Unlock()
	p.poke()
}

// Watch starts showing dest's members; the channel is closed once they
// were shown, from Redis or, while its partition's events are not
// followed, from this node's subscriptions alone.
func (p *Presence) Watch(dest string) <-chan struct{} {
	p.mu.Lock()
	w := &watch{ready: make(chan struct{})}
	p.watched[dest] = w
	p.mu.Unlock()
	p.poke()
	return w.ready
}

// Unwatch stops showing dest's members.
func (p *Presence) Unwatch(dest string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.watched[dest]; w != nil && !w.shown {
		w.shown = true
		close(w.ready)
	}
	delete(p.watched, dest)
}

// poke wakes the keeper.
func (p *Presence) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run follows the events of every partition and keeps Redis and the
// Target in step until ctx is done, then returns once its goroutines have
// stopped.
func (p *Presence) Run(ctx context.Context, t Target) {
	var wg sync.WaitGroup
	for i := range partitions {
		wg.Go(func() { p.follow(ctx, i, t) })
	}
	p.keep(ctx, t)
	wg.Wait()
}
