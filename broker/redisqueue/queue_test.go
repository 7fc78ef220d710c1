package redisqueue_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// wait bounds each step that waits for a frame: generous, the machine is
// shared.
const wait = 10 * time.Second

// xlen is the length of queue dest's stream.
func xlen(t *testing.T, srv *redistest.Server, dest string) int {
	t.Helper()
	s, err := srv.Do("XLEN", redisqueue.Key(dest))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("XLEN: %q", s)
	}
	return n
}

func TestQueueWithoutConsumersKeepsMessagesInRedisUntilOneSubscribes(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	p := a.dial(t)
	for i := range 5 {
		send(t, p, "/queue/keep", "m"+strconv.Itoa(i))
	}
	if n := xlen(t, srv, "/queue/keep"); n != 5 {
		t.Fatalf("stream holds %d entries after 5 RECEIPTs, want 5", n)
	}
	c := b.dial(t)
	subscribe(t, c, "1", "/queue/keep")
	for range 5 {
		c.Expect(stomp.MESSAGE, "destination:/queue/keep")
	}
	waitFor(t, func() bool { return xlen(t, srv, "/queue/keep") == 0 }, "auto-mode deliveries to be removed from the stream")
}

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMalformedEntryIsRemovedAndCountedWithoutStoppingTheQueue(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{})
	p := a.dial(t)
	send(t, p, "/queue/mixed", "before")
	if _, err := srv.Do("XADD", redisqueue.Key("/queue/mixed"), "*", "m", "not a frame"); err != nil {
		t.Fatal(err)
	}
	send(t, p, "/queue/mixed", "after")
	c := listen(t, subscribed(t, a, "/queue/mixed"))
	for _, want := range []string{"before", "after"} {
		if m := c.next(t, wait); string(m.Body) != want {
			t.Errorf("consumed %q, want %q", m.Body, want)
		}
	}
	waitFor(t, func() bool { return xlen(t, srv, "/queue/mixed") == 0 }, "the malformed entry to be removed")
	if n := counter(t, a.m.MessagesDropped.WithLabelValues(metrics.DropClusterMalformed)); n != 1 {
		t.Errorf("malformed counted %v, want 1", n)
	}
}
