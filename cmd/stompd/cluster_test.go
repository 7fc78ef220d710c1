package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// nodeKind is how a test runs one node of a cluster.
type nodeKind int

const (
	// inProcess runs the node in the test binary, through parseConfig and
	// newServer as the binary does; the test can reach into its server.
	inProcess nodeKind = iota
	// childProcess runs the node as a process of its own (the test binary
	// acting as stompd), which a test can kill -9.
	childProcess
)

// testCluster is several stompd nodes sharing one Redis, each with a data
// dir of its own, on loopback ports; they stop when the test ends.
type testCluster struct {
	nodes []*clusterNode
	users map[string]*testUser // by name: ada and bob, on every node
}

// clusterNode is one node of a testCluster, in the test's process or in a
// child process.
type clusterNode struct {
	name                  string // A, B, C, ... in the order started
	id                    string // the node id it made at start
	url, wsURL, stompAddr string
	dataDir               string
	srv                   *testServer // an inProcess node
	proc                  *child      // a childProcess node
}

// startCluster starts one node of each kind given, in that order, all with
// --redis redisURL and the extra flags, and waits until each is ready.
// Every node has the users ada and bob. A persist/redistest server or
// cluster gives the URL.
func startCluster(t *testing.T, redisURL string, kinds []nodeKind, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{users: map[string]*testUser{}}
	for _, name := range clusterUsers {
		c.users[name] = &testUser{email: name + "@example.com", password: name + " password"}
	}
	args := append([]string{"--redis", redisURL}, extra...)
	for i, kind := range kinds {
		n := &clusterNode{name: string(rune('A' + i))}
		switch kind {
		case inProcess:
			n.srv = startServer(t, args...)
			n.url, n.stompAddr, n.dataDir, n.id = n.srv.url, n.srv.stompAddr, n.srv.cfg.DataDir, n.srv.node
		case childProcess:
			n.dataDir = t.TempDir()
			addClusterUsers(t, redisURL)
			n.proc = startChild(t, n.dataDir, args...)
			n.url, n.stompAddr, n.id = n.proc.url, n.proc.stompAddr, n.proc.node
		}
		n.wsURL = "ws" + n.url[len("http"):] + "/ws"
		waitStatus(t, n.url+"/readyz", 200)
		c.nodes = append(c.nodes, n)
	}
	return c
}

// clusterUsers are the accounts every node of a testCluster has, with
// the emails and passwords startServer gives its users.
var clusterUsers = []string{"ada", "bob"}

// addClusterUsers makes the clusterUsers in the Redis a cluster shares,
// with stompd user add --redis as an operator would, before a child node
// starts; users another node added already are left as they are.
func addClusterUsers(t *testing.T, redisURL string) {
	t.Helper()
	for _, name := range clusterUsers {
		code, _, stderr := runUser("add", "--redis", redisURL, "--email", name+"@example.com", "--password", name+" password")
		if code != 0 && !strings.Contains(stderr, "exists") {
			t.Fatalf("user add %s: exit %d: %s", name, code, stderr)
		}
	}
}

// waitReadyz waits until every node's /readyz answers want, for at most
// within, checking the nodes one after the other.
func (c *testCluster) waitReadyz(t *testing.T, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, n := range c.nodes {
		waitStatusWithin(t, n.url+"/readyz", want, time.Until(deadline))
	}
}

// login logs u in at this node.
func (n *clusterNode) login(t *testing.T, u *testUser) tokens {
	t.Helper()
	return login(t, n.url, u)
}

// ticket asks this node for a WebSocket ticket.
func (n *clusterNode) ticket(t *testing.T, access string) string {
	t.Helper()
	return ticket(t, n.url, access)
}

// connectWS upgrades at this node with ticket, which any node may have
// issued, and sends CONNECT with the access token.
func (n *clusterNode) connectWS(t *testing.T, ticket, access string) *stomptest.Client {
	t.Helper()
	p, status := dialWS(t, n.wsURL+"?ticket="+ticket, nil)
	if p == nil {
		t.Fatalf("upgrade at node %s: status %d", n.name, status)
	}
	p.Connect("Authorization:Bearer " + access)
	return p
}

// connectTCP connects to this node's STOMP port with a Bearer CONNECT.
func (n *clusterNode) connectTCP(t *testing.T, access string) *stomptest.Client {
	t.Helper()
	p := stomptest.Dial(t, n.stompAddr)
	p.Connect("Authorization:Bearer " + access)
	return p
}

// kill ends a child node with SIGKILL, as a crash would: no shutdown, no
// goodbye to Redis.
func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	if n.proc == nil {
		t.Fatalf("node %s runs in the test's process: only a child node can be killed", n.name)
	}
	if err := n.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.proc.cmd.Wait()
}

// stop shuts a node down gracefully, as SIGTERM does.
func (n *clusterNode) stop(t *testing.T) {
	t.Helper()
	if n.srv != nil {
		if err := n.srv.stop(); err != nil {
			t.Errorf("node %s: %v", n.name, err)
		}
		return
	}
	n.proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := n.proc.cmd.Wait(); err != nil {
		t.Errorf("node %s after SIGTERM: %v", n.name, err)
	}
}

func (n *clusterNode) String() string { return fmt.Sprintf("node %s (%s, %s)", n.name, n.id, n.url) }
