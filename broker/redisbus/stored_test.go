package redisbus

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestTopicReceiptMeansKeptInRedis sends messages to a topic with history,
// the last with a receipt: once its RECEIPT is read, the stream holds every
// one of them.
func TestTopicReceiptMeansKeptInRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 1000})
	pub := a.dial(t, "pub")
	const dest, n = "/topic/kept", 200
	for i := range n {
		h := []string{"destination:" + dest}
		if i == n-1 {
			h = append(h, "receipt:r")
		}
		pub.Send(stomp.SEND, strconv.Itoa(i), h...)
	}
	pub.Expect(stomp.RECEIPT, "receipt-id:r")
	if got, err := srv.Do("XLEN", historyKey(dest)); err != nil || got != strconv.Itoa(n) {
		t.Fatalf("XLEN once the RECEIPT came = %q (%v), want %d", got, err, n)
	}
}

// TestTopicReceiptWaitsForRedisToComeBack sends messages to a topic with
// history while Redis is down, the last with a receipt: the subscriber on
// the same node gets them at once, the RECEIPT comes once Redis is back,
// and then the subscriber on the other node has every one, once, in order,
// and the first one none again.
func TestTopicReceiptWaitsForRedisToComeBack(t *testing.T) {
	const dest, n = "/topic/outbox", 50
	sent := sendWhileDown(t, dest, n, func(i int) string {
		if i == n-1 {
			return "r"
		}
		return ""
	})
	srv, a, near, far, pub := sent.srv, sent.a, sent.near, sent.far, sent.pub
	pub.ExpectNothing(300 * time.Millisecond)
	srv.Restart()
	pub.Expect(stomp.RECEIPT, "receipt-id:r")
	if got, err := srv.Do("XLEN", historyKey(dest)); err != nil || got != strconv.Itoa(n) {
		t.Fatalf("XLEN once the RECEIPT came = %q (%v), want %d", got, err, n)
	}
	if err := receiveSequence(far, n); err != nil {
		t.Fatalf("on the other node: %v", err)
	}
	far.ExpectNothing(300 * time.Millisecond)
	near.ExpectNothing(300 * time.Millisecond)
	if d := a.dropped(metrics.DropClusterUnavailable) + a.dropped(metrics.DropClusterOutbox); d != 0 {
		t.Errorf("%v counted as dropped, want none", d)
	}
}

// TestPublisherAskingReceiptsKeepsLocalFanOutWhileRedisIsDown sends while
// Redis is down, asking a RECEIPT every tenth message: the subscriber on
// the same node gets every message at once, not only those before the
// first RECEIPT, and once Redis is back the RECEIPTs come, in order, and
// the other node gets every message, in order. It logs how long after
// Redis came back that took.
func TestPublisherAskingReceiptsKeepsLocalFanOutWhileRedisIsDown(t *testing.T) {
	const dest, n = "/topic/receipts", 2000
	sent := sendWhileDown(t, dest, n, func(i int) string {
		if i%10 == 9 {
			return strconv.Itoa(i)
		}
		return ""
	})
	far, pub := sent.far, sent.pub
	sent.srv.Restart()
	back := time.Now()
	for i := 9; i < n; i += 10 {
		pub.Expect(stomp.RECEIPT, "receipt-id:"+strconv.Itoa(i))
	}
	if err := receiveSequence(far, n); err != nil {
		t.Fatalf("on the other node: %v", err)
	}
	t.Logf("%d messages receipted and on the other node %v after Redis came back", n, time.Since(back).Round(time.Millisecond))
}

// sentWhileDown is what sendWhileDown started: Redis, the sending node a,
// its subscriber near and pub, and the other node's subscriber far.
type sentWhileDown struct {
	srv            *redistest.Server
	a              *node
	near, far, pub *stomptest.Client
}

// sendWhileDown starts an fsynced Redis and nodes a and b on it, with
// history, subscribes near, a client of a, and far, a client of b, to
// dest, kills Redis, and has pub, a client of a, send dest the messages 0
// to n-1, message i asking for the RECEIPT receipt(i) unless that is "":
// near must get every one while Redis is down.
func sendWhileDown(t *testing.T, dest string, n int, receipt func(i int) string) sentWhileDown {
	t.Helper()
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	a := startNode(t, srv.URL(), "a", Options{HistorySize: n})
	b := startNode(t, srv.URL(), "b", Options{HistorySize: n})
	s := sentWhileDown{srv: srv, a: a, near: a.dial(t, "near"), far: b.dial(t, "far"), pub: a.dial(t, "pub")}
	subscribe(s.near, "1", dest)
	subscribe(s.far, "1", dest)
	srv.Kill()
	for i := range n {
		h := []string{"destination:" + dest}
		if id := receipt(i); id != "" {
			h = append(h, "receipt:"+id)
		}
		s.pub.Send(stomp.SEND, strconv.Itoa(i), h...)
	}
	if err := receiveSequence(s.near, n); err != nil {
		t.Fatalf("on the sending node while Redis is down: %v", err)
	}
	return s
}

// TestTopicReceiptPastTheOutboxIsAnError sends more than the outbox holds
// while Redis is down: the oldest are dropped and counted, and the SEND
// with a receipt gets an ERROR that names it, without waiting for Redis.
func TestTopicReceiptPastTheOutboxIsAnError(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 1000, MaxOutbox: 4 << 10})
	pub := a.dial(t, "pub")
	pub.Send(stomp.SEND, "up", "destination:/topic/full", "receipt:up")
	pub.Expect(stomp.RECEIPT, "receipt-id:up")
	srv.Kill()
	body := strings.Repeat("x", 200)
	for range 100 {
		pub.Send(stomp.SEND, body, "destination:/topic/full")
	}
	pub.Send(stomp.SEND, "last", "destination:/topic/full", "receipt:r")
	f := pub.ExpectError("unavailable", "was not stored")
	if id, _ := f.Get("receipt-id"); string(id) != "r" {
		t.Fatalf("ERROR receipt-id:%s, want r", id)
	}
	if d := a.dropped(metrics.DropClusterOutbox); d == 0 {
		t.Errorf("no message counted as dropped (cluster_outbox)")
	}
}

// TestAppendScriptPassesOverASourceItKeptAlready runs appendScript for a
// message, then again for it as the outbox sends it after a lost reply,
// then for a new one from the outbox: the second is passed over, and the
// third is kept but not delivered again on its own node.
func TestAppendScriptPassesOverASourceItKeptAlready(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/again"
	listen(t, bus, dest)
	for _, e := range []entry{
		{dest: dest, payload: []byte("kept"), source: 7},
		{dest: dest, payload: []byte("kept"), source: 7, local: true},
		{dest: dest, payload: []byte("from the outbox"), source: 8, local: true},
	} {
		var a appends
		a.add(0, e)
		if err := bus.client.Do(context.Background(), a.command(bus, true)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := srv.Do("XLEN", historyKey(dest)); err != nil || got != "2" {
		t.Fatalf("XLEN = %q (%v), want 2: the message sent again is kept once", got, err)
	}
	waitFor(t, "the first message delivered", func() bool { return len(rec.numbered()) > 0 })
	time.Sleep(100 * time.Millisecond)
	if got := rec.numbered(); len(got) != 1 || got[0].msg != "kept" {
		t.Fatalf("delivered %v, want only the first message: the outbox's was delivered already", got)
	}
}
