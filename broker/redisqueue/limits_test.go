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

func TestSendBeyondTheQueuesBytesIsRefusedUntilMessagesAreAcknowledged(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{MaxBytes: 2500})
	c := a.dial(t)
	body := strings.Repeat("x", 1000)
	for _, r := range []string{"1", "2"} {
		c.Send(stomp.SEND, body, "destination:/queue/big", "receipt:r-"+r)
		c.Expect(stomp.RECEIPT, "receipt-id:r-"+r)
	}
	c.Send(stomp.SEND, body, "destination:/queue/big", "receipt:r-3")
	c.ExpectError("limit-exceeded", "queue /queue/big is full")
	if n := counter(t, a.m.MessagesDropped.WithLabelValues(metrics.DropQueueFull)); n != 1 {
		t.Errorf("queue_full counted %v, want 1", n)
	}
	if n := xlen(t, srv, "/queue/big"); n != 2 {
		t.Errorf("stream holds %d, want 2", n)
	}

	d := listen(t, subscribed(t, a, "/queue/big", "ack:client-individual"))
	d.settle(d.next(t, wait), stomp.ACK)
	d.settle(d.next(t, wait), stomp.ACK)
	waitFor(t, func() bool { return get(t, srv, "EXISTS", redisqueue.BytesKey("/queue/big")) == "0" }, "the byte count to go")
	c = a.dial(t)
	c.Send(stomp.SEND, body, "destination:/queue/big", "receipt:r-4")
	c.Expect(stomp.RECEIPT, "receipt-id:r-4")
}

func TestAnEmptiedQueuesStreamExpiresAndItsBlockedReaderGoesOn(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{EmptyExpiry: 200 * time.Millisecond, Block: 5 * time.Second})
	d := listen(t, subscribed(t, a, "/queue/gone", "ack:client-individual"))
	c := a.dial(t)
	send(t, c, "/queue/gone", "1")
	d.settle(d.next(t, wait), stomp.ACK)
	key := redisqueue.Key("/queue/gone")
	waitFor(t, func() bool { return get(t, srv, "EXISTS", key) == "0" }, "the empty stream to expire")
	send(t, c, "/queue/gone", "2")
	if m := d.next(t, wait); string(m.Body) != "2" {
		t.Fatalf("got %q, want 2", m.Body)
	}
	if ttl := get(t, srv, "PTTL", key); ttl != "-1" {
		t.Errorf("a queue holding a message has PTTL %s, want -1", ttl)
	}
}

// get runs a Redis command on srv and returns its answer.
func get(t *testing.T, srv *redistest.Server, args ...string) string {
	t.Helper()
	s, err := srv.Do(args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestQueuesBeyondMaxQueuesAreRefusedOnEveryNodeUntilOneExpires(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	o := redisqueue.Options{MaxQueues: 3, EmptyExpiry: 300 * time.Millisecond, ReclaimInterval: 100 * time.Millisecond}
	a, b := f.start(o), f.start(o)
	ca, cb := a.dial(t), b.dial(t)
	for i, c := range []*stomptest.Client{ca, cb, ca} {
		dest := "/queue/made." + strconv.Itoa(i)
		c.Send(stomp.SEND, "x", "destination:"+dest, "receipt:"+dest)
		c.Expect(stomp.RECEIPT, "receipt-id:"+dest)
	}
	cb.Send(stomp.SEND, "x", "destination:/queue/made.3", "receipt:r")
	cb.ExpectError("limit-exceeded", "too many destinations")
	if n := counter(t, b.m.DestinationsRefused); n != 1 {
		t.Errorf("node b counted %v refused destinations, want 1", n)
	}
	ca.Send(stomp.SEND, "y", "destination:/queue/made.0", "receipt:again")
	ca.Expect(stomp.RECEIPT, "receipt-id:again")

	d := listen(t, subscribed(t, a, "/queue/made.1", "ack:client-individual"))
	d.settle(d.next(t, wait), stomp.ACK)
	waitFor(t, func() bool { return get(t, srv, "ZSCORE", "stompd:queues", redisqueue.Key("/queue/made.1")) == "" }, "the drained queue to leave the set")
	c := b.dial(t)
	c.Send(stomp.SEND, "x", "destination:/queue/made.3", "receipt:now")
	c.Expect(stomp.RECEIPT, "receipt-id:now")
}
