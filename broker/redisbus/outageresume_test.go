package redisbus

import (
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// sendNumbers has c send dest the bodies prefix0 to prefix(n-1), the last
// asking for RECEIPT receipt, without waiting for it.
func sendNumbers(c *stomptest.Client, dest, prefix string, n int, receipt string) {
	for i := range n {
		h := []string{"destination:" + dest}
		if i == n-1 {
			h = append(h, "receipt:"+receipt)
		}
		c.Send(stomp.SEND, prefix+strconv.Itoa(i), h...)
	}
}

// bodies reads n MESSAGEs from c and returns their bodies, sorted.
func bodies(c *stomptest.Client, n int) []string {
	var got []string
	for range n {
		got = append(got, string(c.Expect(stomp.MESSAGE).Body))
	}
	slices.Sort(got)
	return got
}

// TestResumeNotMetWhileRedisIsDownMissesNothingSentAfterItsReceipt is the
// fault soak's subscriber whose reconnection straddles Redis's death:
// it leaves node b, messages from node a are kept and reach b's other
// subscriber, Redis dies, and it resumes on b. The history is out of
// reach: the RECEIPT says x-recovered:false and, as SPEC §7 says, nothing
// is replayed, then or once Redis is back; what it missed while away is
// lost to it. Every message sent after its RECEIPT, from a and from b
// itself, reaches it once Redis is back, once, as it reaches the
// subscriber that stayed.
func TestResumeNotMetWhileRedisIsDownMissesNothingSentAfterItsReceipt(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	b := startNode(t, srv.URL(), "b", Options{HistorySize: 100})
	const dest = "/topic/straddle"
	stay := b.dial(t, "stay")
	subscribe(stay, "1", dest)
	r := &resumer{t: t, n: b, dest: dest}
	r.subscribe()
	pubA := a.dial(t, "pub-a")
	sendNumbers(pubA, dest, "", 5, "up")
	pubA.Expect(stomp.RECEIPT, "receipt-id:up")
	r.read(5)
	r.c.Send(stomp.DISCONNECT, "", "receipt:bye")
	r.c.Expect(stomp.RECEIPT, "receipt-id:bye")
	sendNumbers(pubA, dest, "away", 3, "away") // kept, while it is away
	pubA.Expect(stomp.RECEIPT, "receipt-id:away")
	if got := bodies(stay, 8); got[7] != "away2" {
		t.Fatalf("the subscriber that stayed got %v", got)
	}

	srv.Kill()
	c := b.dial(t, "resumer")
	c.Send(stomp.SUBSCRIBE, "", "id:1", "destination:"+dest, "receipt:sub",
		"x-stream-offset:offset="+r.offset, "x-stream-epoch:"+r.epoch)
	if f := c.Expect(stomp.RECEIPT, "receipt-id:sub"); f.Value("x-recovered") != "false" {
		t.Fatalf("resuming while Redis is down: %s, want x-recovered:false", stomptest.Dump(f))
	}
	pubB := b.dial(t, "pub-b")
	sendNumbers(pubA, dest, "a", 3, "down")
	sendNumbers(pubB, dest, "b", 3, "down")
	srv.Restart()
	pubA.Expect(stomp.RECEIPT, "receipt-id:down")
	pubB.Expect(stomp.RECEIPT, "receipt-id:down")
	want := []string{"a0", "a1", "a2", "b0", "b1", "b2"}
	for who, sub := range map[string]*stomptest.Client{"resumed": c, "stayed": stay} {
		if got := bodies(sub, len(want)); !slices.Equal(got, want) {
			t.Errorf("the subscriber that %s got %v after Redis came back, want %v", who, got, want)
		}
		sub.ExpectNothing(time.Second)
	}
}

// TestACatchUpThatFailsIsTriedAgain has node b's partitions subscribe
// again while Redis refuses them the read of the topics' history (as
// while Redis loads its append-only file, which takes SSUBSCRIBE and
// refuses scripts): the messages kept while b was not subscribed reach
// b's subscriber all the same, once the read succeeds, before those
// that come after, each once.
func TestACatchUpThatFailsIsTriedAgain(t *testing.T) {
	srv := redistest.Start(t)
	var logged logCount
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	b := startNode(t, srv.URL(), "b", Options{HistorySize: 100, Logger: slog.New(&logged)})
	const dest = "/topic/retried"
	sub := b.dial(t, "sub")
	subscribe(sub, "1", dest)
	pub := a.dial(t, "pub")
	sendNumbers(pub, dest, "up", 1, "up")
	pub.Expect(stomp.RECEIPT, "receipt-id:up")
	sub.Expect(stomp.MESSAGE, "x-stream-offset:1")

	acl := func(rules ...string) { setUser(t, srv, "default", rules...) }
	acl("-ssubscribe", "-evalsha_ro", "-eval_ro")
	if _, err := srv.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b no longer listening", func() bool { return !listening(t, srv, dest) })
	sendNumbers(pub, dest, "gap", 3, "gap") // kept while b does not listen
	pub.Expect(stomp.RECEIPT, "receipt-id:gap")
	acl("+ssubscribe")
	waitFor(t, "b's catch-up failing", func() bool { return logged.count("catching up a topic's history failed") > 0 })
	acl("+evalsha_ro", "+eval_ro")
	sendNumbers(pub, dest, "after", 1, "after")
	pub.Expect(stomp.RECEIPT, "receipt-id:after")
	for i, want := range []string{"gap0", "gap1", "gap2", "after0"} {
		if f := sub.Expect(stomp.MESSAGE); string(f.Body) != want || f.Value("x-stream-offset") != strconv.Itoa(i+2) {
			t.Fatalf("got %s, want %s at offset %d", stomptest.Dump(f), want, i+2)
		}
	}
	sub.ExpectNothing(time.Second)
}
