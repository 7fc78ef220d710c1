package broker

import (
	"fmt"
	"strconv"

	"github.com/stompd/stompd/stomp"
)

// maxPrefetch bounds a prefetch-count header, as AMQP's 16-bit prefetch does.
const maxPrefetch = 65535

// onSubscribe handles SUBSCRIBE: it checks the frame, asks the Authorizer,
// then attaches the subscription. A queue consumer, and a subscriber of a
// topic with history, takes messages only once handle has queued the
// RECEIPT and started it.
func (c *conn) onSubscribe(f *stomp.Frame) error {
	dest, err := require(f, "destination")
	if err != nil {
		return err
	}
	id, err := c.subscriptionID(f, dest)
	if err != nil {
		return err
	}
	mode, err := parseAckMode(f.Get("ack"))
	if err != nil {
		return err
	}
	prefetch, err := c.prefetch(f)
	if err != nil {
		return err
	}
	res, err := parseResume(f)
	if err != nil {
		return err
	}
	rt, err := c.authorizeSubscribe(f, dest)
	if err != nil {
		return err
	}
	if res != nil && rt.kind != kindTopic {
		return protocolErrorf("%s and %s apply to /topic/ destinations only, not %q", streamOffsetHeader, streamEpochHeader, dest)
	}
	s := newSubscription(c, id, dest, rt, mode, prefetch)
	s.resume = res
	if err := c.b.r.subscribe(s); err != nil {
		return err
	}
	c.subs[s.id] = s
	c.bySerial[s.serial] = s
	c.nsubs.Store(int32(len(c.subs)))
	c.b.m.subscriptions.Inc()
	if s.kind == kindQueue || s.kind == kindPresence || s.pos != nil || s.resume != nil {
		c.starting = s
	}
	return nil
}

// subscriptionID returns a new subscription's id (in STOMP 1.0, the
// destination when absent), unused and within MaxSubscriptions.
func (c *conn) subscriptionID(f *stomp.Frame, dest []byte) (string, error) {
	id, ok := f.Get("id")
	if !ok && c.version == stomp.V10 {
		id = dest
	} else if len(id) == 0 {
		return "", protocolErrorf("SUBSCRIBE frame without an id header")
	}
	if _, dup := c.subs[string(id)]; dup {
		return "", protocolErrorf("subscription id %q is already in use", id)
	}
	if len(c.subs) >= c.b.o.MaxSubscriptions {
		return "", limitErrorf("too many subscriptions: the limit is %d per connection", c.b.o.MaxSubscriptions)
	}
	return string(id), nil
}

// authorizeSubscribe resolves dest for the session's subject and asks the
// Authorizer, adopting the identity it returns. A presence destination is
// asked about as its topic: whoever may read /topic/<name> may see its
// members, and a refusal says so. Another user's destination is refused
// even when the Authorizer
// allows it; it is asked first, so that it sees and counts that refusal
// too.
func (c *conn) authorizeSubscribe(f *stomp.Frame, dest []byte) (route, error) {
	r := c.request(f)
	rt, err := subscribeRoute(dest, r.Session.Subject)
	if err != nil {
		return route{}, err
	}
	r.Destination, r.Owner = rt.key, rt.owner(r.Session.Subject)
	id, err := c.b.h.authorizer.Authorize(c.ctx, r)
	if err != nil {
		fe := hookFailure(err, CodeForbidden)
		if rt.kind == kindPresence {
			fe.message = fmt.Sprintf("%s shows who reads %s, and so needs the right to read it: %s", dest, rt.key, fe.message)
		}
		return route{}, fe
	}
	if rt.owner(id.Subject) == OwnerOther {
		return route{}, forbiddenf("cannot subscribe to another user's destination %q", dest)
	}
	return rt, c.adopt(id)
}

// prefetch reads prefetch-count, MaxUnacked when absent.
func (c *conn) prefetch(f *stomp.Frame) (int, error) {
	v, ok := f.Get("prefetch-count")
	if !ok {
		return c.b.o.MaxUnacked, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 || n > maxPrefetch {
		return 0, protocolErrorf("invalid prefetch-count %q: want 1 to %d", v, maxPrefetch)
	}
	return n, nil
}

// onUnsubscribe handles UNSUBSCRIBE by id (or, in STOMP 1.0, destination).
func (c *conn) onUnsubscribe(f *stomp.Frame) error {
	id, ok := f.Get("id")
	if !ok && c.version == stomp.V10 {
		id, ok = f.Get("destination")
	}
	if !ok {
		return protocolErrorf("UNSUBSCRIBE frame without an id header")
	}
	s := c.subs[string(id)]
	if s == nil {
		return protocolErrorf("no subscription with id %q", id)
	}
	c.unsubscribe(s)
	return nil
}

// unsubscribe detaches s from the broker and the session.
func (c *conn) unsubscribe(s *subscription) {
	c.b.r.unsubscribe(s)
	s.detach()
	delete(c.subs, s.id)
	delete(c.bySerial, s.serial)
	c.nsubs.Store(int32(len(c.subs)))
	c.b.m.subscriptions.Dec()
}
