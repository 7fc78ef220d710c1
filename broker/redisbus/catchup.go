package redisbus

import (
	"context"
	"sync"
)

// A partition's connection, once subscribed again after it was lost,
// receives only what Redis publishes from then on: a topic message
// appended in between (Redis back, the partition not yet subscribed) is in
// the topic's stream but reached nobody on this node, its sender's own
// subscribers included. So a new connection holds the numbered messages it
// receives until it has subscribed and caught up: for each topic it
// received numbered messages on, it reads the stream after the latest
// offset received (in that epoch), hands those entries to the broker in
// offset order, and only then the messages held, less those the catch-up
// delivered already. A topic whose epoch changed meanwhile lost its
// history: it is read from its new epoch's first offset, and the broker
// takes the new epoch as it takes a live message of it.

// catchUp is a partition's state while its connection catches up.
type catchUp struct {
	mu      sync.Mutex
	holding bool      // numbered messages are held, not delivered
	held    []heldMsg // in the order received

	gaps map[string]gap // by channel, what the catch-up delivered; the session's goroutine's only
}

// heldMsg is a numbered message held on channel ch.
type heldMsg struct {
	ch string
	m  numberedMsg
}

// gap is what a catch-up delivered of a channel: the offsets above from,
// up to and including to, of epoch.
type gap struct {
	epoch    string
	from, to uint64
}

// covers reports whether the catch-up delivered m already.
func (g gap) covers(m numberedMsg) bool {
	return m.epoch == g.epoch && m.offset > g.from && m.offset <= g.to
}

// receiveNumbered hands a message that appendScript published on ch (what
// follows its first newline) to r's DeliverAt, or holds it while the
// partition catches up.
func (p *partition) receiveNumbered(ch, s string, r Receiver) error {
	m, err := parseNumbered(s)
	if err != nil {
		return err
	}
	p.cu.mu.Lock()
	defer p.cu.mu.Unlock()
	if p.cu.holding {
		p.cu.held = append(p.cu.held, heldMsg{ch, m})
		return nil
	}
	return p.deliverNumbered(ch, m, r)
}

// hold makes the partition hold the numbered messages it receives until
// flush.
func (p *partition) hold() {
	p.cu.mu.Lock()
	p.cu.holding = true
	p.cu.mu.Unlock()
}

// flush hands r the messages held, but those the catch-up delivered, and
// stops holding.
func (p *partition) flush(r Receiver) {
	p.cu.mu.Lock()
	defer p.cu.mu.Unlock()
	for _, h := range p.cu.held {
		if g, has := p.cu.gaps[h.ch]; has && g.covers(h.m) {
			continue
		}
		if err := p.deliverNumbered(h.ch, h.m, r); err != nil {
			p.b.log.Warn("redisbus: a message from Redis was dropped", "channel", h.ch, "err", err)
		}
	}
	p.cu.holding, p.cu.held = false, nil
	clear(p.cu.gaps)
}

// catchUpAll catches up every destination subscribed that received
// numbered messages before, until one fails (Redis gone again).
func (p *partition) catchUpAll(ctx context.Context, subscribed map[string]struct{}, r Receiver) {
	for dest := range subscribed {
		from, has := p.seen.get(channel(dest))
		if !has {
			continue
		}
		if err := p.catchUpTopic(ctx, dest, from, r); err != nil {
			p.b.log.Warn("redisbus: catching up a topic's history failed", "destination", dest, "err", err)
			return
		}
	}
}

// catchUpTopic hands r the entries of dest's stream after from, from its
// new epoch's first one when its epoch changed, and records them as
// received and delivered.
func (p *partition) catchUpTopic(ctx context.Context, dest string, from position, r Receiver) error {
	sr, err := p.b.Read(ctx, dest, from.offset)
	if err == nil && sr.Epoch != "" && sr.Epoch != from.epoch {
		p.b.log.Warn("redisbus: a topic's history was lost while this node was not listening; it goes on in a new epoch",
			"destination", dest, "epoch", from.epoch, "new", sr.Epoch)
		from = position{epoch: sr.Epoch}
		sr, err = p.b.Read(ctx, dest, 0)
	}
	if err != nil || sr.Epoch != from.epoch {
		return err // nothing there, or a newer epoch again: the live messages carry on
	}
	ch := channel(dest)
	g := gap{epoch: from.epoch, from: from.offset, to: from.offset}
	for _, e := range sr.Entries {
		if _, back := p.seen.advance(ch, sr.Epoch, e.Offset); back {
			continue
		}
		g.to = e.Offset
		if err := r.DeliverAt(e.Msg, sr.Epoch, e.Offset, e.At); err != nil {
			p.b.log.Warn("redisbus: a message from Redis was dropped", "channel", ch, "err", err)
		}
	}
	if p.cu.gaps == nil {
		p.cu.gaps = make(map[string]gap)
	}
	p.cu.gaps[ch] = g
	return nil
}
