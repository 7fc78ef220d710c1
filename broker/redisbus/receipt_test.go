package redisbus

import (
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// rounds is how many fresh destinations the receipt tests subscribe to,
// each followed at once by a publication: enough for a race to show.
const rounds = 200

// subscribeAmid subscribes c to dest as subscription id, with a receipt,
// and reads until the RECEIPT, recording the body of every MESSAGE read
// meanwhile (earlier rounds' messages) by its subscription.
func subscribeAmid(t *testing.T, c *stomptest.Client, id, dest string, got map[string][]string) {
	t.Helper()
	c.Send(stomp.SUBSCRIBE, "", "id:"+id, "destination:"+dest, "receipt:sub-"+id)
	readUntil(t, c, got, func(f *stomp.Frame) bool {
		v, _ := f.Get("receipt-id")
		return f.Command == stomp.RECEIPT && string(v) == "sub-"+id
	})
}

// readUntil reads c's frames until done holds for one, recording the
// bodies of the MESSAGEs before it by subscription.
func readUntil(t *testing.T, c *stomptest.Client, got map[string][]string, done func(*stomp.Frame) bool) {
	t.Helper()
	for {
		f, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if done(f) {
			return
		}
		if f.Command != stomp.MESSAGE {
			t.Fatalf("unexpected %s", stomptest.Dump(f))
		}
		sub, _ := f.Get("subscription")
		got[string(sub)] = append(got[string(sub)], string(f.Body))
	}
}

// freshDestination returns round i's destination as the subscriber
// "sub" names it and as a publisher does: a topic, or every other round a
// user destination of sub's.
func freshDestination(i int) (subscribeTo, sendTo string) {
	if i%2 == 1 {
		return "/user/queue/fresh-" + strconv.Itoa(i), "/user/sub/queue/fresh-" + strconv.Itoa(i)
	}
	return "/topic/fresh-" + strconv.Itoa(i), "/topic/fresh-" + strconv.Itoa(i)
}

func TestSubscribeReceiptMeansMessagesPublishedOnAnotherNodeArrive(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		subscribeThenPublishElsewhere(t, srv.URL(), []*redistest.Server{srv})
	})
	t.Run("cluster", func(t *testing.T) {
		cluster := redistest.StartCluster(t, 3)
		subscribeThenPublishElsewhere(t, cluster.URL(), cluster.Nodes)
	})
}

// subscribeThenPublishElsewhere subscribes on node b to each of rounds
// fresh destinations and, as soon as the RECEIPT is read, publishes one
// message to it on node a; b must receive every one.
func subscribeThenPublishElsewhere(t *testing.T, url string, servers []*redistest.Server) {
	a := startNode(t, url, "a", Options{})
	b := startNode(t, url, "b", Options{})
	pub, sub := a.dial(t, "pub"), b.dial(t, "sub")
	got := make(map[string][]string)
	for i := range rounds {
		subscribeTo, sendTo := freshDestination(i)
		subscribeAmid(t, sub, strconv.Itoa(i), subscribeTo, got)
		pub.Send(stomp.SEND, "first", "destination:"+sendTo)
	}
	// Every channel is subscribed by now; a second message to each closes
	// the test: one destination's messages arrive in order.
	waitFor(t, "every destination listened to", func() bool {
		n := 0
		for _, s := range servers {
			n += len(shardChannels(t, s))
		}
		return n == rounds+partitions
	})
	for i := range rounds {
		_, sendTo := freshDestination(i)
		pub.Send(stomp.SEND, "last", "destination:"+sendTo)
	}
	lasts := 0
	readUntil(t, sub, got, func(f *stomp.Frame) bool {
		if string(f.Body) == "last" {
			lasts++
		}
		return lasts == rounds
	})
	lost := 0
	for i := range rounds {
		if msgs := got[strconv.Itoa(i)]; len(msgs) == 0 || msgs[0] != "first" {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d first messages, published on another node once the SUBSCRIBE's RECEIPT arrived, were lost", lost, rounds)
	}
}

func TestSecondSubscribersReceiptWaitsForTheFirstOnesListenToo(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{})
	b := startNode(t, srv.URL(), "b", Options{})
	pub, first, second := a.dial(t, "pub"), b.dial(t, "first"), b.dial(t, "second")
	got := make(map[string][]string)
	for i := range rounds {
		id, dest := strconv.Itoa(i), "/topic/shared-"+strconv.Itoa(i)
		first.Send(stomp.SUBSCRIBE, "", "id:"+id, "destination:"+dest) // its Listen is on its way
		subscribeAmid(t, second, id, dest, got)
		pub.Send(stomp.SEND, "first", "destination:"+dest)
	}
	readAll(t, second, got)
}

// readAll reads c's MESSAGEs until every one of rounds subscriptions got
// the message sent after its RECEIPT, and fails the test if one lacks it
// for a read timeout.
func readAll(t *testing.T, c *stomptest.Client, got map[string][]string) {
	t.Helper()
	for len(got) < rounds {
		f, err := c.Next()
		if err != nil {
			t.Fatalf("%d of %d subscriptions got the message sent after their RECEIPT, then: %v", len(got), rounds, err)
		}
		sub, _ := f.Get("subscription")
		got[string(sub)] = append(got[string(sub)], string(f.Body))
	}
}

func TestSubscribeIsAnsweredPromptlyAndDeliversLocallyWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	b := startNode(t, srv.URL(), "b", Options{})
	sub, pub := b.dial(t, "sub"), b.dial(t, "pub")
	subscribe(sub, "warm", "/topic/warm") // the partitions are connected
	srv.Kill()
	start := time.Now()
	got := make(map[string][]string)
	for i := range rounds {
		id := strconv.Itoa(i)
		subscribeAmid(t, sub, id, "/topic/down-"+id, got)
		if took := time.Since(start); took >= broker.ListenWait {
			t.Fatalf("%d SUBSCRIBEs took %v with Redis down, as long as one may wait for the Bus: it should know it is disconnected", i+1, took)
		}
		pub.Send(stomp.SEND, "first", "destination:/topic/down-"+id)
	}
	readAll(t, sub, got)
}
