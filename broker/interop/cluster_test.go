package interop

import (
	"context"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisbus"
	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/persist/redistest"
)

// startCluster runs n brokers that share one real redis-server as the
// nodes of a cluster do: topics (with their history) and user
// destinations through broker/redisbus, queues through
// broker/redisqueue, membership through redisbus.Members. Each node stops
// at cleanup, its broker first.
func startCluster(t *testing.T, n int) []server {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOptions...) }) // registered first, runs last
	url := redistest.Start(t).URL()
	nodes := make([]server, n)
	for i := range nodes {
		nodes[i] = startNode(t, url, "interop-"+strconv.Itoa(i))
	}
	return nodes
}

// startNode runs one node of a cluster on the Redis at url.
func startNode(t *testing.T, url, id string) server {
	t.Helper()
	client := redistest.Client(t, url)
	members := redisbus.NewMembers(client, redisbus.MembersOptions{Node: id})
	bus, err := redisbus.New(client, redisbus.Options{Node: id, HistorySize: historySize})
	if err != nil {
		t.Fatal(err)
	}
	queues, err := redisqueue.New(client, redisqueue.Options{Node: id, Alive: members.Alive})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	run := func(f func(context.Context)) {
		go func() { f(ctx); done <- struct{}{} }()
	}
	run(members.Run)
	run(queues.Run)
	// Registered before the broker's own cleanup, so it runs after it: the
	// broker gives back what its consumers hold before the engines stop.
	t.Cleanup(func() {
		cancel()
		for range 3 {
			<-done
		}
	})
	srv, b := serveBroker(t, broker.Options{Bus: bus, Queues: queues, Streams: bus, HistorySize: historySize})
	run(func(ctx context.Context) { bus.Run(ctx, b) })
	return srv
}

// TestGoStompAcrossTwoNodes runs every scenario with go-stomp over
// STOMP/TCP on a cluster of two nodes, each scenario's publishers on the
// first and its subscribers and consumers on the second.
func TestGoStompAcrossTwoNodes(t *testing.T) {
	nodes := startCluster(t, 2)
	runScenarios(t, client{
		name:    "gostomp-cluster",
		dial:    func(t *testing.T) session { return dialGoStomp(t, nodes[1].tcpAddr) },
		dialPub: func(t *testing.T) session { return dialGoStomp(t, nodes[0].tcpAddr) },
	})
}

// TestStompJSAcrossTwoNodes runs every scenario with @stomp/stompjs over
// WebSocket on a cluster of two nodes, each scenario's publishers on the
// first and its subscribers and consumers on the second.
func TestStompJSAcrossTwoNodes(t *testing.T) {
	node := requireNode(t)
	nodes := startCluster(t, 2)
	pubs, subs := startDriver(t, node, nodes[0].wsURL), startDriver(t, node, nodes[1].wsURL)
	runScenarios(t, client{
		name:    "stompjs-cluster",
		dial:    func(t *testing.T) session { return dialStompJS(t, subs) },
		dialPub: func(t *testing.T) session { return dialStompJS(t, pubs) },
	})
}
