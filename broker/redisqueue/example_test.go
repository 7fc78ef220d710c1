package redisqueue_test

import (
	"context"
	"log"
	"net"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisqueue"
)

// Example wires a node's queues to Redis as cmd/stompd does with --redis:
// the backend runs until the broker has stopped, so that what the broker's
// consumers held is given back before the node goes.
func Example() {
	opt, err := rueidis.ParseURL("redis://127.0.0.1:6379")
	if err != nil {
		log.Fatal(err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	alive := func(node string) bool { return true } // the cluster membership's answer
	queues, err := redisqueue.New(client, redisqueue.Options{Node: "node-a", Alive: alive, MaxLength: broker.DefaultMaxQueueLength})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { queues.Run(ctx); close(ran) }()

	b, err := broker.New(broker.Options{AllowAnonymous: true, Queues: queues})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:61613")
	if err != nil {
		log.Fatal(err)
	}
	go b.Serve(l)

	// ... and at shutdown: the broker first, then the backend.
	b.Shutdown(context.Background())
	stop()
	<-ran
}
