package redistest

import (
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, started by a
// test.
type Cluster struct {
	Nodes []*Server
}

// URL names the cluster as --redis takes it: the first node, with the
// others as addr parameters (seed addresses).
func (c *Cluster) URL() string {
	u := c.Nodes[0].URL()
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u
}

// StartCluster starts masters redis-servers in cluster mode, joins them
// with redis-cli --cluster create, and waits until every node reports the
// cluster state ok. They stop when the test ends.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	need(t, "redis-server")
	need(t, "redis-cli")
	c := &Cluster{}
	for range masters {
		c.Nodes = append(c.Nodes, startClusterNode(t))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, out)
	}
	for _, n := range c.Nodes {
		waitClusterOK(t, n)
	}
	return c
}

// startClusterNode starts one cluster-enabled server on a port whose
// cluster bus port (port+10000) is free too.
func startClusterNode(t testing.TB) *Server {
	t.Helper()
	for try := 0; try < 20; try++ {
		port := 20000 + rand.IntN(10000)
		if !free(port) || !free(port+10000) {
			continue
		}
		s := &Server{t: t, dir: t.TempDir(), Addr: "127.0.0.1:" + strconv.Itoa(port), args: []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
		}}
		if s.start() == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatal("redistest: no free port pair for a cluster node")
	return nil
}

func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func waitClusterOK(t testing.TB, n *Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := n.Do("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster node %s not ok after 30 s: %v %s", n.Addr, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
