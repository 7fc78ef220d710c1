package redisbus

import (
	"testing"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestFirstSubscribeToANewTopicGetsAnEpochToResumeWith subscribes on
// node b to a topic that never had a message: its RECEIPT gives a real
// epoch and offset 0, the messages then published on node a carry that
// epoch, and a client that resumes after offset 0 of it recovers them all.
func TestFirstSubscribeToANewTopicGetsAnEpochToResumeWith(t *testing.T) {
	onRedisAndCluster(t, func(t *testing.T, url string) {
		a := startNode(t, url, "a", Options{HistorySize: 10})
		b := startNode(t, url, "b", Options{HistorySize: 10})
		const dest = "/topic/never-used"
		first := b.dial(t, "first")
		first.Send(stomp.SUBSCRIBE, "", "id:1", "destination:"+dest, "receipt:sub")
		r := first.Expect(stomp.RECEIPT, "receipt-id:sub")
		epoch, _ := r.Get("x-stream-epoch")
		if offset, _ := r.Get("x-stream-offset"); len(epoch) == 0 || string(offset) != "0" {
			t.Fatalf("RECEIPT of the first SUBSCRIBE to a new topic: %s", stomptest.Dump(r))
		}
		pub := a.dial(t, "pub")
		pub.Send(stomp.SEND, "one", "destination:"+dest, "receipt:s1")
		pub.Expect(stomp.RECEIPT, "receipt-id:s1")
		pub.Send(stomp.SEND, "two", "destination:"+dest, "receipt:s2")
		pub.Expect(stomp.RECEIPT, "receipt-id:s2")
		again := b.dial(t, "again")
		again.Send(stomp.SUBSCRIBE, "", "id:1", "destination:"+dest, "receipt:sub",
			"x-stream-offset:offset=0", "x-stream-epoch:"+string(epoch))
		r = again.Expect(stomp.RECEIPT, "receipt-id:sub")
		if v, _ := r.Get("x-recovered"); string(v) != "true" {
			t.Fatalf("resuming after offset 0 of epoch %s: %s", epoch, stomptest.Dump(r))
		}
		for _, want := range []string{"one", "two"} {
			m := again.Expect(stomp.MESSAGE)
			if e, _ := m.Get("x-stream-epoch"); string(m.Body) != want || string(e) != string(epoch) {
				t.Fatalf("replayed %s, want %q of epoch %s", stomptest.Dump(m), want, epoch)
			}
		}
	})
}
