package redisqueue_test

import (
	"testing"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/persist/redistest"
)

func TestQueuesOnARedisClusterOfThreeMasters(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	f := newFleet(t, cl.URL())
	a, b := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	for _, dest := range []string{"/queue/c-one", "/queue/c-two", "/queue/c-three"} {
		exchange(t, []*node{a, b}, dest, 100)
	}
	held, other := holdFive(t, a, b, "/queue/c-nack")
	held.Conn.Close()
	expectRedelivered(t, other, wait)
}
