package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redisbus"
	"github.com/stompd/stompd/broker/redispresence"
	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/broker/redissessions"
	"github.com/stompd/stompd/metrics"
)

// errDemoCluster refuses --demo with --redis: the demo's accounts and page
// are made for one node on its own data dir.
var errDemoCluster = errors.New("--demo runs one node on its data dir: leave out --redis to try it, or add users to the cluster with stompd user add --redis")

// cluster is what a node of a cluster runs on the Redis all its nodes
// share (--redis): auth's store, the bus that carries topics and user
// destinations between nodes and keeps the topics' history, the shared
// queues, the topics' members, the listing of every node's sessions, and
// the membership that tells live nodes from dead ones.
type cluster struct {
	store    *redisstore.Store
	bus      *redisbus.Bus
	queues   *redisqueue.Queues
	presence *redispresence.Presence
	members  *redisbus.Members
	sessions *redissessions.Sessions
}

// newCluster builds the engines of node on the Redis client rc.
func newCluster(rc rueidis.Client, node string, c *config, m *metrics.Set, log *slog.Logger) (*cluster, error) {
	cl := &cluster{store: redisstore.New(rc, redisstore.Options{Logger: log})}
	cl.members = redisbus.NewMembers(rc, redisbus.MembersOptions{
		Node: node, Logger: log,
		OnLive: func(n int) { m.ClusterNodes.Set(float64(n)) },
	})
	cl.sessions = redissessions.New(rc, redissessions.Options{Node: node, Nodes: cl.members.Nodes, Logger: log})
	cl.presence = redispresence.New(rc, redispresence.Options{Node: node, Alive: cl.members.Alive, Metrics: m, Logger: log})
	var err error
	if cl.bus, err = redisbus.New(rc, redisbus.Options{
		Node: node, Logger: log, Metrics: m,
		HistorySize: c.Broker.HistorySize, HistoryTTL: c.Broker.HistoryTTL,
	}); err != nil {
		return nil, err
	}
	cl.queues, err = redisqueue.New(rc, redisqueue.Options{
		Node: node, Alive: cl.members.Alive, MaxLength: c.Broker.MaxQueueLength, MaxQueues: c.Broker.MaxDestinations, MaxBytes: c.Broker.MaxQueueBytes,
		MaxQueuesPerUser: c.Broker.MaxQueuesPerUser, Reads: redisQueueReads, Metrics: m, Logger: log,
	})
	return cl, err
}

// wire hands the broker the engines it uses: the bus, the shared queues,
// the topics' members and, with topic history on, the bus as the streams
// that keep it.
func (cl *cluster) wire(o *broker.Options) {
	o.Bus, o.Queues, o.Presence = cl.bus, cl.queues, cl.presence
	if o.HistorySize > 0 {
		o.Streams = cl.bus
	}
}

// run starts the engines' loops in wg until ctx ends: membership
// heartbeats, the bus's delivery to b, the queues' readers, the topics'
// members shown to b's presence subscribers, the answers to other nodes'
// requests for b's sessions, and the denials made on other nodes, which
// end sessions here through svc.
func (cl *cluster) run(ctx context.Context, wg *sync.WaitGroup, b *broker.Broker, svc *auth.Service) {
	wg.Go(func() { cl.members.Run(ctx) })
	wg.Go(func() { cl.bus.Run(ctx, b) })
	wg.Go(func() { cl.queues.Run(ctx) })
	wg.Go(func() { cl.presence.Run(ctx, b) })
	wg.Go(func() { cl.sessions.Run(ctx, b) })
	wg.Go(func() { cl.store.WatchDenials(ctx, svc.TakeDenial) })
}
