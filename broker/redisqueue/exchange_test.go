package redisqueue_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/persist/redistest"
)

// goStomp connects a go-stomp client to n, disconnected when the test ends.
func goStomp(t *testing.T, n *node) *gostomp.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gostomp.Connect(nc, gostomp.ConnOpt.Login("test", ""), gostomp.ConnOpt.AcceptVersion(gostomp.V12),
		gostomp.ConnOpt.RcvReceiptTimeout(wait), gostomp.ConnOpt.DisconnectReceiptTimeout(wait),
		gostomp.ConnOpt.Logger(quiet{}))
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect() })
	return c
}

// quiet is a go-stomp logger that drops everything: the subscriptions
// ended by a test's DISCONNECT log at INFO.
type quiet struct{}

func (quiet) Debugf(string, ...any)   {}
func (quiet) Infof(string, ...any)    {}
func (quiet) Warningf(string, ...any) {}
func (quiet) Errorf(string, ...any)   {}
func (quiet) Debug(string)            {}
func (quiet) Info(string)             {}
func (quiet) Warning(string)          {}
func (quiet) Error(string)            {}

// tally counts what consumers acknowledged and NACKed, across nodes.
type tally struct {
	mu          sync.Mutex
	seen        map[string]int // acknowledged, by body
	byNode      map[string]int
	total       int
	nacked      int
	redelivered int
	want        int
	done        chan struct{}
}

func newTally(want int) *tally {
	return &tally{seen: map[string]int{}, byNode: map[string]int{}, want: want, done: make(chan struct{})}
}

// take notes a delivery of m and reports whether to acknowledge it: every
// tenth message is NACKed when first delivered.
func (t *tally) take(node string, m *gostomp.Message) (ack bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	body := string(m.Body)
	if m.Header.Get("redelivered") == "true" {
		t.redelivered++
	} else if strings.HasSuffix(body, "0") {
		t.nacked++
		return false
	}
	t.seen[body]++
	t.byNode[node]++
	if t.total++; t.total == t.want {
		close(t.done)
	}
	return true
}

// consume acknowledges and tallies the messages of sub, NACKing some once,
// from a goroutine that ends with the subscription.
func consume(t *testing.T, c *gostomp.Conn, sub *gostomp.Subscription, node string, tl *tally) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m := range sub.C {
			if m.Err != nil {
				return
			}
			if tl.take(node, m) {
				c.Ack(m)
			} else {
				c.Nack(m)
			}
		}
	}()
	t.Cleanup(func() {
		c.MustDisconnect() // ends sub.C
		wg.Wait()
	})
}

// exchange runs producers and consumers on every node: each node's
// producer sends perNode messages to dest, and every message must be
// acknowledged by exactly one consumer; every tenth is NACKed first, and
// must come back marked redelivered.
func exchange(t *testing.T, nodes []*node, dest string, perNode int) *tally {
	tl := newTally(perNode * len(nodes))
	for i, n := range nodes {
		for j := range 2 {
			c := goStomp(t, n)
			sub, err := c.Subscribe(dest, gostomp.AckClientIndividual, gostomp.SubscribeOpt.Header("prefetch-count", "20"))
			if err != nil {
				t.Fatal(err)
			}
			consume(t, c, sub, fmt.Sprintf("%d.%d", i, j), tl)
		}
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		p := goStomp(t, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perNode {
				var opts []func(*frame.Frame) error
				if k == perNode-1 {
					opts = append(opts, gostomp.SendOpt.Receipt)
				}
				if err := p.Send(dest, "text/plain", fmt.Appendf(nil, "p%d-%d", i, k), opts...); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-tl.done:
	case <-time.After(60 * time.Second):
		tl.mu.Lock()
		t.Fatalf("consumers received %d of %d messages", tl.total, tl.want)
	}
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for body, n := range tl.seen {
		if n != 1 {
			t.Errorf("%s received %d times", body, n)
		}
	}
	if len(tl.seen) != tl.want || tl.total != tl.want {
		t.Errorf("%d distinct messages, %d deliveries; want %d of each", len(tl.seen), tl.total, tl.want)
	}
	if tl.redelivered != tl.nacked {
		t.Errorf("%d messages NACKed, %d redelivered marked redelivered: want as many", tl.nacked, tl.redelivered)
	}
	t.Logf("acknowledged per consumer (node.consumer): %v; %d NACKed and redelivered", tl.byNode, tl.nacked)
	return tl
}

func TestQueueAcrossThreeNodesConsumesEachMessageOnce(t *testing.T) {
	srv := redistest.Start(t)
	f := newFleet(t, srv.URL())
	nodes := []*node{f.start(redisqueue.Options{}), f.start(redisqueue.Options{}), f.start(redisqueue.Options{})}
	exchange(t, nodes, "/queue/work", 1000)
	waitFor(t, func() bool { return xlen(t, srv, "/queue/work") == 0 }, "every acknowledged message to leave the stream")
}
