package redisbus

import (
	"strconv"
	"testing"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
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
