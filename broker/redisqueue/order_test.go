package redisqueue_test

import (
	"testing"
	"time"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// starved subscribes a client-individual consumer with prefetch 1 to dest
// on n and has it take one message, "0", without acknowledging it: the
// consumer then waits, taking nothing, until it acknowledges m.
func starved(t *testing.T, n *node, dest string) (c *consumer, m *stomp.Frame) {
	t.Helper()
	c = listen(t, subscribed(t, n, dest, "ack:client-individual", "prefetch-count:1"))
	send(t, n.dial(t), dest, "0")
	if m = c.next(t, wait); string(m.Body) != "0" {
		t.Fatalf("consumed %q, want 0", m.Body)
	}
	return c, m
}

// expectInOrder reads bodies from c, in order, acknowledging each, and
// checks which of them come marked redelivered.
func expectInOrder(t *testing.T, c *consumer, bodies []string, redelivered map[string]bool) {
	t.Helper()
	for _, want := range bodies {
		m := c.next(t, wait)
		if string(m.Body) != want {
			t.Fatalf("consumed %q, want %q", m.Body, want)
		}
		if got := m.Value("redelivered") == "true"; got != redelivered[want] {
			t.Errorf("message %s: redelivered %v, want %v", want, got, redelivered[want])
		}
		c.settle(m, stomp.ACK)
	}
}

func TestMessageGivenBackOnOneNodeGoesToAnotherBeforeThoseNeverDelivered(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	cb, zero := starved(t, b, "/queue/back")
	ca := a.dial(t)
	subscribe(t, ca, "1", "/queue/back", "ack:client-individual", "prefetch-count:1")
	la := listen(t, ca)
	p := a.dial(t)
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		send(t, p, "/queue/back", body)
	}
	first := la.next(t, wait)
	la.settle(first, stomp.NACK)
	if again := la.next(t, wait); string(again.Body) != "1" || again.Value("redelivered") != "true" {
		t.Fatalf("after NACK node a delivered %q, redelivered %q; want 1, true", again.Body, again.Value("redelivered"))
	}
	ca.Send(stomp.UNSUBSCRIBE, "", "id:1")
	redelivered := a.m.QueueRequeued.WithLabelValues(metrics.RequeueRedelivered)
	waitFor(t, func() bool { return counter(t, redelivered) == 1 }, "node a to give message 1 back")
	cb.settle(zero, stomp.ACK)
	expectInOrder(t, cb, []string{"1", "2", "3", "4", "5"}, map[string]bool{"1": true})
}

func TestDeadNodesMessagesAreRedeliveredBeforeNewerOnesInTheirOrder(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{})
	b := f.start(redisqueue.Options{ReclaimInterval: 100 * time.Millisecond, ReclaimIdle: 300 * time.Millisecond})
	cb, zero := starved(t, b, "/queue/dead")
	held := listen(t, subscribed(t, a, "/queue/dead", "ack:client", "prefetch-count:5"))
	p := a.dial(t)
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		send(t, p, "/queue/dead", body)
	}
	for range 5 {
		held.next(t, wait)
	}
	send(t, p, "/queue/dead", "6")
	send(t, p, "/queue/dead", "7")
	f.kill(a)
	reclaimed := b.m.QueueRequeued.WithLabelValues(metrics.RequeueReclaimed)
	waitFor(t, func() bool { return counter(t, reclaimed) == 5 }, "node b to reclaim the dead node's 5 messages")
	cb.settle(zero, stomp.ACK)
	all := map[string]bool{"1": true, "2": true, "3": true, "4": true, "5": true}
	expectInOrder(t, cb, []string{"1", "2", "3", "4", "5", "6", "7"}, all)
}
