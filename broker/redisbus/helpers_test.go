package redisbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestMain checks for leaked goroutines (see redistest.VerifyNoLeaks).
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// wait bounds every wait of a test for something to happen; generous,
// since the machine is shared.
const wait = 30 * time.Second

// node is one stompd node of a test: a broker on a real listener with a
// Bus on its own Redis client.
type node struct {
	b    *broker.Broker
	bus  *Bus
	addr string
	m    *metrics.Set
}

// startNode starts node id on the Redis at url; it stops when the test
// ends, before the Redis does when the Redis was started first.
func startNode(t testing.TB, url, id string, o Options) *node {
	t.Helper()
	client := redistest.Client(t, url)
	n := &node{m: metrics.New(prometheus.NewRegistry())}
	o.Node, o.Metrics = id, n.m
	var err error
	if n.bus, err = New(client, o); err != nil {
		t.Fatal(err)
	}
	bo := broker.Options{AllowAnonymous: true, Bus: n.bus, Metrics: n.m}
	if o.HistorySize > 0 {
		bo.Streams, bo.HistorySize, bo.HistoryTTL = n.bus, o.HistorySize, o.HistoryTTL
	}
	if n.b, err = broker.New(bo); err != nil {
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
	go func() { n.bus.Run(ctx, n.b); close(ran) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), wait)
		defer scancel()
		if err := n.b.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		cancel()
		<-ran
		client.Close()
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

// shardSubscribers returns how many connections of the servers subscribe
// to channel, summed over them (each cluster node counts its own).
func shardSubscribers(t testing.TB, servers []*redistest.Server, channel string) int {
	t.Helper()
	total := 0
	for _, s := range servers {
		out, err := s.Do("PUBSUB", "SHARDNUMSUB", channel)
		if err != nil {
			t.Fatalf("PUBSUB SHARDNUMSUB: %v", err)
		}
		f := strings.Split(out, "\n")
		n, _ := strconv.Atoi(f[len(f)-1])
		total += n
	}
	return total
}

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSubscribers waits until n connections subscribe to dest's channel.
func waitSubscribers(t testing.TB, servers []*redistest.Server, dest string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d subscribers of %s", n, channel(dest)), func() bool {
		return shardSubscribers(t, servers, channel(dest)) == n
	})
}

// shardChannels returns the shard channels the server has subscribers for.
func shardChannels(t testing.TB, s *redistest.Server) []string {
	t.Helper()
	out, err := s.Do("PUBSUB", "SHARDCHANNELS")
	if err != nil {
		t.Fatalf("PUBSUB SHARDCHANNELS: %v", err)
	}
	return strings.Fields(out)
}

// listening reports whether some connection subscribes to dest's channel.
func listening(t testing.TB, s *redistest.Server, dest string) bool {
	return slices.Contains(shardChannels(t, s), channel(dest))
}

// receiveSequence reads n MESSAGEs from c, whose bodies must be 0 to n-1
// in order, and returns the first error.
func receiveSequence(c *stomptest.Client, n int) error {
	for i := range n {
		f, err := c.Next()
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if f.Command != stomp.MESSAGE || string(f.Body) != strconv.Itoa(i) {
			return fmt.Errorf("message %d: got %s", i, stomptest.Dump(f))
		}
	}
	return nil
}

// dropped returns the messages_dropped_total of reason on n.
func (n *node) dropped(reason string) float64 {
	var d dto.Metric
	if err := n.m.MessagesDropped.WithLabelValues(reason).Write(&d); err != nil {
		panic(err)
	}
	return d.Counter.GetValue()
}

// onRedisAndCluster runs test as two subtests: on one redis-server, and on
// a Redis Cluster of 3 masters.
func onRedisAndCluster(t *testing.T, test func(t *testing.T, url string)) {
	t.Run("redis", func(t *testing.T) { test(t, redistest.Start(t).URL()) })
	t.Run("cluster", func(t *testing.T) { test(t, redistest.StartCluster(t, 3).URL()) })
}

// setUser changes the rules of srv's ACL user.
func setUser(t testing.TB, srv *redistest.Server, user string, rules ...string) {
	t.Helper()
	if out, err := srv.Do(append([]string{"ACL", "SETUSER", user}, rules...)...); err != nil || out != "OK" {
		t.Fatalf("ACL SETUSER %s %v: %q, %v", user, rules, out, err)
	}
}
