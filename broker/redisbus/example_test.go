package redisbus_test

import (
	"context"
	"log"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisbus"
	"github.com/stompd/stompd/metrics"
)

// A node of a cluster: the broker hands /user/ messages to the Bus and
// topic messages to it as its Streams, which keep the topics' history; the
// Bus hands other nodes' messages to the broker's Deliver and the numbered
// topic messages to its DeliverAt; Members keeps a gauge of the live nodes.
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
	node := "n-1f3a"                                     // random, made at start
	const historySize, historyTTL = 100, 5 * time.Minute // --history-size, --history-ttl
	bus, err := redisbus.New(client, redisbus.Options{Node: node, Metrics: set, HistorySize: historySize, HistoryTTL: historyTTL})
	if err != nil {
		log.Fatal(err)
	}
	b, err := broker.New(broker.Options{
		Bus: bus, Streams: bus, HistorySize: historySize, HistoryTTL: historyTTL,
		Metrics: set, AllowAnonymous: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	live := prometheus.NewGauge(prometheus.GaugeOpts{Name: "stompd_cluster_nodes"})
	members := redisbus.NewMembers(client, redisbus.MembersOptions{Node: node, OnLive: func(n int) { live.Set(float64(n)) }})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { bus.Run(ctx, b) })
	wg.Go(func() { members.Run(ctx) })
	l, err := net.Listen("tcp", "127.0.0.1:61613")
	if err != nil {
		log.Fatal(err)
	}
	go b.Serve(l)

	// ... and at the end: the broker first, then the bus, then the client.
	b.Shutdown(context.Background())
	cancel()
	wg.Wait()
}
