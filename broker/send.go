package broker

import (
	"time"

	"github.com/stompd/stompd/stomp"
)

// onSend handles SEND: the reserved refresh destination only refreshes the
// identity; any other is authorized, then published or, inside a
// transaction, kept until COMMIT.
func (c *conn) onSend(f *stomp.Frame) error {
	dest, err := require(f, "destination")
	if err != nil {
		return err
	}
	if string(dest) == RefreshDestination {
		return c.refresh(f)
	}
	now := time.Now()
	rt, granted := c.sendGrant(f, dest, c.b.at(now))
	if !granted {
		if rt, err = c.authorizeSend(f, dest); err != nil {
			return err
		}
	}
	if tx, ok := f.Get("transaction"); ok {
		return c.txAdd(tx, f)
	}
	return c.publishAt(f, rt, now)
}

// refresh hands the credential of f, a SEND to RefreshDestination, to the
// Refresher and adopts the identity it returns.
func (c *conn) refresh(f *stomp.Frame) error {
	id, err := c.b.h.refresher.Refresh(c.ctx, c.identity(), credential(f))
	if err != nil {
		return hookFailure(err, CodeForbidden)
	}
	return c.adopt(id)
}

// publish routes the SEND frame f to rt; a queue message goes to the
// QueueBackend when there is one, and a persistent one to the Journal
// when there is one.
func (c *conn) publish(f *stomp.Frame, rt route) error { return c.publishAt(f, rt, time.Now()) }

// publishAt is publish of a SEND accepted at now, by the system clock.
func (c *conn) publishAt(f *stomp.Frame, rt route, now time.Time) error {
	m := c.newMessage(f, rt, now)
	if rt.kind == kindQueue {
		switch {
		case c.b.o.Queues != nil:
			c.store(m)
			return nil
		case c.b.o.Journal != nil && persistent(f):
			return c.persist(m)
		}
	}
	return c.b.r.publish(m, &c.stores, c.identity().Subject)
}

// newMessage is the message of the SEND frame f to rt, accepted at now.
func (c *conn) newMessage(f *stomp.Frame, rt route, now time.Time) *message {
	return newMessageFor(f, rt.key, rt.kind, c.b.messageSeq.Add(1), now, c.b.r.numbers(rt.kind))
}
