package broker

import (
	"slices"
	"strings"
	"time"

	"github.com/stompd/stompd/stomp"
)

// txQueue is an in-memory queue (one without Options.Queues) that SENDs
// of a transaction being committed go to, with the number of their
// messages and what they cost.
type txQueue struct {
	q       *queue
	n, cost int
}

// txDests is what the SENDs of a transaction being committed need on this
// node: the in-memory queues they go to, and the topics with history.
type txDests struct {
	queues []*txQueue // sorted by name once all are found
	byName map[string]*txQueue
	topics map[string]*topic
}

// txMessage is the message of f, a transaction's SEND to rt, when it goes
// to an in-memory queue, whose room the COMMIT checks; nil otherwise.
func (c *conn) txMessage(f *stomp.Frame, rt route) *message {
	if rt.kind != kindQueue || c.b.o.Queues != nil {
		return nil
	}
	m := c.newMessage(f, rt, time.Now())
	if c.b.o.Journal != nil && persistent(f) {
		m.journaling()
	}
	return m
}

// admitTx does what may fail of a COMMIT, all or none: it makes the
// destinations the SENDs of steps need (findTxDests), then, holding the mu
// of the in-memory queues among them, checks that their messages fit,
// settles the ACKs and NACKs of steps and buffers the messages (bufferTx).
// On failure, the destinations it made and left idle are removed again.
func (c *conn) admitTx(steps []txStep) error {
	for {
		d, err := c.findTxDests(steps)
		buffered := false
		if err == nil {
			buffered, err = bufferTx(steps, d.queues)
		}
		if err != nil {
			c.b.r.unmake(d)
			return err
		}
		if buffered {
			return nil
		}
	}
}

// findTxDests finds or makes, within MaxDestinations and MaxQueuesPerUser,
// the destinations the SENDs of steps need, and sets the queue of each
// message bound for an in-memory queue. On failure, d holds what it found
// or made until then.
func (c *conn) findTxDests(steps []txStep) (d txDests, err error) {
	d.byName, d.topics = make(map[string]*txQueue), make(map[string]*topic)
	owner := c.identity().Subject
	for i := range steps {
		switch st := &steps[i]; {
		case st.m != nil:
			err = d.addQueue(c.b.r, st, owner)
		case st.send != nil && c.b.r.numbers(st.rt.kind):
			err = d.addTopic(c.b.r, st.rt.key)
		}
		if err != nil {
			return d, err
		}
	}
	slices.SortFunc(d.queues, func(a, b *txQueue) int { return strings.Compare(a.q.name, b.q.name) })
	return d, nil
}

// addQueue counts the message of st in the queue it goes to, found or
// made for owner the first time.
func (d *txDests) addQueue(r *router, st *txStep, owner string) error {
	tq := d.byName[st.rt.key]
	if tq == nil {
		q, err := r.queue(st.rt.key, owner)
		if err != nil {
			return err
		}
		tq = &txQueue{q: q}
		d.byName[st.rt.key] = tq
		d.queues = append(d.queues, tq)
	}
	tq.n++
	tq.cost += delivery{msg: st.m}.cost()
	st.q = tq.q
	return nil
}

// addTopic finds or makes the topic with history key.
func (d *txDests) addTopic(r *router, key string) error {
	if d.topics[key] != nil {
		return nil
	}
	t, err := r.topic(key, kindTopic)
	if err == nil {
		d.topics[key] = t
	}
	return err
}

// bufferTx holds the mu of the queues of qs, in the order of their names,
// while it checks that their messages fit (roomFor), settles the ACKs and
// NACKs of steps (settleAll) and buffers the messages of steps bound for
// them, not dispatched yet. It reports false, having done nothing, when
// one of the queues was removed since it was found.
func bufferTx(steps []txStep, qs []*txQueue) (bool, error) {
	for _, tq := range qs {
		tq.q.mu.Lock()
	}
	defer func() {
		for _, tq := range qs {
			tq.q.mu.Unlock()
		}
	}()
	if slices.ContainsFunc(qs, func(tq *txQueue) bool { return tq.q.dead }) {
		return false, nil
	}
	if err := roomFor(qs); err != nil {
		return true, err
	}
	if err := settleAll(steps); err != nil {
		return true, err
	}
	for i := range steps {
		if st := &steps[i]; st.q != nil {
			st.q.bufferLocked(st.m)
			st.q.r.b.m.published[kindQueue].Inc()
		}
	}
	return true, nil
}

// roomFor checks that the messages bound for each queue of qs, whose mu
// are held, fit it, and that all of them fit MaxQueuedBytes.
func roomFor(qs []*txQueue) error {
	others := 0
	for _, tq := range qs {
		add, ok := tq.q.fits(tq.n, tq.cost, others)
		if !ok {
			return limitErrorf("queue %s is full: it has no room for the transaction's %d messages to it", tq.q.name, tq.n)
		}
		others += add
	}
	return nil
}

// unmake removes the destinations of d a failed COMMIT left idle, those
// it made; any that holds something stays.
func (r *router) unmake(d txDests) {
	for _, tq := range d.queues {
		r.removeIfIdle(tq.q)
	}
	for key, t := range d.topics {
		r.removeTopic(key, kindTopic, t)
	}
}

// releaseBuffered lets m, buffered in q by its COMMIT, go: to the Journal
// when it is persistent, which q waits for, else to q's consumers.
func (c *conn) releaseBuffered(q *queue, m *message) {
	if m.journal != nil {
		c.appendJournal(q, m)
		return
	}
	q.dispatch()
}
