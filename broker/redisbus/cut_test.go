package redisbus

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// cutDest is the topic of the cut tests: node a has a subscriber of it,
// node b none until Redis is out of b's reach.
const cutDest = "/topic/cut"

// keptBefore has a's subscriber get 5 messages of cutDest, kept, and
// waits until b heard the partition's clock of the last of them: what b
// knows when it loses Redis. It returns a's publisher and subscriber.
func keptBefore(t *testing.T, a, b *node) (*stomptest.Client, *resumer) {
	t.Helper()
	r := &resumer{t: t, n: a, dest: cutDest}
	r.subscribe()
	pub := a.dial(t, "pub-a")
	sendNumbers(pub, cutDest, "", 5, "before")
	pub.Expect(stomp.RECEIPT, "receipt-id:before")
	r.read(5)
	k := &b.bus.parts[partitionOf(cutDest)].clk
	waitFor(t, "b hearing the clock of the 5th message", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.at.offset == 5
	})
	return pub, r
}

// subscribeOnB subscribes a client to cutDest on b, which cannot reach
// Redis, with the extra headers, and checks that the RECEIPT gives it no
// place: no epoch, nothing recovered of a resume.
func subscribeOnB(t *testing.T, b *node, headers ...string) *stomptest.Client {
	t.Helper()
	c := b.dial(t, "late")
	c.Send(stomp.SUBSCRIBE, "", append([]string{"id:1", "destination:" + cutDest, "receipt:sub"}, headers...)...)
	f := c.Expect(stomp.RECEIPT, "receipt-id:sub")
	if f.Value("x-stream-epoch") != "" || len(headers) > 0 && f.Value("x-recovered") != "false" {
		t.Fatalf("subscribing while Redis is out of reach: %s, want no epoch (nor x-recovered:true)", stomptest.Dump(f))
	}
	return c
}

// expectExactly checks that c gets the MESSAGEs of bodies want, in order,
// at consecutive offsets of one epoch, and then nothing for a second.
func expectExactly(t *testing.T, c *stomptest.Client, want ...string) {
	t.Helper()
	var got []string
	var offsets []uint64
	c.Timeout = wait
	for range want {
		f, err := c.Next()
		if err != nil {
			t.Fatalf("got %v, then %v; want %v", got, err, want)
		}
		got = append(got, string(f.Body))
		o, _ := strconv.ParseUint(f.Value("x-stream-offset"), 10, 64)
		offsets = append(offsets, o)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v (the messages kept before the subscriber came are not replayed)", got, want)
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] != offsets[i-1]+1 {
			t.Fatalf("offsets %v, want consecutive", offsets)
		}
	}
	c.ExpectNothing(time.Second)
}

// subscribedInOutage is the known defect's scene, on a Redis started with
// args: node a keeps 5 messages for its subscriber, Redis dies, a client
// subscribes on node b, which has no subscriber of the topic (resuming
// from the offset a's subscriber had, when resume, and answered
// x-recovered:false), a sends 2 messages while Redis is down (kept from
// its outbox once Redis is back, after the SUBSCRIBE) and 2 once it is
// back. The client must get those 4, each once and in order, and none of
// the 5 kept before it came.
func subscribedInOutage(t *testing.T, resume bool, args ...string) {
	srv := redistest.Start(t, args...)
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	b := startNode(t, srv.URL(), "b", Options{HistorySize: 100})
	pub, r := keptBefore(t, a, b)
	srv.Kill()
	var headers []string
	if resume {
		headers = []string{"x-stream-offset:offset=" + r.offset, "x-stream-epoch:" + r.epoch}
	}
	c := subscribeOnB(t, b, headers...)
	sendNumbers(pub, cutDest, "down", 2, "down")
	srv.Restart()
	pub.Expect(stomp.RECEIPT, "receipt-id:down")
	sendNumbers(pub, cutDest, "after", 2, "after")
	pub.Expect(stomp.RECEIPT, "receipt-id:after")
	expectExactly(t, c, "down0", "down1", "after0", "after1")
}

// TestResumeNotMetWhileRedisIsDownReplaysNothingKeptBefore: Redis comes
// back from its append-only file, and the client resumed from another
// node's offset.
func TestResumeNotMetWhileRedisIsDownReplaysNothingKeptBefore(t *testing.T) {
	subscribedInOutage(t, true, "--appendonly", "yes", "--appendfsync", "always")
}

// TestSubscribeWhileRedisIsDownReplaysNothingKeptBefore: the same with a
// plain SUBSCRIBE.
func TestSubscribeWhileRedisIsDownReplaysNothingKeptBefore(t *testing.T) {
	subscribedInOutage(t, false, "--appendonly", "yes", "--appendfsync", "always")
}

// TestSubscribeWhileRedisLostItsDataGetsAllKeptAfter: Redis comes back
// without its data (no persistence), so everything it keeps from then on
// came after the SUBSCRIBE, whatever the cut b had of the lost clock.
func TestSubscribeWhileRedisLostItsDataGetsAllKeptAfter(t *testing.T) {
	subscribedInOutage(t, false)
}

// TestSubscribeWhileOnlyThisNodeLostRedis cuts node b alone off Redis (its
// ACL user disabled and its connections killed) while node a goes on
// keeping messages: 2 before a client subscribes on b, 3 after. Once b is
// let in again, the client gets the 3, and the 2 as well: b's cut is
// where b lost Redis, and the SUBSCRIBE's place among what a kept
// meanwhile is not known without comparing clocks, so the cut errs on the
// side of repeating, never of losing. None of the 5 kept before b lost
// Redis comes.
func TestSubscribeWhileOnlyThisNodeLostRedis(t *testing.T) {
	srv := redistest.Start(t)
	acl := func(rules ...string) { setUser(t, srv, "nodeb", rules...) }
	acl("on", ">secret", "~*", "&*", "+@all")
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	b := startNode(t, "redis://nodeb:secret@"+srv.Addr, "b", Options{HistorySize: 100})
	pub, _ := keptBefore(t, a, b)

	acl("off")
	if _, err := srv.Do("CLIENT", "KILL", "USER", "nodeb"); err != nil {
		t.Fatal(err)
	}
	service := serviceChannel(partitionOf(cutDest))
	waitFor(t, "b no longer subscribed", func() bool {
		return shardSubscribers(t, []*redistest.Server{srv}, service) == 1
	})
	sendNumbers(pub, cutDest, "gap", 2, "gap")
	pub.Expect(stomp.RECEIPT, "receipt-id:gap")
	c := subscribeOnB(t, b)
	sendNumbers(pub, cutDest, "late", 3, "late")
	pub.Expect(stomp.RECEIPT, "receipt-id:late")
	acl("on")
	expectExactly(t, c, "gap0", "gap1", "late0", "late1", "late2")
}

// TestClockCut checks the rules of a partition's cut without Redis: it is
// the clock heard when the last connection that caught up ended, and
// applies only once the current connection heard the clock in its life.
func TestClockCut(t *testing.T) {
	var k clock
	check := func(what string, want uint64, wantOK bool) {
		t.Helper()
		if got, ok := k.cutOf(); got != want || ok != wantOK {
			t.Errorf("%s: cut %d, %v; want %d, %v", what, got, ok, want, wantOK)
		}
	}
	k.hear(position{"L", 3})
	k.hear(position{"L", 7})
	k.hear(position{"L", 5}) // an older one, late
	check("no connection ended yet", 0, false)
	k.caught()
	k.ended()
	check("the new connection heard nothing yet", 7, false)
	k.hear(position{"L", 9})
	check("the new connection heard the clock", 7, true)
	k.ended() // it did not catch up: its clock is no cut
	k.hear(position{"L", 12})
	check("after a connection that did not catch up", 7, true)
	k.caught()
	k.ended()
	k.hear(position{"M", 1}) // Redis lost its data
	check("a clock of another life", 12, false)
	k.caught()
	k.ended()
	k.hear(position{})
	check("a clock that does not exist", 1, false)
}
