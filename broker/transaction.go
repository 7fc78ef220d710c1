package broker

import (
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

// onCommit carries out a transaction's frames in order.
func (c *conn) onCommit(f *stomp.Frame) error {
	name, tx, err := c.closeTx(f)
	if err != nil {
		return err
	}
	for _, g := range tx.frames {
		if err := c.commitFrame(g); err != nil {
			return err
		}
	}
	c.log.Debug("transaction committed", "frames", len(tx.frames), "transaction", name)
	return nil
}

func (c *conn) commitFrame(g *stomp.Frame) error {
	if g.Command != stomp.SEND {
		return c.ack(g)
	}
	dest, _ := g.Get("destination")
	rt, err := sendRoute(dest)
	if err != nil {
		return err
	}
	c.publish(g, rt)
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

// abort discards a transaction's frames.
func (c *conn) abort(name string, tx *transaction) {
	delete(c.txs, name)
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
	return string(name), tx, nil
}
