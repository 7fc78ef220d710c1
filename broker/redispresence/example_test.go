package redispresence_test

import (
	"context"
	"log"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisbus"
	"github.com/stompd/stompd/broker/redispresence"
	"github.com/stompd/stompd/metrics"
)

// A node of a cluster whose /presence/topic/<name> subscribers see the
// members of /topic/<name> on every node: the broker tells the Presence
// its own subscribers, and Run shows it the cluster's, taking out those of
// the nodes Members calls dead.
func Example() {
	opt, err := rueidis.ParseURL("redis://127.0.0.1:6379") // --redis
	if err != nil {
		log.Fatal(err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	set := metrics.New(prometheus.NewRegistry())
	node := "n-1f3a" // random, made at start
	members := redisbus.NewMembers(client, redisbus.MembersOptions{Node: node})
	presence := redispresence.New(client, redispresence.Options{Node: node, Alive: members.Alive, Metrics: set})
	b, err := broker.New(broker.Options{Presence: presence, Metrics: set, AllowAnonymous: true})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { members.Run(ctx) })
	wg.Go(func() { presence.Run(ctx, b) })
	l, err := net.Listen("tcp", "127.0.0.1:61613")
	if err != nil {
		log.Fatal(err)
	}
	go b.Serve(l)

	// ... until the node stops: the broker first, so that its subscribers'
	// leaves are written as the Presence stops.
	b.Shutdown(context.Background())
	cancel()
	wg.Wait()
}
