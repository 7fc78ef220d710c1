package redisbus

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/persist/redistest"
)

// member is the membership of one node of a test.
type member struct {
	*Members
	client rueidis.Client
	cancel context.CancelFunc
	ran    sync.WaitGroup
	once   sync.Once
}

// startMembers runs the membership of node on the Redis at url, heartbeating
// every 50 ms, until it is stopped or crashes, or the test ends.
func startMembers(t *testing.T, url, node string, timeout time.Duration) *member {
	t.Helper()
	m := &member{client: redistest.Client(t, url)}
	m.Members = NewMembers(m.client, MembersOptions{Node: node, Interval: 50 * time.Millisecond, Timeout: timeout})
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.ran.Go(func() { m.Run(ctx) })
	t.Cleanup(m.stop)
	return m
}

// stop ends the node's membership gracefully: its context is cancelled.
func (m *member) stop() { m.once.Do(func() { m.cancel(); m.ran.Wait(); m.client.Close() }) }

// heartbeatOnce leaves in srv what a node that crashed leaves: one
// heartbeat at Redis's present time, never followed by another.
func heartbeatOnce(t *testing.T, srv *redistest.Server, node string) {
	out, err := srv.Do("TIME")
	if err != nil {
		t.Fatal(err)
	}
	var sec, usec int64
	if _, err := fmt.Sscan(out, &sec, &usec); err != nil {
		t.Fatalf("TIME = %q: %v", out, err)
	}
	if _, err := srv.Do("ZADD", membersKey, strconv.FormatInt(sec*1000+usec/1000, 10), node); err != nil {
		t.Fatal(err)
	}
}

func TestMembersTellANodeDeadOnceItStopsHeartbeating(t *testing.T) {
	srv := redistest.Start(t)
	a := startMembers(t, srv.URL(), "a", 500*time.Millisecond)
	b := startMembers(t, srv.URL(), "b", 500*time.Millisecond)
	waitFor(t, "both nodes alive", func() bool { return a.Live() == 2 && b.Live() == 2 })
	if !a.Alive("b") || !b.Alive("a") || a.Alive("nobody") {
		t.Fatalf("Alive: a sees b %v, b sees a %v, a sees nobody %v", a.Alive("b"), b.Alive("a"), a.Alive("nobody"))
	}

	heartbeatOnce(t, srv, "crashed")
	crashed := time.Now()
	waitFor(t, "the crashed node seen", func() bool { return a.Alive("crashed") })
	waitFor(t, "the crashed node dead", func() bool { return !a.Alive("crashed") })
	if since := time.Since(crashed); since < 400*time.Millisecond {
		t.Errorf("dead %v after its last heartbeat, before the timeout", since)
	}
	if n, nodes := a.Live(), a.Nodes(); n != 2 || !slices.Equal(slices.Sorted(slices.Values(nodes)), []string{"a", "b"}) {
		t.Errorf("Live = %d, Nodes = %v; want 2, [a b]", n, nodes)
	}
	if !a.Alive("a") {
		t.Error("a does not see itself alive")
	}
}

func TestMembersCannotTellBeforeHearingFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv.URL())
	defer client.Close()
	m := NewMembers(client, MembersOptions{Node: "a"})
	if !m.Alive("b") || m.Live() != 0 {
		t.Fatalf("before any heartbeat: Alive(b) = %v, Live = %d; want true (no guess), 0", m.Alive("b"), m.Live())
	}
}

func TestMembersForgetANodeThatStopsGracefullyAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := startMembers(t, srv.URL(), "a", time.Hour)
	b := startMembers(t, srv.URL(), "b", time.Hour)
	waitFor(t, "both nodes alive", func() bool { return a.Live() == 2 && b.Live() == 2 })

	b.stop()
	if out, err := srv.Do("ZRANGE", membersKey, "0", "-1"); err != nil || out != "a" {
		t.Fatalf("%s after b stopped = %q (%v), want only a", membersKey, out, err)
	}
	waitFor(t, "b gone for a, an hour before the timeout", func() bool { return !a.Alive("b") && a.Live() == 1 })
}
