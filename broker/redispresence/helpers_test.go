package redispresence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestMain checks for leaked goroutines (see redistest.VerifyNoLeaks).
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// wait bounds every wait of a test; generous, since the machine is
// shared. The dead-node test asserts its own 30 s bound.
const wait = 30 * time.Second

// node is one stompd node of a test: a broker on a real listener whose
// Presence runs on its own Redis client.
type node struct {
	id     string
	b      *broker.Broker
	p      *Presence
	addr   string
	m      *metrics.Set
	client rueidis.Client
	stop   func() // stops the Presence's Run, as a graceful stop does
}

// alive is a membership the test decides: every node is alive until
// killed.
type alive struct {
	mu   sync.Mutex
	dead map[string]bool
}

func (a *alive) Alive(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.dead[node]
}

func (a *alive) kill(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dead[node] = true
}

// startNode starts node id on the Redis at url with membership a.
func startNode(t testing.TB, url, id string, a *alive) *node {
	t.Helper()
	n := &node{id: id, m: metrics.New(prometheus.NewRegistry()), client: redistest.Client(t, url)}
	n.p = New(n.client, Options{Node: id, Alive: a.Alive, Sweep: 200 * time.Millisecond, Grace: time.Second, Metrics: n.m})
	var err error
	if n.b, err = broker.New(broker.Options{AllowAnonymous: true, Presence: n.p, Metrics: n.m}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- n.b.Serve(l) }()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { n.p.Run(ctx, n.b); close(ran) }()
	var once sync.Once
	n.stop = func() { once.Do(func() { cancel(); <-ran }) }
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), wait)
		defer scancel()
		if err := n.b.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		n.stop()
	})
	return n
}

// dial connects a STOMP 1.2 client to n as login.
func (n *node) dial(t testing.TB, login string) *stomptest.Client {
	t.Helper()
	c := stomptest.Dial(t, n.addr)
	c.Connect("login:" + login)
	return c
}

// subscribe subscribes c to dest as subscription id, and waits for the
// RECEIPT.
func subscribe(c *stomptest.Client, id, dest string) {
	c.Send(stomp.SUBSCRIBE, "", "id:"+id, "destination:"+dest, "receipt:sub-"+id)
	c.Expect(stomp.RECEIPT, "receipt-id:sub-"+id)
}

// unsubscribe ends subscription id of c, and waits for the RECEIPT.
func unsubscribe(c *stomptest.Client, id string) {
	c.Send(stomp.UNSUBSCRIBE, "", "id:"+id, "receipt:unsub-"+id)
	c.Expect(stomp.RECEIPT, "receipt-id:unsub-"+id)
}

// presenceBody is a presence MESSAGE's body: a snapshot or an event.
type presenceBody struct {
	Members []broker.Member `json:"members"`
	Event   string          `json:"event"`
	broker.Member
}

func (b presenceBody) String() string {
	if b.Event == "" {
		return fmt.Sprintf("members %v", b.Members)
	}
	return fmt.Sprintf("%s %s (%s)", b.Event, b.Sub, b.Name)
}

// watcher is a client subscribed to a topic's presence.
type watcher struct {
	*stomptest.Client
	t     testing.TB
	shown map[string]bool // the members of its snapshot, and then as replayUntil applies events
}

// watch connects to n as login and subscribes to dest's presence, then
// reads the snapshot and returns it as a string.
func (n *node) watch(t testing.TB, login, topic string) (*watcher, string) {
	t.Helper()
	c := n.dial(t, login)
	subscribe(c, "p", "/presence"+topic)
	w := &watcher{Client: c, t: t, shown: map[string]bool{}}
	snap := w.body()
	for _, m := range snap.Members {
		w.shown[m.Sub] = true
	}
	return w, snap.String()
}

// next reads the next presence MESSAGE, as a string.
func (w *watcher) next() string {
	w.t.Helper()
	return w.body().String()
}

// body reads the next presence MESSAGE.
func (w *watcher) body() presenceBody {
	w.t.Helper()
	f := w.Expect(stomp.MESSAGE, "content-type:application/json")
	var b presenceBody
	if err := json.Unmarshal(f.Body, &b); err != nil {
		w.t.Fatalf("presence body %q: %v", f.Body, err)
	}
	return b
}

// replayUntil applies w's events to what it shows until it shows want,
// failing on a join of a member shown or a leave of one not shown.
func (w *watcher) replayUntil(t testing.TB, i int, want map[string]bool) {
	t.Helper()
	for !maps.Equal(w.shown, want) {
		b := w.body()
		if w.shown[b.Sub] == (b.Event == "join") {
			t.Fatalf("watcher %d: %s while showing %v", i, b, w.shown)
		}
		if b.Event == "join" {
			w.shown[b.Sub] = true
		} else {
			delete(w.shown, b.Sub)
		}
	}
}

// expect reads the next presence MESSAGE and checks it.
func (w *watcher) expect(want string) {
	w.t.Helper()
	if got := w.next(); got != want {
		w.t.Fatalf("got %s, want %s", got, want)
	}
}

// testutilValue reads a counter.
func testutilValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		panic(err)
	}
	return d.Counter.GetValue()
}
