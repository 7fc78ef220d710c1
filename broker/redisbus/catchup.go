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
// receives until it has subscribed and caught up: for each topic
// subscribed, it reads the stream after the latest offset received (in
// that epoch; for a topic that received none yet, all the stream kept
// after the partition's cut, cut.go, of which the broker passes over what
// its subscribers had), hands those
// entries to the broker in offset order, and only then the messages held,
// less those the catch-up delivered already, and so are those that reach
// the connection after that (Redis pushed them before the read but the
// connection is read behind), until the first beyond what the catch-up
// read. A topic whose epoch changed
// meanwhile lost its history: it is read from its new epoch's first
// offset, and the broker takes the new epoch as it takes a live message of
// it.
//
// A connection whose catch-up fails (Redis gone again, or refusing
// scripts while it loads its append-only file, when it takes SSUBSCRIBE
// already) lets the messages it held go and ends: delivered, they would
// move the topics' positions past what the read did not reach, which no
// later catch-up would read. The next connection catches up again, up to
// maxRounds times in a row.
//
// The messages held are bounded by Options.MaxHeld bytes. Past it, they
// are let go and the catch-up runs again, reading them from the streams
// (which keep them, unless HistorySize messages of their topic came
// after), up to maxRounds times: what is held after the last is delivered
// as it is, with a gap before it that the broker's subscribers see as
// offsets skipped.

// maxRounds bounds the catch-ups of a connection whose held messages
// passed Options.MaxHeld.
const maxRounds = 8

// heldCost is what a held message costs beyond its bytes and its
// channel's.
const heldCost = 96

// catchUp is a partition's state while its connection catches up.
type catchUp struct {
	max int // bytes of the messages held

	mu       sync.Mutex
	holding  bool      // numbered messages are held, not delivered
	held     []heldMsg // in the order received
	bytes    int       // held's
	overflow bool      // messages held were let go since the last round

	gaps map[string]gap // by channel, what the catch-up delivered, until a live message beyond it
}

// heldMsg is a numbered message held on channel ch.
type heldMsg struct {
	ch string
	m  numberedMsg
}

func (h heldMsg) cost() int { return heldCost + len(h.ch) + len(h.m.epoch) + len(h.m.msg) }

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
		p.holdLocked(heldMsg{ch, m})
		return nil
	}
	if g, has := p.cu.gaps[ch]; has {
		if g.covers(m) {
			return nil
		}
		delete(p.cu.gaps, ch) // the connection is past the catch-up
	}
	return p.deliverNumbered(ch, m, r)
}

// holdLocked holds h, or lets every message held go when h does not fit
// in the bound. Called with p.cu.mu held.
func (p *partition) holdLocked(h heldMsg) {
	if p.cu.bytes+h.cost() > p.cu.max {
		if !p.cu.overflow {
			p.b.log.Warn("redisbus: the live messages held while catching up passed MaxHeld; they are read again from the streams",
				"partition", p.service, "held", len(p.cu.held), "bytes", p.cu.bytes)
		}
		p.cu.held, p.cu.bytes, p.cu.overflow = nil, 0, true
	}
	p.cu.held = append(p.cu.held, h)
	p.cu.bytes += h.cost()
}

// hold makes the partition hold the numbered messages it receives until
// flush, for a new connection.
func (p *partition) hold() {
	p.cu.mu.Lock()
	p.cu.holding = true
	clear(p.cu.gaps)
	p.cu.mu.Unlock()
}

// overflowed reports whether messages held were let go since it was last
// asked.
func (p *partition) overflowed() bool {
	p.cu.mu.Lock()
	defer p.cu.mu.Unlock()
	o := p.cu.overflow
	p.cu.overflow = false
	return o
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
	p.cu.holding, p.cu.held, p.cu.bytes, p.cu.overflow = false, nil, 0, false
}

// catchUp catches up every destination subscribed, once more after each
// round in which messages held were let go, up to maxRounds rounds. It
// reports false when a round failed (Redis gone again, or refusing the
// read).
func (p *partition) catchUp(ctx context.Context, subscribed map[string]struct{}, r Receiver) bool {
	for round := 1; ; round++ {
		switch {
		case !p.catchUpAll(ctx, subscribed, r):
			return false
		case !p.overflowed():
			p.failed = 0
			return true
		case round == maxRounds:
			p.b.log.Warn("redisbus: a catch-up still let held messages go after its last round; some offsets are skipped",
				"partition", p.service, "rounds", round)
			return true
		}
	}
}

// tryAgain counts a catch-up that failed and reports whether a new
// connection is to try it again: up to maxRounds times in a row, after
// which the partition goes on without it (a read Redis keeps refusing),
// the offsets it did not read skipped.
func (p *partition) tryAgain() bool {
	if p.failed++; p.failed < maxRounds {
		return true
	}
	p.b.log.Warn("redisbus: a catch-up failed again; going on without it, some offsets are skipped",
		"partition", p.service, "tries", p.failed)
	p.failed = 0
	return false
}

// letGo lets the messages held go, for a connection that could not catch
// up, and goes on holding what it still receives until the next one has:
// they are all in the streams, which the next catch-up reads.
func (p *partition) letGo() {
	p.cu.mu.Lock()
	p.cu.held, p.cu.bytes, p.cu.overflow = nil, 0, false
	p.cu.mu.Unlock()
}

// catchUpAll catches up every destination subscribed, reading their
// streams in a few round trips (readAll), and reports false when one
// failed (Redis gone again). Without history there is nothing to catch
// up.
func (p *partition) catchUpAll(ctx context.Context, subscribed map[string]struct{}, r Receiver) bool {
	if !p.b.history.on {
		return true
	}
	dests := make([]string, 0, len(subscribed))
	froms := make([]position, 0, len(subscribed))
	afters := make([]uint64, 0, len(subscribed))
	for dest := range subscribed {
		from, _ := p.seen.get(channel(dest)) // none yet: all the stream keeps after the cut
		dests, froms, afters = append(dests, dest), append(froms, from), append(afters, from.offset)
	}
	cut, hasCut := p.clk.cutOf()
	for i, read := range p.b.readAll(ctx, dests, afters) {
		if froms[i].epoch == "" && hasCut {
			read.cut = &cut
		}
		if err := p.catchUpTopic(ctx, dests[i], froms[i], read, r); err != nil {
			p.b.log.Warn("redisbus: catching up a topic's history failed", "destination", dests[i], "err", err)
			return false
		}
	}
	return true
}

// catchUpTopic hands r the entries of dest's stream after from, which read
// holds, from its new epoch's first one when its epoch changed (read again
// then), and records them as received and delivered.
func (p *partition) catchUpTopic(ctx context.Context, dest string, from position, read readResult, r Receiver) error {
	if read.err == nil && from.epoch != "" && read.sr.Epoch != "" && read.sr.Epoch != from.epoch {
		p.b.log.Warn("redisbus: a topic's history was lost while this node was not listening; it goes on in a new epoch",
			"destination", dest, "epoch", from.epoch, "new", read.sr.Epoch)
		from = position{}
		read = p.b.read(ctx, dest, 0)
	}
	sr, err := read.sr, read.err
	if err != nil || sr.Epoch == "" {
		return err // nothing there: the live messages carry on
	}
	ch := channel(dest)
	g := gap{epoch: sr.Epoch, from: from.offset, to: from.offset}
	for i, e := range sr.Entries {
		if _, back := p.seen.advance(ch, sr.Epoch, e.Offset); back {
			continue
		}
		g.to = e.Offset
		if !p.b.deliverable(read.sources[i]) || read.passed(i) {
			continue
		}
		if err := r.DeliverAt(e.Msg, sr.Epoch, e.Offset, e.At); err != nil {
			p.b.log.Warn("redisbus: a message from Redis was dropped", "channel", ch, "err", err)
		}
	}
	p.cu.mu.Lock()
	defer p.cu.mu.Unlock()
	if old, has := p.cu.gaps[ch]; has && old.epoch == g.epoch {
		g.from = min(g.from, old.from) // an earlier round's
	}
	if p.cu.gaps == nil {
		p.cu.gaps = make(map[string]gap)
	}
	p.cu.gaps[ch] = g
	return nil
}
