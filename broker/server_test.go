package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
)

func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"total", Options{MaxConnections: 2}},
		{"per address", Options{MaxConnectionsPerAddr: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts)
			a, b := h.connect(t, "a"), h.connect(t, "b")
			h.dial(t).expectClosed()
			a.write(frame("DISCONNECT", "", "receipt:d"))
			a.expect("RECEIPT")
			a.expectClosed()
			waitFor(t, "the slot to be released", func() bool {
				return value(t, h.m.Connections.WithLabelValues("tcp")) == 1
			})
			h.connect(t, "c")
			b.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:s"))
			b.expect("RECEIPT")
		})
	}
}

// TestSTOMP10 runs a STOMP 1.0 session: no escaping, subscription id
// defaulting to the destination, ACK by message-id alone, UNSUBSCRIBE by
// destination.
func TestSTOMP10(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "login:old"))
	c.expect("CONNECTED", "version:1.0")
	c.write(frame("SUBSCRIBE", "", "destination:/queue/old", "ack:client", "receipt:s"))
	c.expect("RECEIPT", "receipt-id:s")
	c.write(frame("SEND", "x", "destination:/queue/old", `x-raw:a\b`))
	f := c.expect("MESSAGE", "subscription:/queue/old", `x-raw:a\b`)
	c.write(frame("ACK", "", "message-id:"+f.Value("message-id"), "receipt:a"))
	c.expect("RECEIPT", "receipt-id:a")
	c.write(frame("UNSUBSCRIBE", "", "destination:/queue/old", "receipt:u"))
	c.expect("RECEIPT", "receipt-id:u")
}

// TestMetrics checks the broker's families move as traffic flows and come
// back when it ends.
func TestMetrics(t *testing.T) {
	h := newHarness(t, Options{})
	m := h.m
	c := h.subscriber(t, "u", "/topic/m")
	q := h.subscriber(t, "v", "/queue/m")
	p := h.connect(t, "p")
	sendAll(p, "/topic/m", "1")
	sendAll(p, "/queue/m", "2")
	c.expect("MESSAGE")
	q.expect("MESSAGE")
	checks := []struct {
		name string
		m    prometheus.Metric
		want float64
	}{
		{"connections", m.Connections.WithLabelValues("tcp"), 3},
		{"accepted", m.ConnectionsAccepted.WithLabelValues("tcp"), 3},
		{"subscriptions", m.Subscriptions, 2},
		{"topic destinations", m.Destinations.WithLabelValues("topic"), 1},
		{"queue destinations", m.Destinations.WithLabelValues("queue"), 1},
		{"topic published", m.MessagesPublished.WithLabelValues("topic"), 1},
		{"queue published", m.MessagesPublished.WithLabelValues("queue"), 1},
		{"SEND received", m.FramesReceived.WithLabelValues("SEND"), 4},
		{"CONNECTED sent", m.FramesSent.WithLabelValues("CONNECTED"), 3},
	}
	for _, ck := range checks {
		if got := value(t, ck.m); got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, got, ck.want)
		}
	}
	waitFor(t, "delivery counts", func() bool {
		return value(t, m.MessagesDelivered.WithLabelValues("topic")) == 1 &&
			value(t, m.MessagesDelivered.WithLabelValues("queue")) == 1
	})
	for _, cl := range []*client{c, q, p} {
		cl.write(frame("DISCONNECT", "", "receipt:d"))
		cl.expect("RECEIPT")
		cl.expectClosed()
	}
	waitFor(t, "gauges back to zero", func() bool {
		return value(t, m.Connections.WithLabelValues("tcp")) == 0 && value(t, m.Subscriptions) == 0 &&
			value(t, m.Destinations.WithLabelValues("topic")) == 0 && value(t, m.Destinations.WithLabelValues("queue")) == 0
	})
}

// TestShutdownDeadline has a client that never reads hold its writer in a
// blocked write: Shutdown gives up at its context's deadline, closes the
// socket and still leaves no goroutine behind (TestMain checks).
func TestShutdownDeadline(t *testing.T) {
	b := anonymousBroker(Options{Metrics: metrics.New(prometheus.NewRegistry()), WriteTimeout: time.Minute, MaxPendingBytes: 64 << 20})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	h := &harness{b: b, addr: l.Addr().String()}
	stalled := h.subscriber(t, "s", "/topic/big")
	stalled.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	p := h.connect(t, "p")
	body := strings.Repeat("z", 512<<10)
	for range 24 {
		p.write(frame("SEND", body, "destination:/topic/big"))
	}
	sendAll(p, "/topic/big")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", h.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}
