package broker

import (
	"errors"

	"github.com/stompd/stompd/stomp"
)

// transaction holds the SEND, ACK and NACK frames sent within it until
// COMMIT; each is a copy, since the decoder reuses its frames. bytes is
// what the copies hold.
type transaction struct {
	frames []*stomp.Frame
	bytes  int
}

func (c *conn) onBegin(f *stomp.Frame) error {
	name, err := require(f, "transaction")
	if err != nil {
		return err
	}
	if _, ok := c.txs[string(name)]; ok {
		return protocolErrorf("transaction %q is already open", name)
	}
	if len(c.txs) >= c.b.o.MaxTransactions {
		return limitErrorf("too many open transactions: the limit is %d per connection", c.b.o.MaxTransactions)
	}
	c.txs[string(name)] = &transaction{}
	return nil
}

// txAdd keeps f for the COMMIT of transaction name.
func (c *conn) txAdd(name []byte, f *stomp.Frame) error {
	tx := c.txs[string(name)]
	if tx == nil {
		return protocolErrorf("%s in transaction %q, which is not open", f.Command, name)
	}
	if len(tx.frames) >= c.b.o.MaxTransactionFrames {
		return limitErrorf("too many frames in transaction %q: the limit is %d", name, c.b.o.MaxTransactionFrames)
	}
	size := frameBytes(f)
	if held := c.txBytes() + size; held > c.b.o.MaxTransactionBytes {
		return limitErrorf("open transactions would hold %d bytes: the limit is %d per connection", held, c.b.o.MaxTransactionBytes)
	}
	if !c.b.reserveUnfinished(size) {
		c.b.m.partialCuts.Inc()
		return c.b.unfinishedFull()
	}
	tx.frames = append(tx.frames, f.Clone())
	tx.bytes += size
	return nil
}

// txBytes is what the connection's open transactions hold.
func (c *conn) txBytes() int {
	n := 0
	for _, tx := range c.txs {
		n += tx.bytes
	}
	return n
}

// frameBytes is the size of f's headers and body.
func frameBytes(f *stomp.Frame) int {
	n := len(f.Body)
	for _, h := range f.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// onCommit carries out a transaction's frames, all or none. First, with
// nothing applied yet, admitTx makes the destinations its SENDs need and,
// holding the mu of the in-memory queues they go to, checks that every
// message fits, settles the ACKs and NACKs together (settleAll) and
// buffers the queue messages. When a queue has no room for them, a
// destination cannot be made (MaxDestinations, MaxQueuesPerUser), or an
// ACK or NACK no longer names a message awaiting acknowledgement (settled
// meanwhile outside the transaction, or earlier in it), the COMMIT fails
// with nothing applied, and the destinations it made are removed again.
// Then, in the transaction's order, its SENDs are published (a buffered
// queue message is released to the queue's consumers, or the Journal) and
// the settled messages leave or go back to their queues.
//
// What is not checked beforehand fails after the rest applied, with an
// ERROR (see stores): a message a shared queue's backend (Options.Queues,
// as with --redis, where each queue is a hash slot of its own and each
// message a script of its own) refuses or fails to store, one the Streams
// or the Journal fail to store; and a topic with history made for the
// COMMIT but removed before its SEND is published, when making it again
// finds MaxDestinations full.
func (c *conn) onCommit(f *stomp.Frame) error {
	name, tx, err := c.closeTx(f)
	if err != nil {
		return err
	}
	steps, err := c.resolveTx(tx)
	if err == nil {
		err = c.admitTx(steps)
	}
	if err != nil {
		c.abort(name, tx)
		return unapplied(err)
	}
	for i := range steps {
		if serr := steps[i].apply(c); err == nil {
			err = serr
		}
	}
	c.log.Debug("transaction committed", "frames", len(tx.frames), "transaction", name)
	return err
}

// unapplied adds to err, why a COMMIT failed, that it applied nothing, so
// that the client knows that sending the transaction again duplicates
// nothing.
func unapplied(err error) error {
	var fe *frameError
	if !errors.As(err, &fe) {
		return err
	}
	e := *fe
	e.message += "; the COMMIT applied none of the transaction's frames"
	return &e
}

// txStep is a frame of a transaction being committed, resolved: a SEND and
// its route, with its message and queue when it goes to an in-memory
// queue, or an ACK or NACK.
type txStep struct {
	send *stomp.Frame
	rt   route
	m    *message // see txMessage
	q    *queue   // set by admitTx
	ack  settlement
}

// resolveTx resolves every frame of tx, changing nothing.
func (c *conn) resolveTx(tx *transaction) ([]txStep, error) {
	steps := make([]txStep, len(tx.frames))
	for i, g := range tx.frames {
		var err error
		if g.Command == stomp.SEND {
			dest, _ := g.Get("destination")
			steps[i].send = g
			if steps[i].rt, err = sendRoute(dest); err == nil {
				steps[i].m = c.txMessage(g, steps[i].rt)
			}
		} else {
			steps[i].ack, err = c.resolveAck(g)
		}
		if err != nil {
			return nil, err
		}
	}
	return steps, nil
}

// settleAll settles the ACKs and NACKs of steps, all or none. It holds the
// mu of every subscription they name while it checks that each names a
// delivery still awaiting acknowledgement once those before it are
// settled, and while it settles them all, so that nothing settles or
// detaches them in between.
func settleAll(steps []txStep) error {
	var subs []*subscription
	for i := range steps {
		if steps[i].send == nil {
			subs = append(subs, steps[i].ack.s)
		}
	}
	defer lockSubs(subs)()
	if err := checkSettleable(steps); err != nil {
		return err
	}
	for i := range steps {
		if st := &steps[i].ack; steps[i].send == nil {
			st.done = st.s.settleLocked(st.seq)
		}
	}
	return nil
}

// checkSettleable checks, in order, that each ACK and NACK of steps would
// find its delivery awaiting acknowledgement after those before it: in
// client mode above what an earlier one acknowledged cumulatively, in
// client-individual mode not settled by an earlier one. The subscriptions'
// mu are held.
func checkSettleable(steps []txStep) error {
	upTo := make(map[*subscription]uint64)
	settled := make(map[deliveryRef]bool)
	for i := range steps {
		st := steps[i].ack
		if steps[i].send != nil {
			continue
		}
		if !st.s.awaiting(st.seq) || st.seq <= upTo[st.s] || settled[st.deliveryRef] {
			return st.notAwaiting()
		}
		if st.s.mode == ackClient {
			upTo[st.s] = st.seq
		} else {
			settled[st.deliveryRef] = true
		}
	}
	return nil
}

func (st *txStep) apply(c *conn) error {
	switch {
	case st.q != nil:
		c.releaseBuffered(st.q, st.m)
	case st.send != nil:
		return c.publish(st.send, st.rt)
	default:
		st.ack.finish()
	}
	return nil
}

func (c *conn) onAbort(f *stomp.Frame) error {
	name, tx, err := c.closeTx(f)
	if err != nil {
		return err
	}
	c.abort(name, tx)
	return nil
}

// abort discards a transaction's frames, and ends it unless closeTx did.
func (c *conn) abort(name string, tx *transaction) {
	if c.txs[name] == tx {
		delete(c.txs, name)
		c.b.releaseUnfinished(tx.bytes)
	}
	for _, g := range tx.frames {
		if g.Command == stomp.SEND {
			c.b.m.dropAborted.Inc()
		}
	}
}

// closeTx removes the transaction a COMMIT or ABORT names.
func (c *conn) closeTx(f *stomp.Frame) (string, *transaction, error) {
	name, err := require(f, "transaction")
	if err != nil {
		return "", nil, err
	}
	tx := c.txs[string(name)]
	if tx == nil {
		return "", nil, protocolErrorf("%s of transaction %q, which is not open", f.Command, name)
	}
	delete(c.txs, string(name))
	c.b.releaseUnfinished(tx.bytes)
	return string(name), tx, nil
}
