package broker

import (
	"strconv"

	"github.com/stompd/stompd/stomp"
)

// onAck handles ACK and NACK, or keeps them for COMMIT inside a transaction.
func (c *conn) onAck(f *stomp.Frame) error {
	if tx, ok := f.Get("transaction"); ok {
		if _, err := c.resolveAck(f); err != nil {
			return err
		}
		return c.txAdd(tx, f)
	}
	return c.ack(f)
}

// ack settles what an ACK or NACK names.
func (c *conn) ack(f *stomp.Frame) error {
	st, err := c.resolveAck(f)
	if err != nil {
		return err
	}
	var ok bool
	if st.done, ok = st.s.settle(st.seq); !ok {
		return st.notAwaiting()
	}
	st.finish()
	return nil
}

// settlement is an ACK or NACK resolved to the delivery it names and, once
// settled, the deliveries it covered.
type settlement struct {
	deliveryRef
	nack    bool
	discard bool // a NACK with requeue:false
	done    []delivery
}

// deliveryRef names a delivery of a subscription.
type deliveryRef struct {
	s   *subscription
	seq uint64
}

func (c *conn) resolveAck(f *stomp.Frame) (settlement, error) {
	discard, err := discards(f)
	if err != nil {
		return settlement{}, err
	}
	s, seq, err := c.findDelivery(f)
	return settlement{deliveryRef: deliveryRef{s, seq}, nack: f.Command == stomp.NACK, discard: discard}, err
}

// discards reads the requeue header of a NACK, RabbitMQ's extension for
// poison messages: requeue:false drops the messages the NACK covers
// instead of redelivering them.
func discards(f *stomp.Frame) (bool, error) {
	v, ok := f.Get("requeue")
	if !ok || f.Command != stomp.NACK {
		return false, nil
	}
	switch string(v) {
	case "true":
		return false, nil
	case "false":
		return true, nil
	}
	return false, protocolErrorf("invalid requeue header %q: want true or false", v)
}

// finish does what a settlement asks of a queue: a NACK puts its messages
// back for redelivery, or with requeue:false drops them (counted), and an
// ACK frees credit; the persistent messages dropped or acknowledged leave
// the Journal. A NACKed topic message is dropped.
func (st *settlement) finish() {
	if st.s.kind != kindQueue {
		return
	}
	switch {
	case st.nack && !st.discard:
		st.s.q.requeue(st.done)
		return
	case st.discard:
		st.s.c.b.m.dropNacked.Add(float64(len(st.done)))
	}
	st.s.q.remove(st.done)
	st.s.c.unjournal(st.done)
}

func (st *settlement) notAwaiting() error {
	cmd := stomp.ACK
	if st.nack {
		cmd = stomp.NACK
	}
	return protocolErrorf("%s of a message that is not awaiting acknowledgement", cmd)
}

// findDelivery locates the delivery an ACK or NACK names: by id (STOMP 1.2)
// or by message-id and subscription (1.0 and 1.1; 1.0 may omit the
// subscription).
func (c *conn) findDelivery(f *stomp.Frame) (*subscription, uint64, error) {
	if c.version == stomp.V12 {
		id, err := require(f, "id")
		if err != nil {
			return nil, 0, err
		}
		serial, seq, ok := parseAckID(id)
		if !ok {
			return nil, 0, protocolErrorf("%s of unknown ack id %q", f.Command, id)
		}
		if s := c.bySerial[serial]; s != nil {
			return s, seq, nil
		}
		return nil, 0, protocolErrorf("%s for an unknown subscription: ack id %q names no subscription of this session", f.Command, id)
	}
	mid, err := require(f, "message-id")
	if err != nil {
		return nil, 0, err
	}
	n, err := strconv.ParseUint(string(mid), 10, 64)
	if err != nil {
		return nil, 0, protocolErrorf("%s of unknown message-id %q", f.Command, mid)
	}
	return c.findByMessageID(f, n, mid)
}

func (c *conn) findByMessageID(f *stomp.Frame, n uint64, mid []byte) (*subscription, uint64, error) {
	if sub, ok := f.Get("subscription"); ok {
		s := c.subs[string(sub)]
		if s == nil {
			return nil, 0, protocolErrorf("%s for unknown subscription %q", f.Command, sub)
		}
		if seq, ok := s.seqOf(n); ok {
			return s, seq, nil
		}
	} else if c.version == stomp.V10 {
		for _, s := range c.subs {
			if seq, ok := s.seqOf(n); ok {
				return s, seq, nil
			}
		}
	}
	return nil, 0, protocolErrorf("%s of message-id %q, which is not awaiting acknowledgement", f.Command, mid)
}
