package redisbus

import "errors"

// While Redis is down, the Appends that could not be kept wait in the
// writer's outbox, in their order, already delivered to this node's
// subscribers (entry.local), with their sources: once Redis answers again
// they go back in front of the backlog, so that they are kept and reach
// every node before any newer message, and their broker.Appended learn it
// then (the sender's RECEIPT comes then). appendScript passes over a
// message whose source it kept already for the topic (a script that ran
// but whose reply was lost), and marks the others as delivered here, so
// that this node does not deliver them twice. That takes a partition's
// scripts of one batch to fail together from the first that fails, as on
// a lost connection, a timeout or Redis refusing writes: were a later one
// to succeed, its sources, above the failed one's, would have those passed
// over when sent again. Each start of a node adds a field to the counters
// of the topics it sends to, which goes with the counter. The outbox is
// bounded by Options.MaxOutbox bytes: past it, its oldest messages are
// dropped, counted (cluster_outbox) and answered errOutboxFull. A node
// killed loses its outbox: those messages were never answered as kept.

// DefaultMaxOutbox is the default of Options.MaxOutbox.
const DefaultMaxOutbox = 64 << 20

// errOutboxFull tells an Append's broker.Appended that it was dropped from
// the outbox.
var errOutboxFull = errors.New("the cluster's Redis was unavailable for longer than its outbox could hold")

// outbox is the writer's: the Appends waiting for Redis to answer again.
type outbox struct {
	max     int
	entries []entry
	bytes   int
	warned  bool // a drop was logged since the outbox was last empty
}

// hold keeps e, which this node delivered, dropping the oldest messages
// held while they take more than the bound.
func (b *Bus) hold(e entry) {
	o := &b.outbox
	if e.source == 0 {
		e.source = b.sources.give()
	}
	e.local = true
	o.entries = append(o.entries, e)
	o.bytes += e.cost()
	for o.bytes > o.max && len(o.entries) > 1 {
		old := o.entries[0]
		o.entries[0] = entry{} // let the payload go
		o.entries = o.entries[1:]
		o.bytes -= old.cost()
		b.dropOutbox.Inc()
		old.answer(errOutboxFull)
		if !o.warned {
			o.warned = true
			b.log.Warn("redisbus: Redis is down for longer than the outbox holds; its oldest messages are dropped", "max_outbox", o.max)
		}
	}
}

// drain empties the outbox, answers its Appends as not kept, and returns
// how many it held.
func (o *outbox) drain() int {
	es := o.release()
	for _, e := range es {
		e.answer(errUnavailable)
	}
	return len(es)
}

// release empties the outbox and returns what it held, in order.
func (o *outbox) release() []entry {
	es := o.entries
	o.entries, o.bytes, o.warned = nil, 0, false
	return es
}
