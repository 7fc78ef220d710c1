//go:build faults

package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
)

// faultCluster is the fault driver of the cluster fault scenario, apart
// from its traffic: a Redis that acknowledges a write only once it is in
// its append-only file (so that it survives kill -9 and restart), and
// stompd child nodes on it, which the scenario's phases kill and restart.
// Traffic asks it where the live nodes are.
type faultCluster struct {
	redis *redistest.Server
	args  []string             // every node's flags
	users map[string]*testUser // ada and bob

	mu    sync.Mutex
	nodes []*clusterNode
	down  []bool // by node: killed and not restarted
}

// startFaultCluster starts Redis and n child nodes with history of
// historySize messages and the more flags given.
func startFaultCluster(t *testing.T, n, historySize int, more ...string) *faultCluster {
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	kinds := make([]nodeKind, n)
	for i := range kinds {
		kinds[i] = childProcess
	}
	extra := append([]string{"--history-size", strconv.Itoa(historySize)}, more...)
	c := startCluster(t, r.URL(), kinds, extra...)
	return &faultCluster{redis: r, args: append([]string{"--redis", r.URL()}, extra...), users: c.users, nodes: c.nodes, down: make([]bool, n)}
}

// node returns node i and whether it is up.
func (c *faultCluster) node(i int) (*clusterNode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i%len(c.nodes)], !c.down[i%len(c.nodes)]
}

// liveAddr returns the STOMP address of node i when it is up, else of the
// next one up.
func (c *faultCluster) liveAddr(i int) string {
	for k := range len(c.nodes) {
		if n, up := c.node(i + k); up {
			return n.stompAddr
		}
	}
	return ""
}

// killNode kills node i with SIGKILL.
func (c *faultCluster) killNode(t *testing.T, i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.down[i] = true
	c.mu.Unlock()
	n.kill(t)
}

// restartNode starts node i again on its data dir, on new ports.
func (c *faultCluster) restartNode(t *testing.T, i int) { c.restartNodeWith(t, i) }

// restartNodeWith starts node i again on its data dir, with more flags
// after every node's, and returns it once it is ready.
func (c *faultCluster) restartNodeWith(t *testing.T, i int, more ...string) *clusterNode {
	old, _ := c.node(i)
	proc := startChild(t, old.dataDir, append(append([]string{}, c.args...), more...)...)
	waitStatus(t, proc.url+"/readyz", 200)
	n := &clusterNode{name: old.name, id: proc.node, url: proc.url, stompAddr: proc.stompAddr, dataDir: old.dataDir, proc: proc}
	c.mu.Lock()
	c.nodes[i], c.down[i] = n, false
	c.mu.Unlock()
	return n
}

// faultPhase is one phase of a fault scenario: what the driver does as
// it begins, after which the traffic goes on for the phase's length.
type faultPhase struct {
	name  string
	fault bool // Redis or a node dies as it begins
	begin func(t *testing.T, c *faultCluster)
}

// clusterFaultPhases are the scenario's phases: steady traffic, Redis
// killed then restarted on its data, and node 2 (of 3) killed then
// restarted on its data dir.
var clusterFaultPhases = []faultPhase{
	{"steady", false, func(*testing.T, *faultCluster) {}},
	{"redis killed", true, func(_ *testing.T, c *faultCluster) { c.redis.Kill() }},
	{"redis back", false, func(_ *testing.T, c *faultCluster) { c.redis.Restart() }},
	{"node killed", true, func(t *testing.T, c *faultCluster) { c.killNode(t, 2) }},
	{"node back", false, func(t *testing.T, c *faultCluster) { c.restartNode(t, 2) }},
}

// runPhases runs phases one after the other, each for at least each,
// storing the number of the phase under way in phase: as a fault begins,
// and once a recovery is done (Redis or the node serving again), so that
// what is sent meanwhile counts in the fault's phase. It returns when
// each fault began.
func (c *faultCluster) runPhases(t *testing.T, phases []faultPhase, each time.Duration, phase *atomic.Int32) []time.Time {
	faults := make([]time.Time, len(phases))
	for i, p := range phases {
		start := time.Now()
		if p.fault {
			faults[i] = start
			phase.Store(int32(i))
		}
		p.begin(t, c)
		phase.Store(int32(i))
		t.Logf("phase %d (%s) began in %v", i, p.name, time.Since(start).Round(time.Millisecond))
		time.Sleep(each)
	}
	return faults
}
