package redisbus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
)

// startMembers runs the membership of node on the Redis at url until stop
// is called or the test ends.
func startMembers(t *testing.T, url, node string) (m *Members, stop func()) {
	t.Helper()
	client := newClient(t, url)
	m = NewMembers(client, MembersOptions{Node: node, Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait(); client.Close() }) }
	t.Cleanup(stop)
	return m, stop
}

func TestMembersTellANodeDeadOnceItStopsHeartbeating(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := startMembers(t, srv.URL(), "a")
	b, stopB := startMembers(t, srv.URL(), "b")
	waitFor(t, "both nodes alive", func() bool { return a.Live() == 2 && b.Live() == 2 })
	if !a.Alive("b") || !b.Alive("a") || a.Alive("nobody") {
		t.Fatalf("Alive: a sees b %v, b sees a %v, a sees nobody %v", a.Alive("b"), b.Alive("a"), a.Alive("nobody"))
	}

	stopB()
	stopped := time.Now()
	waitFor(t, "b dead", func() bool { return !a.Alive("b") })
	if since := time.Since(stopped); since < 400*time.Millisecond {
		t.Errorf("b dead %v after its last heartbeat, before the timeout", since)
	}
	if n := a.Live(); n != 1 {
		t.Errorf("Live = %d, want 1", n)
	}
	if !a.Alive("a") {
		t.Error("a does not see itself alive")
	}
}

func TestMembersCannotTellBeforeHearingFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	client := newClient(t, srv.URL())
	defer client.Close()
	m := NewMembers(client, MembersOptions{Node: "a"})
	if !m.Alive("b") || m.Live() != 0 {
		t.Fatalf("before any heartbeat: Alive(b) = %v, Live = %d; want true (no guess), 0", m.Alive("b"), m.Live())
	}
}
