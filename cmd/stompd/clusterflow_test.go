package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestLoginOnOneNodeTicketOnAnotherConnectOnAThird: a client logs in on
// node A, trades its token for a ticket on B and opens its WebSocket on C
// (a child process); the spent ticket opens nothing anywhere else, and
// every node counts three live nodes.
func TestLoginOnOneNodeTicketOnAnotherConnectOnAThird(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess, childProcess})
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	tok := a.login(t, c.users["ada"])
	tk := b.ticket(t, tok.Access)
	p := cc.connectWS(t, tk, tok.Access)
	p.Send(stomp.SUBSCRIBE, "", "destination:/topic/hello", "id:1", "receipt:r")
	p.Expect(stomp.RECEIPT, "receipt-id:r")
	for _, n := range []*clusterNode{a, b, cc} {
		if _, status := dialWS(t, n.wsURL+"?ticket="+tk, nil); status != http.StatusUnauthorized {
			t.Errorf("spent ticket at %v: status %d, want 401", n, status)
		}
	}
	for _, n := range c.nodes {
		waitMetric(t, n.url, "stompd_cluster_nodes", "3")
	}
}

// TestTopicAcrossNodesExactlyOnceAndInOrder: 10,000 sequence-numbered
// messages published on node A reach subscribers on A, B (a child
// process) and C exactly once each, in the publisher's order.
func TestTopicAcrossNodesExactlyOnceAndInOrder(t *testing.T) {
	const n = 10_000
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess})
	ada := c.users["ada"]
	var subs []*stomptest.Client
	for _, node := range c.nodes {
		s := node.connectTCP(t, node.login(t, ada).Access)
		s.Send(stomp.SUBSCRIBE, "", "destination:/topic/seq", "id:1", "receipt:s")
		s.Expect(stomp.RECEIPT, "receipt-id:s")
		subs = append(subs, s)
	}
	pub := c.nodes[0].connectTCP(t, c.nodes[0].login(t, ada).Access)
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { expectSequence(t, c.nodes[i], s, n) })
	}
	for i := range n {
		pub.Send(stomp.SEND, strconv.Itoa(i), "destination:/topic/seq")
	}
	pub.Send(stomp.SEND, "end", "destination:/topic/seq", "receipt:end")
	pub.Expect(stomp.RECEIPT, "receipt-id:end")
	wg.Wait()
}

// expectSequence reads n messages numbered 0 to n-1, in order, then the
// "end" message, from s, a subscriber on node.
func expectSequence(t *testing.T, node *clusterNode, s *stomptest.Client, n int) {
	for want := 0; ; want++ {
		f, err := s.Next()
		if err != nil {
			t.Errorf("subscriber on %v after %d messages: %v", node, want, err)
			return
		}
		body := string(f.Body)
		switch {
		case body == "end" && want == n:
			return
		case body != strconv.Itoa(want):
			t.Errorf("subscriber on %v: message %d is %q: lost, repeated or out of order", node, want, body)
			return
		}
	}
}

// TestDirectMessageAcrossNodes: bob's sessions on nodes B and C receive
// what ada sends on node A to bob's /user/ destination, once each.
func TestDirectMessageAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess})
	bobID := c.nodes[0].srv.users["bob"].id
	var inbox []*stomptest.Client
	for _, n := range c.nodes[1:] {
		s := n.connectTCP(t, n.login(t, c.users["bob"]).Access)
		s.Send(stomp.SUBSCRIBE, "", "destination:/user/queue/dm", "id:1", "receipt:s")
		s.Expect(stomp.RECEIPT, "receipt-id:s")
		inbox = append(inbox, s)
	}
	a := c.nodes[0]
	p := a.connectTCP(t, a.login(t, c.users["ada"]).Access)
	p.Send(stomp.SEND, "hi bob", "destination:/user/"+bobID+"/queue/dm", "receipt:dm")
	p.Expect(stomp.RECEIPT, "receipt-id:dm")
	for _, s := range inbox {
		f := s.Expect(stomp.MESSAGE, "destination:/user/queue/dm")
		if string(f.Body) != "hi bob" {
			t.Errorf("DM body %q, want hi bob", f.Body)
		}
		s.ExpectNothing(200 * time.Millisecond)
	}
}

// TestQueueAcrossThreeNodesOnceWithAckAndNack: consumers on three nodes
// share one queue; 300 messages are each acknowledged exactly once in all,
// and every tenth, NACKed the first time, comes back marked redelivered.
func TestQueueAcrossThreeNodesOnceWithAckAndNack(t *testing.T) {
	const n = 300
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess})
	ada := c.users["ada"]
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, node := range c.nodes {
		s := node.connectTCP(t, node.login(t, ada).Access)
		s.Send(stomp.SUBSCRIBE, "", "destination:/queue/work", "id:1", "ack:client-individual", "prefetch-count:20", "receipt:s")
		s.Expect(stomp.RECEIPT, "receipt-id:s")
		wg.Go(func() { consumeQueue(t, node, s, &mu, acked, done) })
	}
	p := c.nodes[1].connectTCP(t, c.nodes[1].login(t, ada).Access)
	for i := range n {
		p.Send(stomp.SEND, strconv.Itoa(i), "destination:/queue/work", "receipt:"+strconv.Itoa(i))
	}
	for i := range n {
		p.Expect(stomp.RECEIPT, "receipt-id:"+strconv.Itoa(i))
	}
	waitUntil(t, 30*time.Second, "every message acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == n
	})
	close(done)
	wg.Wait()
	for body, times := range acked {
		if times != 1 {
			t.Errorf("message %s acknowledged %d times", body, times)
		}
	}
}

// consumeQueue acknowledges what s receives, except that it NACKs every
// tenth message the first time, and checks that the NACKed ones come back
// redelivered. It stops when done is closed.
func consumeQueue(t *testing.T, node *clusterNode, s *stomptest.Client, mu *sync.Mutex, acked map[string]int, done <-chan struct{}) {
	s.Timeout = 200 * time.Millisecond
	for {
		select {
		case <-done:
			return
		default:
		}
		f, err := s.Next()
		if err != nil {
			if isTimeout(err) {
				continue
			}
			t.Errorf("consumer on %v: %v", node, err)
			return
		}
		body := string(f.Body)
		i, _ := strconv.Atoi(body)
		if i%10 == 0 && f.Value("redelivered") != "true" {
			s.Send(stomp.NACK, "", "id:"+f.Value("ack"))
			continue
		}
		s.Send(stomp.ACK, "", "id:"+f.Value("ack"))
		mu.Lock()
		acked[body]++
		mu.Unlock()
	}
}

// TestKilledNodesUnackedMessagesGoToALiveNodeWithin30s: a consumer on a
// child node holds five unacknowledged messages when the node is killed
// with SIGKILL; a consumer on another node receives all five, marked
// redelivered, within 30 seconds.
func TestKilledNodesUnackedMessagesGoToALiveNodeWithin30s(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess})
	a, b := c.nodes[0], c.nodes[1]
	ada := c.users["ada"]
	held := b.connectTCP(t, b.login(t, ada).Access)
	held.Send(stomp.SUBSCRIBE, "", "destination:/queue/crash", "id:1", "ack:client", "prefetch-count:5", "receipt:s")
	held.Expect(stomp.RECEIPT, "receipt-id:s")
	p := a.connectTCP(t, a.login(t, ada).Access)
	for i := range 5 {
		p.Send(stomp.SEND, strconv.Itoa(i), "destination:/queue/crash", "receipt:r")
		p.Expect(stomp.RECEIPT)
	}
	for range 5 {
		held.Expect(stomp.MESSAGE)
	}
	other := a.connectTCP(t, a.login(t, ada).Access)
	other.Send(stomp.SUBSCRIBE, "", "destination:/queue/crash", "id:1", "ack:auto", "receipt:s")
	other.Expect(stomp.RECEIPT, "receipt-id:s")
	other.ExpectNothing(300 * time.Millisecond)
	b.kill(t)
	killed := time.Now()
	other.Timeout = 30 * time.Second
	got := map[string]bool{}
	for range 5 {
		f := other.Expect(stomp.MESSAGE, "redelivered:true")
		got[string(f.Body)] = true
	}
	t.Logf("5 messages redelivered %v after kill -9", time.Since(killed).Round(time.Millisecond))
	if len(got) != 5 {
		t.Errorf("redelivered %v, want 5 distinct messages", got)
	}
}

// waitMetric waits until the /metrics of the node at url show series with
// value want.
func waitMetric(t *testing.T, url, series, want string) {
	t.Helper()
	var got string
	waitUntil(t, 15*time.Second, fmt.Sprintf("%s = %s at %s", series, want, url), func() bool {
		got = sampleValue(metricsText(t, url), series)
		return got == want
	})
}

// TestRedisOutageUnderTraffic: while Redis is down, every node answers
// /readyz 503 and the auth API 503 {"error":"unavailable"}, and keeps
// serving its own sessions and their local fan-out; once Redis is back,
// readiness, logins and cross-node delivery return by themselves, and the
// topic messages sent meanwhile reach the other node; a RECEIPT asked
// meanwhile waits for Redis, but holds back none of the SENDs after it. Redis
// runs with the persistence the README asks for, so that it comes back
// with the users.
func TestRedisOutageUnderTraffic(t *testing.T) {
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess})
	a, b := c.nodes[0], c.nodes[1]
	ada := c.users["ada"]
	tok := a.login(t, ada)
	pub, local := a.connectTCP(t, tok.Access), a.connectTCP(t, tok.Access)
	remote := b.connectTCP(t, b.login(t, ada).Access)
	for _, s := range []*stomptest.Client{local, remote} {
		s.Send(stomp.SUBSCRIBE, "", "destination:/topic/live", "id:1", "receipt:s")
		s.Expect(stomp.RECEIPT, "receipt-id:s")
	}
	pub.Send(stomp.SEND, "before", "destination:/topic/live")
	local.Expect(stomp.MESSAGE)
	remote.Expect(stomp.MESSAGE)

	r.Kill()
	c.waitReadyz(t, http.StatusServiceUnavailable, 5*time.Second)
	for _, n := range c.nodes {
		var e struct{ Error string }
		resp := httpJSON(t, "POST", n.url+"/auth/login", map[string]string{"email": ada.email, "password": ada.password}, &e)
		if resp.StatusCode != http.StatusServiceUnavailable || e.Error != "unavailable" {
			t.Errorf("login at %v with Redis down: %d %q, want 503 unavailable", n, resp.StatusCode, e.Error)
		}
	}
	// The first asks for a RECEIPT, which waits for Redis: the SENDs after
	// it are not held back, and reach the local subscriber meanwhile.
	pub.Send(stomp.SEND, "during 0", "destination:/topic/live", "receipt:d")
	for i := range 10 {
		if i > 0 {
			pub.Send(stomp.SEND, "during "+strconv.Itoa(i), "destination:/topic/live")
		}
		if f := local.Expect(stomp.MESSAGE); string(f.Body) != "during "+strconv.Itoa(i) {
			t.Fatalf("local delivery with Redis down: %q", f.Body)
		}
	}

	r.Restart()
	c.waitReadyz(t, http.StatusOK, 10*time.Second)
	b.login(t, ada)
	// The messages sent while Redis was down waited in a's outbox: once it
	// is back they are kept, the RECEIPT comes, and they reach b, in order,
	// and a's subscriber, which had them, not again (expectNumbered).
	pub.Expect(stomp.RECEIPT, "receipt-id:d")
	for i := range 10 {
		if f := remote.Expect(stomp.MESSAGE); string(f.Body) != "during "+strconv.Itoa(i) {
			t.Fatalf("remote delivery once Redis is back: %q, want %q", f.Body, "during "+strconv.Itoa(i))
		}
	}
	// Once Redis is back, every message is kept in the topic's history and
	// reaches both nodes, once and in order, numbered one after the other;
	// a node whose partition subscribes again meanwhile catches it up.
	const after = 20
	for i := range after {
		pub.Send(stomp.SEND, "after "+strconv.Itoa(i), "destination:/topic/live", "receipt:a"+strconv.Itoa(i))
		pub.Expect(stomp.RECEIPT)
	}
	pub.Send(stomp.SEND, "end", "destination:/topic/live")
	for name, s := range map[string]*stomptest.Client{"local": local, "remote": remote} {
		expectNumbered(t, name, s, after)
	}
}

// expectNumbered reads from s n MESSAGEs "after 0" to "after n-1", with
// offsets one after the other, and then "end", with no message between.
func expectNumbered(t *testing.T, name string, s *stomptest.Client, n int) {
	t.Helper()
	var offset uint64
	for i := range n {
		f := s.Expect(stomp.MESSAGE)
		o, err := strconv.ParseUint(f.Value("x-stream-offset"), 10, 64)
		if string(f.Body) != "after "+strconv.Itoa(i) || err != nil || i > 0 && o != offset+1 {
			t.Fatalf("%s: message %d after Redis returned is %q at offset %q (the one before at %d), want %q at the next offset",
				name, i, f.Body, f.Value("x-stream-offset"), offset, "after "+strconv.Itoa(i))
		}
		offset = o
	}
	if f := s.Expect(stomp.MESSAGE); string(f.Body) != "end" {
		t.Fatalf("%s: got %q after the last message, want \"end\"", name, f.Body)
	}
}

// TestNodesOnARedisCluster: two nodes on a Redis Cluster of three
// masters: login on one and a ticket on the other, a topic and a queue
// across them, and a logout that closes the other node's session.
func TestNodesOnARedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	c := startCluster(t, rc.URL(), []nodeKind{inProcess, inProcess})
	a, b := c.nodes[0], c.nodes[1]
	ada := c.users["ada"]
	tok := a.login(t, ada)
	sub := b.connectWS(t, b.ticket(t, tok.Access), tok.Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/topic/news", "id:1", "receipt:s1")
	sub.Expect(stomp.RECEIPT, "receipt-id:s1")
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/jobs", "id:2", "ack:client-individual", "receipt:s2")
	sub.Expect(stomp.RECEIPT, "receipt-id:s2")
	pub := a.connectTCP(t, a.login(t, ada).Access)
	pub.Send(stomp.SEND, "news", "destination:/topic/news")
	pub.Send(stomp.SEND, "job", "destination:/queue/jobs", "receipt:q")
	pub.Expect(stomp.RECEIPT, "receipt-id:q")
	got := map[string]string{}
	for range 2 {
		f := sub.Expect(stomp.MESSAGE)
		got[f.Value("destination")] = string(f.Body)
		if f.Value("ack") != "" {
			sub.Send(stomp.ACK, "", "id:"+f.Value("ack"))
		}
	}
	if got["/topic/news"] != "news" || got["/queue/jobs"] != "job" {
		t.Errorf("received %v across nodes on a Redis Cluster", got)
	}
	if resp := httpJSON(t, "POST", a.url+"/auth/logout", map[string]string{"refresh_token": tok.Refresh}, nil,
		"Authorization", "Bearer "+tok.Access); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	expectRevokedWithin(t, time.Now(), sub)
}

// TestConsumersOfManyQueuesHoldBoundedRedisConnections: one client that
// consumes 100 queues makes its node hold at most redisQueueReads more
// connections to Redis, not one per queue, each queue still gets its
// message, and the queues take turns without giving up reads half done:
// a read abandoned in Redis closes its connection and opens another.
func TestConsumersOfManyQueuesHoldBoundedRedisConnections(t *testing.T) {
	const queues = 100
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess})
	a := c.nodes[0]
	before, opened := settledConns(t, r)
	s := a.connectTCP(t, a.login(t, c.users["ada"]).Access)
	for i := range queues {
		s.Send(stomp.SUBSCRIBE, "", "destination:/queue/many."+strconv.Itoa(i), "id:"+strconv.Itoa(i))
	}

	p := a.connectTCP(t, a.login(t, c.users["ada"]).Access)
	for i := range queues {
		p.Send(stomp.SEND, strconv.Itoa(i), "destination:/queue/many."+strconv.Itoa(i), "receipt:"+strconv.Itoa(i))
		p.Expect(stomp.RECEIPT)
	}
	s.Timeout = 30 * time.Second
	got := map[string]bool{}
	for range queues {
		got[string(s.Expect(stomp.MESSAGE).Body)] = true
	}
	if len(got) != queues {
		t.Errorf("received %d distinct messages of %d queues", len(got), queues)
	}
	// Every reader keeps reading (its consumer has credit left) for a few
	// more turns.
	time.Sleep(3 * time.Second)
	after, reopened := redisConns(t, r)
	if after > before+redisQueueReads {
		t.Errorf("Redis clients %d → %d with %d queues consumed: want at most %d more", before, after, queues, redisQueueReads)
	}
	// The connection that asked for the figures counts itself.
	if n := reopened - opened - 1; n > redisQueueReads {
		t.Errorf("the node opened %d connections to Redis to read %d queues: want at most %d", n, queues, redisQueueReads)
	}
}

// settledConns returns redisConns once the node has stopped opening
// connections (its bus partitions connect in the background after start):
// none but the asking one for a second, or after 10 s.
func settledConns(t *testing.T, r *redistest.Server) (connected, received int) {
	t.Helper()
	connected, received = redisConns(t, r)
	for quiet, deadline := 0, time.Now().Add(10*time.Second); quiet < 4 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		c, n := redisConns(t, r)
		if n == received+1 {
			quiet++
		} else {
			quiet = 0
		}
		connected, received = c, n
	}
	return connected, received
}

// redisConns returns how many clients Redis has connected and how many
// connections it has accepted since it started, this one included.
func redisConns(t *testing.T, r *redistest.Server) (connected, received int) {
	t.Helper()
	info, err := r.Do("INFO")
	if err != nil {
		t.Fatal(err)
	}
	stat := func(name string) int {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatalf("no %s in INFO: %q", name, info)
		return 0
	}
	return stat("connected_clients"), stat("total_connections_received")
}
