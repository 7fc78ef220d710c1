package redisbus

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// sequence is how many messages the order tests publish.
const sequence = 10000

// publishSequence sends n messages with bodies 0 to n-1 to dest, then one
// with body "end" and a receipt, which it waits for.
func publishSequence(c *stomptest.Client, dest string, n int) {
	var sb strings.Builder
	for i := range n {
		sb.WriteString(stomptest.Frame("SEND", strconv.Itoa(i), "destination:"+dest))
		if sb.Len() > 32<<10 {
			c.Write(sb.String())
			sb.Reset()
		}
	}
	c.Write(sb.String())
	c.Send(stomp.SEND, "end", "destination:"+dest, "receipt:end")
	c.Expect(stomp.RECEIPT, "receipt-id:end")
}

// expectSequences reads, on every client at once, the messages 0 to n-1 in
// order and then "end": each exactly once, since a duplicate or a gap
// breaks the sequence before "end".
func expectSequences(t *testing.T, n int, clients ...*stomptest.Client) {
	t.Helper()
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { errs[i] = receiveSequence(c, n) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		clients[i].Expect(stomp.MESSAGE)
	}
}

func TestTopicReachesEverySubscriberOnEveryNodeOnceInOrderWithOneCommandEach(t *testing.T) {
	t.Run("without history", func(t *testing.T) { testTopicOnThreeNodes(t, Options{}, "spublish") })
	t.Run("with history", func(t *testing.T) { testTopicOnThreeNodes(t, Options{HistorySize: 100}, "evalsha") })
}

// scriptCalls are the commands appendScript calls, which INFO commandstats
// counts besides the EVALSHA that runs it.
var scriptCalls = map[string]bool{"hmget": true, "time": true, "hset": true, "del": true, "xadd": true, "pexpire": true, "spublish": true}

// testTopicOnThreeNodes publishes a sequence on one of three nodes, whose
// subscribers must each receive it once, in order, for at most one command
// each: command, the one that carries messages.
func testTopicOnThreeNodes(t *testing.T, o Options, command string) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", o)
	b := startNode(t, srv.URL(), "b", o)
	c := startNode(t, srv.URL(), "c", o)
	const dest = "/topic/seq"
	pub := a.dial(t, "pub")
	pub.Send(stomp.SEND, "warm-up", "destination:"+dest, "receipt:w") // connects a's client
	pub.Expect(stomp.RECEIPT, "receipt-id:w")
	waitFor(t, "the warm-up published", func() bool { return commandCalls(t, srv)["spublish"] >= 1 })
	subs := []*stomptest.Client{a.dial(t, "sa"), b.dial(t, "sb"), c.dial(t, "sc")}
	for _, s := range subs {
		subscribe(s, "1", dest)
	}
	waitSubscribers(t, []*redistest.Server{srv}, dest, 3)
	for i := range partitions { // every connection is open: none is set up while counting
		waitFor(t, "the partitions connected", func() bool { return shardSubscribers(t, []*redistest.Server{srv}, serviceChannel(i)) == 3 })
	}
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	publishSequence(pub, dest, sequence)
	expectSequences(t, sequence, subs...)

	calls := commandCalls(t, srv)
	if got := calls[command]; got == 0 || got > sequence+1 || o.HistorySize == 0 && got != sequence+1 {
		t.Errorf("%s calls = %d, want one per message, %d (with history, one per batch of messages)", command, got, sequence+1)
	}
	others := 0
	for cmd, n := range calls {
		switch {
		case cmd == command, o.HistorySize > 0 && scriptCalls[cmd]:
		case cmd == "config|resetstat", cmd == "info": // the test's own
		case cmd == "ping": // rueidis's keep-alive of idle connections, per connection and not per message
		case cmd == "hello", cmd == "client|tracking", cmd == "client|setinfo": // a connection's set-up: rueidis picks one of its
			// pipelines at random for each batch, and opens it on first use
		default:
			others += n
		}
	}
	if total := calls[command] + others; total > sequence+1 {
		t.Errorf("%d commands for %d messages (%v), want at most one each", total, sequence+1, calls)
	}
	t.Logf("Redis commands for %d messages: %v", sequence+1, calls)
	for _, s := range subs {
		s.ExpectNothing(100 * time.Millisecond)
	}
}

// commandCalls returns the calls of each command since the last CONFIG
// RESETSTAT, from INFO commandstats.
func commandCalls(t *testing.T, srv *redistest.Server) map[string]int {
	t.Helper()
	out, err := srv.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	calls := make(map[string]int)
	for _, line := range strings.Split(out, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		n, _ := strings.CutPrefix(strings.Split(stats, ",")[0], "calls=")
		calls[name], _ = strconv.Atoi(n)
	}
	return calls
}

func TestUserDestinationReachesTheUsersSessionOnAnotherNode(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{})
	b := startNode(t, srv.URL(), "b", Options{})
	alice := b.dial(t, "alice")
	subscribe(alice, "dm", "/user/queue/dm")
	waitSubscribers(t, []*redistest.Server{srv}, "/user/alice/queue/dm", 1)
	bob := a.dial(t, "bob")
	bob.Send(stomp.SEND, "hello", "destination:/user/alice/queue/dm", "receipt:r")
	bob.Expect(stomp.RECEIPT, "receipt-id:r")
	f := alice.Expect(stomp.MESSAGE, "destination:/user/queue/dm", "subscription:dm")
	if string(f.Body) != "hello" {
		t.Fatalf("body %q, want hello", f.Body)
	}
	alice.ExpectNothing(100 * time.Millisecond)
}

func TestNodeListensToADestinationOnlyWhileItHasSubscribers(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{})
	b := startNode(t, srv.URL(), "b", Options{})
	const dest = "/topic/room"
	pub := a.dial(t, "pub")
	pub.Send(stomp.SEND, "nobody", "destination:"+dest, "receipt:r0")
	pub.Expect(stomp.RECEIPT, "receipt-id:r0")
	// Published before anyone listens: the RECEIPT only says a's Bus has it.
	waitFor(t, "the first message published", func() bool { return commandCalls(t, srv)["spublish"] == 1 })
	if listening(t, srv, dest) {
		t.Fatalf("%s is subscribed before any subscriber", channel(dest))
	}

	s1, s2 := b.dial(t, "s1"), b.dial(t, "s2")
	subscribe(s1, "1", dest)
	subscribe(s2, "1", dest)
	waitSubscribers(t, []*redistest.Server{srv}, dest, 1) // one connection for the node
	s1.Send(stomp.UNSUBSCRIBE, "", "id:1", "receipt:u1")
	s1.Expect(stomp.RECEIPT, "receipt-id:u1")
	pub.Send(stomp.SEND, "still", "destination:"+dest)
	s2.Expect(stomp.MESSAGE) // the node still listens for s2
	s2.Send(stomp.UNSUBSCRIBE, "", "id:1", "receipt:u2")
	s2.Expect(stomp.RECEIPT, "receipt-id:u2")
	waitFor(t, channel(dest)+" unsubscribed", func() bool { return !listening(t, srv, dest) })

	subscribe(s1, "2", dest) // and again
	waitFor(t, channel(dest)+" subscribed again", func() bool { return listening(t, srv, dest) })
}

func TestTopicAcrossNodesOnARedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	a := startNode(t, cluster.URL(), "a", Options{})
	b := startNode(t, cluster.URL(), "b", Options{})
	dests := []string{"/topic/one", "/topic/two", "/topic/three", "/user/carol/queue/dm"}
	subs := make([]*stomptest.Client, len(dests))
	for i, dest := range dests {
		subs[i] = b.dial(t, "carol")
		if strings.HasPrefix(dest, "/user/carol/") {
			subscribe(subs[i], "1", "/user/queue/dm")
		} else {
			subscribe(subs[i], "1", dest)
		}
		waitSubscribers(t, cluster.Nodes, dest, 1)
	}
	pub := a.dial(t, "pub")
	for _, dest := range dests {
		publishSequence(pub, dest, 1000)
	}
	expectSequences(t, 1000, subs...)
}
