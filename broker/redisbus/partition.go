package redisbus

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// partitions is how many groups the destinations fall into, each with its
// own channel hash tag and so, on a Redis Cluster, its own slot: a node
// keeps one subscribing connection per partition rather than one per slot
// or per destination. Every node must use the same figure.
const partitions = 16

// maxSubscribe bounds the channels of one SSUBSCRIBE or SUNSUBSCRIBE.
const maxSubscribe = 256

// channelPrefix begins every topic channel.
const channelPrefix = "stompd:t:"

// partitionOf returns the partition of dest: FNV-1a of its bytes, the same
// on every node.
func partitionOf(dest string) int {
	h := uint32(2166136261)
	for i := 0; i < len(dest); i++ {
		h = (h ^ uint32(dest[i])) * 16777619
	}
	return int(h % partitions)
}

// channel returns dest's channel: "stompd:t:{<partition>}<dest>".
func channel(dest string) string {
	return serviceChannel(partitionOf(dest)) + dest
}

// serviceChannel is partition i's own channel, "stompd:t:{<i>}", which
// nothing is published to: its subscription binds the connection to the
// partition's slot, and the loss of it (a slot migration) restarts the
// connection.
func serviceChannel(i int) string {
	return channelPrefix + "{" + strconv.Itoa(i) + "}"
}

// partition keeps the subscriptions of one partition's destinations on a
// dedicated connection. Listen and Unlisten change what it wants; its run
// loop makes Redis match, and after a reconnection subscribes to all it
// wants again.
//
// A Listen's ready channel is closed by the run loop once Redis replied to
// an SSUBSCRIBE of the destination (Redis runs it before replying, so any
// SPUBLISH after the reply reaches the connection), or found it subscribed
// already with no SUNSUBSCRIBE under way (the loop sends one command at a
// time). It is closed at once while the partition has no connection, and
// when the connection is lost, so that nobody waits for Redis while it is
// known to be down.
type partition struct {
	b        *Bus
	service  string
	clockKey string        // the partition's clock (cut.go)
	wake     chan struct{} // holds a token when dirty has entries
	retry    chan struct{} // holds a token when Redis answered again
	seen     offsets       // of the channels subscribed, their numbered messages
	cu       catchUp
	clk      clock
	failed   int // catch-ups failed in a row on connections that worked; the run loop's

	mu    sync.Mutex
	want  map[string]int           // destination → Listen minus Unlisten calls, when not 0
	dirty map[string]struct{}      // destinations changed since the run loop last looked
	ready map[string]chan struct{} // destinations whose Listen waits to be subscribed
	down  bool                     // no connection since the last one was lost or failed
}

func newPartition(b *Bus, i, maxHeld int) *partition {
	return &partition{
		b: b, service: serviceChannel(i), clockKey: clockKey(i), wake: make(chan struct{}, 1), retry: make(chan struct{}, 1), cu: catchUp{max: maxHeld},
		want: make(map[string]int), dirty: make(map[string]struct{}), ready: make(map[string]chan struct{}),
		seen: offsets{at: make(map[string]position)},
	}
}

// readyNow is a closed channel: the ready channel of a Listen that cannot
// wait.
var readyNow = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// listen counts a Listen of dest and returns the channel closed once dest
// is subscribed.
func (p *partition) listen(dest string) <-chan struct{} {
	p.mu.Lock()
	ready := readyNow
	if !p.down {
		if ready = p.ready[dest]; ready == nil {
			ready = make(chan struct{})
			p.ready[dest] = ready
		}
	}
	p.changeLocked(dest, 1)
	p.mu.Unlock()
	p.poke()
	return ready
}

// unlisten counts an Unlisten of dest.
func (p *partition) unlisten(dest string) {
	p.mu.Lock()
	p.changeLocked(dest, -1)
	p.mu.Unlock()
	p.poke()
}

// changeLocked adds d to dest's count and marks it dirty. Called with
// p.mu held.
func (p *partition) changeLocked(dest string, d int) {
	if n := p.want[dest] + d; n == 0 {
		delete(p.want, dest)
	} else {
		p.want[dest] = n
	}
	p.dirty[dest] = struct{}{}
}

// poke wakes the run loop.
func (p *partition) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// release closes the ready channels of the destinations subscribed and of
// those no longer wanted, after the run loop's changes.
func (p *partition) release(subscribed map[string]struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for dest, ready := range p.ready {
		if _, has := subscribed[dest]; has || p.want[dest] == 0 {
			close(ready)
			delete(p.ready, dest)
		}
	}
}

// connected records whether the partition has a connection. Without one,
// every waiting Listen is released and new ones do not wait.
func (p *partition) connected(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = !up
	if up {
		return
	}
	for dest, ready := range p.ready {
		close(ready)
		delete(p.ready, dest)
	}
}

// run keeps a connection subscribed until ctx is done, reconnecting after
// a failure with a backoff of 100 ms doubling up to 1 s, cut short when
// the writer finds Redis back (redisBack): the messages appended from then
// on reach this node's subscribers only once it subscribed again.
func (p *partition) run(ctx context.Context, r Receiver) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if p.session(ctx, r) {
			backoff = 0
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), time.Second)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-p.retry:
		}
		t.Stop()
	}
}

// redisBack tells the partition that Redis answered again.
func (p *partition) redisBack() {
	select {
	case p.retry <- struct{}{}:
	default:
	}
}

// session runs one connection: it subscribes to the service channel, then
// to every destination wanted, catches up their history (holding the
// numbered messages meanwhile), and follows changes until the connection
// fails, the service channel is lost or ctx is done. It reports whether
// the connection was established and caught up. One that could not catch
// up (Redis gone again, or refusing scripts while it loads its data, when
// it takes SSUBSCRIBE already) delivers nothing it held: what it held
// would move the topics' positions past what the catch-up did not read,
// so the next connection reads it all again (tryAgain).
func (p *partition) session(ctx context.Context, r Receiver) bool {
	defer p.connected(false)
	defer p.clk.ended()
	conn, release := p.b.client.Dedicate()
	defer release()
	defer conn.Close()
	lost := make(chan struct{})
	var once sync.Once
	closed := conn.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { p.receive(m, r) },
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind == "sunsubscribe" && s.Channel == p.service {
				once.Do(func() { close(lost) })
			}
		},
	})
	if do(ctx, conn, conn.B().Ssubscribe().Channel(p.service).Build()) != nil {
		return false
	}
	p.connected(true)
	p.readClock(ctx)
	p.markAll()
	subscribed := make(map[string]struct{})
	p.hold()
	if p.sync(ctx, conn, subscribed) != nil || !p.catchUp(ctx, subscribed, r) && p.tryAgain() {
		p.letGo()
		return false
	}
	p.flush(r)
	p.clk.caught()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-closed:
			return true
		case <-lost:
			return true
		case <-p.wake:
		}
		if p.sync(ctx, conn, subscribed) != nil {
			return true
		}
	}
}

// receive hands a message of another node to r's Deliver, without its
// node id, and a numbered one, of any node, to r's DeliverAt; the node's
// own Publish messages are skipped. One on the service channel is the
// partition's clock (cut.go).
func (p *partition) receive(m rueidis.PubSubMessage, r Receiver) {
	if m.Channel == p.service {
		if c, ok := parseClock(strings.TrimPrefix(m.Message, "\n")); ok {
			p.clk.hear(c)
		}
		return
	}
	if strings.HasPrefix(m.Message, p.b.prefix) {
		return
	}
	from, msg, ok := strings.Cut(m.Message, "\n")
	var err error
	switch {
	case !ok:
		return
	case from == "":
		err = p.receiveNumbered(m.Channel, msg, r)
	default:
		err = r.Deliver([]byte(msg))
	}
	if err != nil {
		p.b.log.Warn("redisbus: a message from Redis was dropped", "channel", m.Channel, "err", err)
	}
}

// markAll marks every wanted destination dirty, for a new connection.
func (p *partition) markAll() {
	p.mu.Lock()
	for dest := range p.want {
		p.dirty[dest] = struct{}{}
	}
	p.mu.Unlock()
}

// sync subscribes to the dirty destinations wanted and not subscribed,
// unsubscribes from those subscribed and no longer wanted, then releases
// the Listens waiting for them.
func (p *partition) sync(ctx context.Context, conn rueidis.DedicatedClient, subscribed map[string]struct{}) error {
	on, off := p.changes(subscribed)
	for len(on) > 0 {
		n := min(len(on), maxSubscribe)
		if err := do(ctx, conn, conn.B().Ssubscribe().Channel(channels(on[:n])...).Build()); err != nil {
			return err
		}
		for _, dest := range on[:n] {
			subscribed[dest] = struct{}{}
		}
		on = on[n:]
	}
	for len(off) > 0 {
		n := min(len(off), maxSubscribe)
		if err := do(ctx, conn, conn.B().Sunsubscribe().Channel(channels(off[:n])...).Build()); err != nil {
			return err
		}
		for _, dest := range off[:n] {
			delete(subscribed, dest)
			p.seen.forget(channel(dest))
		}
		off = off[n:]
	}
	p.release(subscribed)
	return nil
}

// changes takes the dirty destinations and sorts them into those to
// subscribe to and those to unsubscribe from.
func (p *partition) changes(subscribed map[string]struct{}) (on, off []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for dest := range p.dirty {
		_, has := subscribed[dest]
		switch wanted := p.want[dest] > 0; {
		case wanted && !has:
			on = append(on, dest)
		case !wanted && has:
			off = append(off, dest)
		}
	}
	clear(p.dirty)
	return on, off
}

func channels(dests []string) []string {
	chs := make([]string, len(dests))
	for i, dest := range dests {
		chs[i] = channel(dest)
	}
	return chs
}

// do runs one command within commandTimeout.
func do(ctx context.Context, conn rueidis.DedicatedClient, cmd rueidis.Completed) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return conn.Do(ctx, cmd).Error()
}
