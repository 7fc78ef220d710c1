package redisqueue_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

func TestSendGetsNoReceiptWhileRedisIsDownAndOneOnceItIsBack(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{Timeout: time.Second})
	srv.Kill()
	c := a.dial(t)
	c.Send(stomp.SEND, "lost", "destination:/queue/down", "receipt:r-lost")
	e := c.ExpectError("unavailable", "was not stored")
	if e.Value("receipt-id") != "r-lost" {
		t.Errorf("ERROR receipt-id %q, want r-lost", e.Value("receipt-id"))
	}
	if n := counter(t, a.m.MessagesDropped.WithLabelValues(metrics.DropNotStored)); n != 1 {
		t.Errorf("not_stored counted %v, want 1", n)
	}
	srv.Restart()
	send(t, a.dial(t), "/queue/down", "kept")
	if n := xlen(t, srv, "/queue/down"); n != 1 {
		t.Fatalf("stream holds %d after the RECEIPT, want 1", n)
	}
	got := listen(t, subscribed(t, a, "/queue/down")).next(t, wait)
	if string(got.Body) != "kept" {
		t.Errorf("consumed %q, want kept", got.Body)
	}
}

func TestSendBeyondTheQueuesLengthIsRefused(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{MaxLength: 3})
	c := a.dial(t)
	for _, body := range []string{"1", "2", "3"} {
		send(t, c, "/queue/small", body)
	}
	c.Send(stomp.SEND, "4", "destination:/queue/small", "receipt:r-4")
	c.ExpectError("limit-exceeded", "queue /queue/small is full")
	if n := counter(t, a.m.MessagesDropped.WithLabelValues(metrics.DropQueueFull)); n != 1 {
		t.Errorf("queue_full counted %v, want 1", n)
	}
	if n := xlen(t, srv, "/queue/small"); n != 3 {
		t.Errorf("stream holds %d, want 3", n)
	}
}

func TestSendsWaitingForRedisAreBoundedAndTheRestCounted(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	a := f.start(redisqueue.Options{MaxBacklog: 1024, Timeout: 10 * time.Second})
	if _, err := srv.Do("CLIENT", "PAUSE", "2000", "WRITE"); err != nil {
		t.Fatal(err)
	}
	c := a.dial(t)
	body := strings.Repeat("x", 100)
	for range 100 {
		c.Send(stomp.SEND, body, "destination:/queue/paused")
	}
	c.Send(stomp.SEND, body, "destination:/queue/paused", "receipt:r-last")
	c.Timeout = wait
	c.ExpectError("unavailable", "was not stored")
	// The ERROR comes with the first failure; the SENDs still waiting are
	// answered as Redis does, each stored or counted.
	var lost float64
	var kept int
	waitFor(t, func() bool {
		lost, kept = counter(t, a.m.MessagesDropped.WithLabelValues(metrics.DropNotStored)), xlen(t, srv, "/queue/paused")
		return kept+int(lost) == 101
	}, "every SEND stored or counted not_stored")
	if lost == 0 {
		t.Errorf("%d stored and %v counted not_stored, want some of each", kept, lost)
	}
}

func TestConsumersResumeByThemselvesWhenRedisComesBack(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	f := newFleet(t, srv.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	c := listen(t, subscribed(t, b, "/queue/outage", "ack:client-individual"))
	p := a.dial(t)
	send(t, p, "/queue/outage", "before")
	c.settle(c.next(t, wait), stomp.ACK)

	srv.Kill()
	time.Sleep(time.Second)
	during := runtime.NumGoroutine()
	time.Sleep(3 * time.Second)
	if n := runtime.NumGoroutine(); n > during+2 {
		t.Errorf("goroutines grew from %d to %d while Redis was down", during, n)
	}
	srv.Restart()
	send(t, a.dial(t), "/queue/outage", "after")
	if m := c.next(t, 30*time.Second); string(m.Body) != "after" {
		t.Errorf("consumed %q after the outage, want after", m.Body)
	}
}
