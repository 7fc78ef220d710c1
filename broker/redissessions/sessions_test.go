package redissessions

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestMain checks for leaked goroutines (see redistest.VerifyNoLeaks).
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// wait bounds every wait of a test; generous, since the machine is shared.
const wait = 30 * time.Second

// members is a membership the test decides.
type members struct {
	mu    sync.Mutex
	nodes []string
}

func (m *members) Nodes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.nodes)
}

func (m *members) set(nodes ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes = nodes
}

// node is one stompd node of a test: an anonymous broker on a real
// listener, whose Sessions runs on its own Redis client.
type node struct {
	id   string
	b    *broker.Broker
	s    *Sessions
	addr string
}

// startNode starts node id on the Redis at url with membership m, waiting
// wait for the other nodes.
func startNode(t *testing.T, url, id string, m *members, wait time.Duration) *node {
	t.Helper()
	n := &node{id: id, s: New(redistest.Client(t, url), Options{Node: id, Nodes: m.Nodes, Wait: wait})}
	var err error
	if n.b, err = broker.New(broker.Options{AllowAnonymous: true}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- n.b.Serve(l) }()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { n.s.Run(ctx, n.b); close(ran) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		sctx, scancel := context.WithTimeout(context.Background(), wait)
		defer scancel()
		n.b.Shutdown(sctx)
		<-served
	})
	return n
}

// connect opens a STOMP session on n as login.
func (n *node) connect(t *testing.T, login string) *stomptest.Client {
	t.Helper()
	c := stomptest.Dial(t, n.addr)
	c.Connect("login:" + login)
	return c
}

// list lists from n, failing the test on an error.
func (n *node) list(t *testing.T, q broker.SessionQuery) Listing {
	t.Helper()
	l, err := n.s.List(context.Background(), n.b, q)
	if err != nil {
		t.Fatalf("List from %s: %v", n.id, err)
	}
	return l
}

// answering waits until each node's requests are answered by the other,
// which follows the request channel once its subscription is confirmed.
func answering(t *testing.T, n1, n2 *node) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; {
		l1, l2 := n1.list(t, broker.SessionQuery{}), n2.list(t, broker.SessionQuery{})
		if len(l1.Missing)+len(l2.Missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes do not answer each other: %v, %v", l1.Missing, l2.Missing)
		}
	}
}

// rows is a listing's sessions as node/subject pairs.
func rows(l Listing) []string {
	var out []string
	for _, r := range l.Sessions {
		out = append(out, r.Node+"/"+r.Subject)
	}
	return out
}

// onTwoNodes runs test with two nodes, n1 and n2, both alive to m, on each
// Redis deployment a cluster test runs on: a single Redis 7 and a Redis
// Cluster of three masters.
func onTwoNodes(t *testing.T, test func(t *testing.T, m *members, n1, n2 *node)) {
	for name, start := range map[string]func(t *testing.T) string{
		"one Redis":            func(t *testing.T) string { return redistest.Start(t).URL() },
		"cluster of 3 masters": func(t *testing.T) string { return redistest.StartCluster(t, 3).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			m := &members{nodes: []string{"n1", "n2"}}
			n1, n2 := startNode(t, url, "n1", m, time.Second), startNode(t, url, "n2", m, time.Second)
			answering(t, n1, n2)
			test(t, m, n1, n2)
		})
	}
}

// TestListAcrossNodes lists the sessions of two nodes from either one:
// each row names its node, the filter and the limit apply to the whole
// cluster, and Total counts what the limit cut.
func TestListAcrossNodes(t *testing.T) {
	onTwoNodes(t, func(t *testing.T, m *members, n1, n2 *node) {
		n1.connect(t, "ada")
		n2.connect(t, "bob")
		n2.connect(t, "ada")
		for _, from := range []*node{n1, n2} {
			l := from.list(t, broker.SessionQuery{})
			if got, want := rows(l), []string{"n1/ada", "n2/bob", "n2/ada"}; !slices.Equal(got, want) || l.Total != 3 {
				t.Errorf("from %s: %v (total %d), want %v", from.id, got, l.Total, want)
			}
			if !slices.Equal(l.Nodes, []string{"n1", "n2"}) || len(l.Missing) != 0 {
				t.Errorf("from %s: nodes %v, missing %v", from.id, l.Nodes, l.Missing)
			}
			if got := rows(from.list(t, broker.SessionQuery{Subject: "ada"})); !slices.Equal(got, []string{"n1/ada", "n2/ada"}) {
				t.Errorf("from %s, ada's: %v", from.id, got)
			}
			if l := from.list(t, broker.SessionQuery{Limit: 2}); !slices.Equal(rows(l), []string{"n1/ada", "n2/bob"}) || l.Total != 3 {
				t.Errorf("from %s, limit 2: %v (total %d)", from.id, rows(l), l.Total)
			}
		}
	})
}

// TestDeadNodeIsReportedMissing lists while the membership still counts a
// node that never answers (one killed a moment ago): the others' sessions
// come after the wait, not later, with that node missing.
func TestDeadNodeIsReportedMissing(t *testing.T) {
	url := redistest.Start(t).URL()
	m := &members{}
	const patience = 300 * time.Millisecond
	n1 := startNode(t, url, "n1", m, patience)
	startNode(t, url, "n2", m, patience).connect(t, "bob")
	m.set("n1", "n2", "dead")
	start := time.Now()
	l := n1.list(t, broker.SessionQuery{})
	took := time.Since(start)
	if !slices.Equal(l.Missing, []string{"dead"}) || !slices.Equal(l.Nodes, []string{"n1", "n2"}) || !slices.Equal(rows(l), []string{"n2/bob"}) {
		t.Errorf("with a dead node: %+v", l)
	}
	if took < patience || took > patience+2*time.Second {
		t.Errorf("List took %v, want about the wait, %v", took, patience)
	}
}

// TestRedisDownFailsTheListing stops Redis: List fails with
// ErrUnavailable rather than answering for this node alone.
func TestRedisDownFailsTheListing(t *testing.T) {
	r := redistest.Start(t)
	m := &members{nodes: []string{"n1"}}
	n1 := startNode(t, r.URL(), "n1", m, time.Second)
	n1.connect(t, "ada")
	if l := n1.list(t, broker.SessionQuery{}); !slices.Equal(rows(l), []string{"n1/ada"}) {
		t.Fatalf("alone: %v", rows(l))
	}
	r.Kill()
	if _, err := n1.s.List(context.Background(), n1.b, broker.SessionQuery{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("List with Redis down: %v, want ErrUnavailable", err)
	}
}
