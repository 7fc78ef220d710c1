package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// TestSharedQueueRefusesSendsBeyondMaxQueueBytes: with --redis, a queue
// whose messages in Redis would pass --max-queue-bytes refuses the SEND
// with limit-exceeded and counts the drop, as on one node.
func TestSharedQueueRefusesSendsBeyondMaxQueueBytes(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess}, "--max-queue-bytes", "50000", "--max-queued-bytes", "60000")
	n := c.nodes[0]
	s := n.connectTCP(t, n.login(t, c.users["ada"]).Access)
	body := strings.Repeat("x", 10_000)
	for i := range 4 {
		id := "r" + strconv.Itoa(i)
		s.Send(stomp.SEND, body, "destination:/queue/big", "receipt:"+id)
		s.Expect(stomp.RECEIPT, "receipt-id:"+id)
	}
	s.Send(stomp.SEND, body, "destination:/queue/big", "receipt:r4")
	s.ExpectError("limit-exceeded", "queue /queue/big is full")
	waitMetric(t, n.url, `stompd_messages_dropped_total{reason="queue_full"}`, "1")
}

// TestSharedQueuesBeyondMaxDestinationsAreRefused: with --redis and
// --max-destinations 10, ten queues are made in Redis and a SEND to an
// eleventh is refused with limit-exceeded and counted, as on one node.
func TestSharedQueuesBeyondMaxDestinationsAreRefused(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess}, "--max-destinations", "10")
	n := c.nodes[0]
	s := n.connectTCP(t, n.login(t, c.users["ada"]).Access)
	for i := range 10 {
		id := "r" + strconv.Itoa(i)
		s.Send(stomp.SEND, "x", "destination:/queue/maxd"+strconv.Itoa(i), "receipt:"+id)
		s.Expect(stomp.RECEIPT, "receipt-id:"+id)
	}
	s.Send(stomp.SEND, "x", "destination:/queue/maxd10", "receipt:r10")
	s.ExpectError("limit-exceeded", "too many destinations")
	waitMetric(t, n.url, "stompd_destinations_refused_total", "1")
}

// TestSharedQueuesBeyondMaxQueuesPerUserAreRefused: with --redis and
// --max-queues-per-user 2, a user who made two queues in Redis, on either
// node, is refused a third with limit-exceeded, counted, while another
// user still makes queues.
func TestSharedQueuesBeyondMaxQueuesPerUserAreRefused(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess}, "--max-queues-per-user", "2")
	for i, n := range c.nodes {
		s := n.connectTCP(t, n.login(t, c.users["ada"]).Access)
		id := "r" + strconv.Itoa(i)
		s.Send(stomp.SEND, "x", "destination:/queue/mine"+strconv.Itoa(i), "receipt:"+id)
		s.Expect(stomp.RECEIPT, "receipt-id:"+id)
	}
	n := c.nodes[1]
	s := n.connectTCP(t, n.login(t, c.users["ada"]).Access)
	s.Send(stomp.SEND, "x", "destination:/queue/mine2", "receipt:r2")
	s.ExpectError("limit-exceeded", "too many queues made by one user")
	waitMetric(t, n.url, "stompd_destinations_refused_total", "1")
	s = n.connectTCP(t, n.login(t, c.users["bob"]).Access)
	s.Send(stomp.SEND, "x", "destination:/queue/mine2", "receipt:bob")
	s.Expect(stomp.RECEIPT, "receipt-id:bob")
}
