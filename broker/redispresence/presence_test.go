package redispresence

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
)

// onTwoNodes runs test with two nodes, n1 and n2, whose liveness a says,
// on each Redis deployment a cluster test runs on: a single Redis 7 and a
// Redis Cluster of three masters.
func onTwoNodes(t *testing.T, test func(t *testing.T, a *alive, n1, n2 *node)) {
	for name, start := range map[string]func(t *testing.T) string{
		"one Redis":            func(t *testing.T) string { return redistest.Start(t).URL() },
		"cluster of 3 masters": func(t *testing.T) string { return redistest.StartCluster(t, 3).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			a := &alive{dead: map[string]bool{}}
			test(t, a, startNode(t, url, "n1", a), startNode(t, url, "n2", a))
		})
	}
}

func TestMembersAcrossNodesCountAUserOnce(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, a *alive, n1, n2 *node) {
		const topic = "/topic/room"
		w, snap := n1.watch(t, "watcher", topic)
		if snap != "members []" {
			t.Fatalf("snapshot %s, want none", snap)
		}
		alice2 := n2.dial(t, "alice")
		subscribe(alice2, "1", topic)
		w.expect("join alice (alice)")
		alice1 := n1.dial(t, "alice")
		subscribe(alice1, "1", topic)
		bob := n2.dial(t, "bob")
		subscribe(bob, "1", topic)
		w.expect("join bob (bob)")

		late, snap := n2.watch(t, "late", topic)
		if snap != "members [{alice alice} {bob bob}]" {
			t.Fatalf("snapshot on the other node %s, want alice and bob", snap)
		}
		unsubscribe(alice2, "1")
		unsubscribe(bob, "1")
		w.expect("leave bob (bob)")
		late.expect("leave bob (bob)")
		alice1.Conn.Close()
		w.expect("leave alice (alice)")
		late.expect("leave alice (alice)")
		w.ExpectNothing(300 * time.Millisecond)
	})
}

// TestDeadNodesMembersLeave stops a node's presence without its graceful
// leave (its client closed first, as a crash leaves it) and has the
// membership call it dead: its members must leave within 30 s.
func TestDeadNodesMembersLeave(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, a *alive, n1, n2 *node) {
		const topic = "/topic/room"
		w, _ := n1.watch(t, "watcher", topic)
		for _, who := range []string{"alice", "bob"} {
			subscribe(n2.dial(t, who), "1", topic)
			w.expect(fmt.Sprintf("join %s (%s)", who, who))
		}
		subscribe(n1.dial(t, "bob"), "1", topic)
		n2.client.Close()
		n2.stop()
		a.kill("n2")
		killed := time.Now()
		w.Timeout = 30 * time.Second
		w.expect("leave alice (alice)")
		if took := time.Since(killed); took > 30*time.Second {
			t.Fatalf("the dead node's member left after %v, want within 30 s", took)
		}
		w.ExpectNothing(500 * time.Millisecond) // bob is still on n1
	})
}

// TestRedisDownShowsLocalMembersThenRecovers stops Redis: a watcher sees
// the other node's members leave (its own node's stay), and once Redis
// is back, without the data it had, they join again: each node writes
// its subscriptions again.
func TestRedisDownShowsLocalMembersThenRecovers(t *testing.T) {
	srv := redistest.Start(t)
	a := &alive{dead: map[string]bool{}}
	n1, n2 := startNode(t, srv.URL(), "n1", a), startNode(t, srv.URL(), "n2", a)
	const topic = "/topic/room"
	w, _ := n1.watch(t, "watcher", topic)
	w.Timeout = wait
	subscribe(n1.dial(t, "alice"), "1", topic)
	w.expect("join alice (alice)")
	subscribe(n2.dial(t, "bob"), "1", topic)
	w.expect("join bob (bob)")

	srv.Kill()
	w.expect("leave bob (bob)")
	if _, err := srv.Do("FLUSHALL"); err == nil {
		t.Fatal("Redis answered after Kill")
	}
	srv.Restart() // without persistence: the data are lost
	w.expect("join bob (bob)")
	w.ExpectNothing(500 * time.Millisecond)
	if got := testutilValue(n1.m.PresenceResyncs); got == 0 {
		t.Error("no resync counted on n1")
	}
}

// TestSnapshotAndEventsAgreeUnderChurnAcrossNodes has users join and leave
// a topic on two nodes while presence subscribers come on both: each
// one's snapshot and events must never join a member shown already nor
// leave one not shown, and must end on the members left.
func TestSnapshotAndEventsAgreeUnderChurnAcrossNodes(t *testing.T) {
	url := redistest.Start(t).URL()
	a := &alive{dead: map[string]bool{}}
	nodes := []*node{startNode(t, url, "n1", a), startNode(t, url, "n2", a)}
	const topic, users, rounds = "/topic/churn", 6, 15
	var wg sync.WaitGroup
	for u := range users {
		c := nodes[u%2].dial(t, fmt.Sprintf("u%d", u%4)) // u0 and u1 are on both nodes
		wg.Go(func() {
			for range rounds {
				subscribe(c, "1", topic)
				unsubscribe(c, "1")
			}
			if u < 2 {
				subscribe(c, "1", topic)
			}
		})
	}
	var watchers []*watcher
	for i := range 6 {
		w, _ := nodes[i%2].watch(t, fmt.Sprintf("w%d", i), topic)
		w.Timeout = wait
		watchers = append(watchers, w)
	}
	wg.Wait()
	for i, w := range watchers {
		w.replayUntil(t, i, map[string]bool{"u0": true, "u1": true})
	}
}
