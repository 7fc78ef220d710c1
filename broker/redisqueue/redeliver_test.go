package redisqueue_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

func TestNackedMessageIsRedeliveredMarkedOnAnyNode(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	ca, cb := a.dial(t), b.dial(t)
	subscribe(t, ca, "1", "/queue/nack", "ack:client-individual", "prefetch-count:1")
	subscribe(t, cb, "1", "/queue/nack", "ack:client-individual", "prefetch-count:1")
	la, lb := listen(t, ca), listen(t, cb)
	send(t, a.dial(t), "/queue/nack", "poison?")

	first, from := either(t, la, lb)
	if first.Has("redelivered") {
		t.Fatalf("first delivery marked redelivered: %s", first.Value("redelivered"))
	}
	from.settle(first, stomp.NACK)
	again, by := either(t, la, lb)
	if again.Value("redelivered") != "true" || string(again.Body) != "poison?" {
		t.Fatalf("after NACK: redelivered %q, body %q; want true, poison?", again.Value("redelivered"), again.Body)
	}
	by.settle(again, stomp.NACK, "requeue:false")
	waitFor(t, func() bool { return xlen(t, srv, "/queue/nack") == 0 }, "the message NACKed with requeue:false to leave the stream")
	la.nothing(t, 300*time.Millisecond)
	lb.nothing(t, 0)
	dropped := counter(t, a.m.MessagesDropped.WithLabelValues("nack_discarded")) + counter(t, b.m.MessagesDropped.WithLabelValues("nack_discarded"))
	if dropped != 1 {
		t.Errorf("nack_discarded counted %v, want 1", dropped)
	}
}

// holdFive has a client-mode consumer on a take five messages of dest,
// acknowledging none, and checks that a consumer subscribed on b
// meanwhile gets none of them.
func holdFive(t *testing.T, a, b *node, dest string) (held, other *consumer) {
	t.Helper()
	held = listen(t, subscribed(t, a, dest, "ack:client", "prefetch-count:5"))
	p := a.dial(t)
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		send(t, p, dest, body)
	}
	for range 5 {
		held.next(t, wait)
	}
	other = listen(t, subscribed(t, b, dest, "ack:client-individual"))
	other.nothing(t, 300*time.Millisecond)
	return held, other
}

// subscribed dials n and subscribes to dest with headers.
func subscribed(t *testing.T, n *node, dest string, headers ...string) *stomptest.Client {
	t.Helper()
	c := n.dial(t)
	subscribe(t, c, "1", dest, headers...)
	return c
}

// expectRedelivered reads the five messages holdFive sent, in any order,
// each marked redelivered, within d.
func expectRedelivered(t *testing.T, c *consumer, d time.Duration) {
	t.Helper()
	got := map[string]bool{}
	for range 5 {
		m := c.next(t, d)
		if m.Value("redelivered") != "true" {
			t.Errorf("message %s: redelivered %q, want true", m.Body, m.Value("redelivered"))
		}
		got[string(m.Body)] = true
		c.settle(m, stomp.ACK)
	}
	if len(got) != 5 {
		t.Errorf("redelivered %v, want 5 distinct messages", got)
	}
}

func TestDisconnectedConsumersUnackedMessagesAreRedeliveredOnAnotherNode(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	held, other := holdFive(t, a, b, "/queue/gone")
	held.Conn.Close()
	expectRedelivered(t, other, wait)
	waitFor(t, func() bool { return xlen(t, srv, "/queue/gone") == 0 }, "the acknowledged messages to leave the stream")
	redelivered := a.m.QueueRequeued.WithLabelValues(metrics.RequeueRedelivered)
	waitFor(t, func() bool { return counter(t, redelivered) == 5 }, "node a to count 5 messages requeued as redelivered")
}

func TestKilledNodesUnackedMessagesAreRedeliveredOnALiveNodeWithin30s(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	_, other := holdFive(t, a, b, "/queue/crash")
	killed := time.Now()
	f.kill(a)
	expectRedelivered(t, other, 30*time.Second)
	t.Logf("redelivered %v after the kill", time.Since(killed).Round(time.Millisecond))
	reclaimed := b.m.QueueRequeued.WithLabelValues(metrics.RequeueReclaimed)
	waitFor(t, func() bool { return counter(t, reclaimed) == 5 }, "node b to count 5 messages reclaimed") // counted once the script returned
	waitFor(t, func() bool {
		s, err := srv.Do("XINFO", "CONSUMERS", redisqueue.Key("/queue/crash"), "stompd")
		return err == nil && !strings.Contains(s, a.id)
	}, "the killed node's consumer to leave the group")
}

func TestPrefetchBoundsUnackedPerConsumerAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	ca := listen(t, subscribed(t, a, "/queue/pf", "ack:client-individual", "prefetch-count:2"))
	cb := listen(t, subscribed(t, b, "/queue/pf", "ack:client-individual", "prefetch-count:2"))
	p := b.dial(t)
	for i := range 20 {
		send(t, p, "/queue/pf", strconv.Itoa(i))
	}
	first := ca.next(t, wait)
	ca.next(t, wait)
	cb.next(t, wait)
	cb.next(t, wait)
	ca.nothing(t, 300*time.Millisecond)
	cb.nothing(t, 0)
	if s, _ := srv.Do("XPENDING", redisqueue.Key("/queue/pf"), "stompd"); !strings.HasPrefix(s, "4\n") {
		t.Errorf("XPENDING summary %q: want 4 pending in all", s)
	}
	if n := xlen(t, srv, "/queue/pf"); n != 20 {
		t.Errorf("stream holds %d, want 20", n)
	}
	ca.settle(first, stomp.ACK)
	ca.next(t, wait)
	ca.nothing(t, 300*time.Millisecond)
	cb.nothing(t, 0)
}

func TestMessagesReadForALiveNodeButNeverHandedToItAreGivenBack(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{Block: 100 * time.Millisecond, Timeout: time.Second, ReclaimInterval: 200 * time.Millisecond})
	send(t, a.dial(t), "/queue/lost", "stranded")
	// A read as node a whose reply never reaches it, as when its
	// connection breaks.
	if _, err := srv.Do("XREADGROUP", "GROUP", "stompd", a.id, "COUNT", "1", "STREAMS", redisqueue.Key("/queue/lost"), ">"); err != nil {
		t.Fatal(err)
	}
	c := listen(t, subscribed(t, a, "/queue/lost"))
	if m := c.next(t, wait); string(m.Body) != "stranded" {
		t.Errorf("consumed %q, want stranded", m.Body)
	}
}

// A node whose heartbeat others have not seen yet keeps what it read for
// ReclaimIdle. (On Redis 7.0 a consumer's idle time counts from the last
// message it read, not from its last attempt as from 7.2: ReclaimIdle, the
// membership's timeout, covers the start of a node, not a node whose
// heartbeat others never see.)
func TestANodeNotYetKnownAliveKeepsWhatItReadForReclaimIdle(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{Block: 100 * time.Millisecond})
	b := f.start(redisqueue.Options{ReclaimInterval: 100 * time.Millisecond, ReclaimIdle: 5 * time.Second})
	held := listen(t, subscribed(t, a, "/queue/young", "ack:client", "prefetch-count:10"))
	p := a.dial(t)
	for _, body := range []string{"1", "2", "3", "4", "5"} {
		send(t, p, "/queue/young", body)
	}
	for range 5 {
		held.next(t, wait)
	}
	// As for a node that started a moment ago: b's membership has not seen
	// its heartbeat yet, but a reads on (it has credit left).
	f.mu.Lock()
	f.alive[a.id] = false
	f.mu.Unlock()
	other := listen(t, subscribed(t, b, "/queue/young", "ack:client-individual"))
	other.nothing(t, time.Second)
	if n := counter(t, b.m.QueueRequeued.WithLabelValues(metrics.RequeueReclaimed)); n != 0 {
		t.Errorf("node b reclaimed %v messages of a node that is reading", n)
	}
}
