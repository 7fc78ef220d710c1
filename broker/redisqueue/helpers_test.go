package redisqueue_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestMain checks for leaked goroutines (see redistest.VerifyNoLeaks).
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// fleet is a set of in-process nodes sharing one Redis, each a broker
// serving STOMP on 127.0.0.1 with its own Queues. Whether a node is alive
// is the fleet's to say, as a heartbeat would.
type fleet struct {
	t     testing.TB
	url   string
	mu    sync.Mutex
	alive map[string]bool
}

// node is one broker of a fleet and its backend.
type node struct {
	id      string
	addr    string
	b       *broker.Broker
	q       *redisqueue.Queues
	m       *metrics.Set
	c       rueidis.Client
	cancel  context.CancelFunc
	ran     chan struct{}
	served  chan error
	stopped bool
}

func newFleet(t testing.TB, url string) *fleet {
	return &fleet{t: t, url: url, alive: make(map[string]bool)}
}

func (f *fleet) isAlive(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[id]
}

// start starts a node with o (Node, Alive and Metrics are set here) and
// stops it gracefully when the test ends.
func (f *fleet) start(o redisqueue.Options) *node {
	f.t.Helper()
	n := &node{id: "node-" + strconv.Itoa(len(f.alive)+1), m: metrics.New(prometheus.NewRegistry())}
	opt, err := rueidis.ParseURL(f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	if n.c, err = rueidis.NewClient(opt); err != nil {
		f.t.Fatal(err)
	}
	o.Node, o.Alive, o.Metrics = n.id, f.isAlive, n.m
	if n.q, err = redisqueue.New(n.c, o); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.alive[n.id] = true
	f.mu.Unlock()
	n.b, err = broker.New(broker.Options{AllowAnonymous: true, Queues: n.q, Metrics: n.m})
	if err != nil {
		f.t.Fatal(err)
	}
	n.serve(f.t)
	f.t.Cleanup(func() { n.stop(f.t) })
	return n
}

func (n *node) serve(t testing.TB) {
	var ctx context.Context
	ctx, n.cancel = context.WithCancel(context.Background())
	n.ran, n.served = make(chan struct{}), make(chan error, 1)
	go func() { n.q.Run(ctx); close(n.ran) }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = l.Addr().String()
	go func() { n.served <- n.b.Serve(l) }()
}

// stop stops the node as cmd/stompd does: the broker first, which gives
// back what its consumers held, then the backend.
func (n *node) stop(t testing.TB) {
	if n.stopped {
		return
	}
	n.stopped = true
	n.shutdownBroker(t)
	n.cancel()
	<-n.ran
	n.c.Close()
}

func (n *node) shutdownBroker(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-n.served; !errors.Is(err, broker.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// kill stops the node as a crash would, as far as the others can tell: its
// backend stops first, so that nothing its consumers held is given back,
// its heartbeat stops, and then its broker closes its connections.
func (f *fleet) kill(n *node) {
	f.t.Helper()
	n.stopped = true
	n.cancel()
	<-n.ran
	n.c.Close()
	f.mu.Lock()
	f.alive[n.id] = false
	f.mu.Unlock()
	n.shutdownBroker(f.t)
}

// dial connects a raw STOMP 1.2 client to n, as the user test.
func (n *node) dial(t testing.TB) *stomptest.Client {
	t.Helper()
	return n.dialAs(t, "test")
}

// dialAs connects a raw STOMP 1.2 client to n, as the user login.
func (n *node) dialAs(t testing.TB, login string) *stomptest.Client {
	t.Helper()
	c := stomptest.Dial(t, n.addr)
	c.Connect("login:" + login)
	return c
}

// subscribe subscribes c to dest with headers and waits for the RECEIPT.
func subscribe(t testing.TB, c *stomptest.Client, id, dest string, headers ...string) {
	t.Helper()
	c.Send(stomp.SUBSCRIBE, "", append([]string{"id:" + id, "destination:" + dest, "receipt:sub-" + id}, headers...)...)
	c.Expect(stomp.RECEIPT, "receipt-id:sub-"+id)
}

// send sends body to dest and waits for its RECEIPT.
func send(t testing.TB, c *stomptest.Client, dest, body string) {
	t.Helper()
	c.Send(stomp.SEND, body, "destination:"+dest, "receipt:r-"+body)
	c.Expect(stomp.RECEIPT, "receipt-id:r-"+body)
}

// consumer is a raw client whose frames a goroutine of the test's reads.
type consumer struct {
	*stomptest.Client
	in <-chan *stomp.Frame
}

// listen starts reading c's frames into a channel, until c fails or
// closes.
func listen(t testing.TB, c *stomptest.Client) *consumer {
	ch := make(chan *stomp.Frame, 1024)
	c.Timeout = time.Hour
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			f, err := c.Next()
			if err != nil {
				return
			}
			ch <- f
		}
	}()
	t.Cleanup(func() { c.Conn.Close(); <-done })
	return &consumer{c, ch}
}

// next returns the next frame, failing the test after d.
func (c *consumer) next(t testing.TB, d time.Duration) *stomp.Frame {
	t.Helper()
	select {
	case f, ok := <-c.in:
		if !ok {
			t.Fatal("connection closed")
		}
		return f
	case <-time.After(d):
		t.Fatalf("no frame within %v", d)
	}
	return nil
}

// nothing checks that no frame comes within d.
func (c *consumer) nothing(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case f := <-c.in:
		t.Fatalf("unexpected frame: %s", stomptest.Dump(f))
	case <-time.After(d):
	}
}

// settle answers MESSAGE m with cmd (ACK or NACK) and extra headers.
func (c *consumer) settle(m *stomp.Frame, cmd stomp.Command, headers ...string) {
	c.Send(cmd, "", append([]string{"id:" + m.Value("ack")}, headers...)...)
}

// either returns the next MESSAGE of whichever of two consumers gets one
// first, and that consumer.
func either(t testing.TB, a, b *consumer) (*stomp.Frame, *consumer) {
	t.Helper()
	select {
	case m := <-a.in:
		return m, a
	case m := <-b.in:
		return m, b
	case <-time.After(wait):
		t.Fatal("no MESSAGE on either node")
	}
	return nil, nil
}

// counter reads a counter of s.
func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.Counter.GetValue()
}
