package redisqueue_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// madeKey is the hash of how many queues of the set each user made.
const madeKey = "{stompd:queues}:made"

// TestQueuesOneUserMakesAreBoundedOnEveryNodeUntilOneExpires: past
// MaxQueuesPerUser, a user's SEND to a new queue is refused on every node,
// one started afterwards included (the count is in Redis, not in a node),
// while another user still makes queues and the first still sends to its
// own; once one of its queues is drained and its stream expired, that user
// makes a queue again.
func TestQueuesOneUserMakesAreBoundedOnEveryNodeUntilOneExpires(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	o := redisqueue.Options{MaxQueuesPerUser: 2, EmptyExpiry: 300 * time.Millisecond, ReclaimInterval: 100 * time.Millisecond}
	a, b := f.start(o), f.start(o)
	adaA := a.dialAs(t, "ada")
	send(t, adaA, "/queue/ada.0", "1")
	send(t, b.dialAs(t, "ada"), "/queue/ada.1", "1")
	expectTooManyPerUser(t, b.dialAs(t, "ada"), "/queue/ada.2")
	expectTooManyPerUser(t, f.start(o).dialAs(t, "ada"), "/queue/ada.2")
	if n := counter(t, b.m.DestinationsRefused); n != 1 {
		t.Errorf("node b counted %v refused destinations, want 1", n)
	}

	bob := b.dialAs(t, "bob")
	send(t, bob, "/queue/ada.0", "1") // ada made it: it counts for her alone
	send(t, bob, "/queue/bob.0", "2")
	send(t, bob, "/queue/bob.1", "3")
	send(t, adaA, "/queue/ada.1", "2")

	d := listen(t, subscribed(t, a, "/queue/ada.1", "ack:client-individual"))
	d.settle(d.next(t, wait), stomp.ACK)
	d.settle(d.next(t, wait), stomp.ACK)
	waitFor(t, func() bool { return get(t, srv, "HGET", madeKey, "ada") == "1" }, "the drained queue to leave ada's count")
	send(t, b.dialAs(t, "ada"), "/queue/ada.2", "1")
}

// expectTooManyPerUser sends to dest on c and expects the ERROR that
// refuses a queue past its sender's bound.
func expectTooManyPerUser(t *testing.T, c *stomptest.Client, dest string) {
	t.Helper()
	c.Send(stomp.SEND, "x", "destination:"+dest, "receipt:r")
	c.ExpectError("limit-exceeded", "too many queues made by one user")
}

// TestQueuesMadeByNoUserCountForNoOne: the SENDs of no user (an anonymous
// session) make queues past MaxQueuesPerUser and leave no count behind,
// while a user's are bounded.
func TestQueuesMadeByNoUserCountForNoOne(t *testing.T) {
	srv := redistest.Start(t)
	a := newFleet(t, srv.URL()).start(redisqueue.Options{MaxQueuesPerUser: 1})
	for i := range 3 {
		if err := enqueue(t, a, "/queue/anon."+strconv.Itoa(i), ""); err != nil {
			t.Fatalf("queue %d of no user: %v", i, err)
		}
	}
	if err := enqueue(t, a, "/queue/ada.0", "ada"); err != nil {
		t.Fatalf("ada's first queue: %v", err)
	}
	if err := enqueue(t, a, "/queue/ada.1", "ada"); !errors.Is(err, broker.ErrTooManyQueuesPerUser) {
		t.Fatalf("ada's second queue: %v, want ErrTooManyQueuesPerUser", err)
	}
	if n := get(t, srv, "HLEN", madeKey); n != "1" {
		t.Errorf("%s holds %s users, want 1 (ada)", madeKey, n)
	}
	if n := get(t, srv, "ZCARD", "stompd:queues"); n != "4" {
		t.Errorf("the set holds %s queues, want 4", n)
	}
}

// enqueue stores a message to dest as sent by user through n's Queues
// alone, and returns the outcome.
func enqueue(t *testing.T, n *node, dest, user string) error {
	t.Helper()
	done := make(chan error, 1)
	n.q.Enqueue(dest, user, []byte("x"), func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatalf("the message to %s was not answered within %v", dest, wait)
	}
	return nil
}

// TestQueuesOneUserMakesAreBoundedOnARedisCluster: the per-user counts are
// in the slot of the set of queues, so that one script admits a queue, and
// another forgets it, on a Redis Cluster too.
func TestQueuesOneUserMakesAreBoundedOnARedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	a := newFleet(t, cl.URL()).start(redisqueue.Options{MaxQueuesPerUser: 1, EmptyExpiry: 300 * time.Millisecond, ReclaimInterval: 100 * time.Millisecond})
	send(t, a.dialAs(t, "ada"), "/queue/c-ada.0", "1")
	expectTooManyPerUser(t, a.dialAs(t, "ada"), "/queue/c-ada.1")
	send(t, a.dialAs(t, "bob"), "/queue/c-bob.0", "1")

	d := listen(t, subscribed(t, a, "/queue/c-ada.0"))
	d.next(t, wait)
	waitFor(t, func() bool {
		err := a.c.Do(context.Background(), a.c.B().Hget().Key(madeKey).Field("ada").Build()).Error()
		return rueidis.IsRedisNil(err)
	}, "the drained queue to leave ada's count")
	send(t, a.dialAs(t, "ada"), "/queue/c-ada.1", "1")
}
