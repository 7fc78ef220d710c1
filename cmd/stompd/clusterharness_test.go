package main

import (
	"net"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestThreeNodesFollowTheirRedis starts three nodes on one Redis, two in
// the test's process and one as a child process, each with an id of its
// own. While Redis is down every node answers /readyz 503 and keeps
// serving its local sessions; once Redis is back every node is ready again
// by itself.
func TestThreeNodesFollowTheirRedis(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess, childProcess})
	ids := map[string]bool{}
	for _, n := range c.nodes {
		ids[n.id] = true
	}
	if len(ids) != 3 || ids[""] {
		t.Errorf("node ids %v: want three, none empty", ids)
	}
	ada := c.users["ada"]
	var sessions []*stomptest.Client
	for _, n := range c.nodes {
		tok := n.login(t, ada)
		p := n.connectWS(t, n.ticket(t, tok.Access), tok.Access)
		p.Send(stomp.SUBSCRIBE, "", "destination:/topic/local", "id:1", "receipt:s")
		p.Expect(stomp.RECEIPT)
		sessions = append(sessions, p)
	}

	r.Kill()
	c.waitReadyz(t, 503, 5*time.Second)
	for i, p := range sessions {
		p.Send(stomp.SEND, "still here", "destination:/topic/local")
		if f := p.Expect(stomp.MESSAGE); string(f.Body) != "still here" {
			t.Errorf("node %s with Redis down: local message %q", c.nodes[i].name, f.Body)
		}
	}
	r.Restart()
	c.waitReadyz(t, 200, 5*time.Second)
	for _, n := range c.nodes {
		n.stop(t)
	}
}

// TestKilledNodeLeavesTheOthersServing kills -9 the child node of a
// cluster: its port stops answering, the other nodes stay ready and keep
// serving.
func TestKilledNodeLeavesTheOthersServing(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess})
	bob := c.users["bob"]
	a, b := c.nodes[0], c.nodes[1]
	b.kill(t)
	if conn, err := net.DialTimeout("tcp", b.stompAddr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%v still accepts STOMP connections after kill -9", b)
	}
	waitStatus(t, a.url+"/readyz", 200)
	tok := a.login(t, bob)
	a.connectTCP(t, tok.Access)
}
