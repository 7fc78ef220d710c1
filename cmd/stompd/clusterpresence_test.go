package main

import (
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// TestPresenceAcrossNodesAndAKilledNodesMembersLeaveWithin30s: bob
// subscribes to a topic on two nodes and counts once for a presence
// subscriber on either; once he is left only on a child node, which is
// killed with SIGKILL, he leaves within 30 seconds. On a single Redis and
// on a Redis Cluster of three masters.
func TestPresenceAcrossNodesAndAKilledNodesMembersLeaveWithin30s(t *testing.T) {
	for name, start := range map[string]func(t *testing.T) string{
		"one Redis":            func(t *testing.T) string { return redistest.Start(t).URL() },
		"cluster of 3 masters": func(t *testing.T) string { return redistest.StartCluster(t, 3).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, start(t), []nodeKind{inProcess, childProcess})
			a, b := c.nodes[0], c.nodes[1]
			ada, bob := c.users["ada"], c.users["bob"]
			w := a.connectTCP(t, a.login(t, ada).Access)
			if snap := watchPresence(t, w, "/topic/room"); len(snap.Members) != 0 {
				t.Fatalf("snapshot %+v, want no members", snap)
			}
			onB := b.connectTCP(t, b.login(t, bob).Access)
			onB.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/room", "receipt:s")
			onB.Expect(stomp.RECEIPT, "receipt-id:s")
			if ev := nextPresence(t, w); ev.Event != "join" || ev.Name != "bob" {
				t.Fatalf("got %+v, want bob's join", ev)
			}
			onA := a.connectTCP(t, a.login(t, bob).Access)
			onA.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/room", "receipt:s")
			onA.Expect(stomp.RECEIPT, "receipt-id:s")
			if snap := watchPresence(t, b.connectTCP(t, b.login(t, ada).Access), "/topic/room"); len(snap.Members) != 1 || snap.Members[0].Name != "bob" {
				t.Fatalf("snapshot on node B %+v, want bob once", snap)
			}
			onA.Send(stomp.UNSUBSCRIBE, "", "id:1", "receipt:u")
			onA.Expect(stomp.RECEIPT, "receipt-id:u")
			w.ExpectNothing(300 * time.Millisecond)

			b.kill(t)
			killed := time.Now()
			w.Timeout = 40 * time.Second
			if ev := nextPresence(t, w); ev.Event != "leave" || ev.Name != "bob" {
				t.Fatalf("got %+v, want bob's leave", ev)
			}
			if took := time.Since(killed); took > 30*time.Second {
				t.Fatalf("the killed node's member left after %v, want within 30 s", took)
			}
			t.Logf("the killed node's member left after %v", time.Since(killed).Round(time.Millisecond))
		})
	}
}
