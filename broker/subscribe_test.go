package broker

import (
	"io"
	"strconv"
	"strings"
	"testing"
)

// TestSubscribeReceiptPrecedesStoredMessages checks that a SUBSCRIBE to a
// queue holding messages is answered with its RECEIPT before the messages
// it delivers: clients that subscribe, wait for the receipt, then read
// (ruby-stomp, Net::Stomp) would otherwise take a MESSAGE for the answer
// and lose it.
func TestSubscribeReceiptPrecedesStoredMessages(t *testing.T) {
	h := newHarness(t, Options{})
	sendAll(h.connect(t, "p"), "/queue/stored", "a", "b")
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/stored", "receipt:sub"))
	c.expect("RECEIPT", "receipt-id:sub")
	expectBodies(c, "a", "b")
}

// TestSubscribeReceiptWhileSending checks the same while a publisher keeps
// sending to the queue as the consumer subscribes: the RECEIPT still comes
// first, and every message arrives once, in order, none left behind in the
// queue.
func TestSubscribeReceiptWhileSending(t *testing.T) {
	const n = 500
	h := newHarness(t, Options{})
	p := h.connect(t, "p")
	var burst strings.Builder
	for i := range n {
		burst.WriteString(frame("SEND", strconv.Itoa(i), "destination:/queue/meanwhile"))
	}
	burst.WriteString(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:sent"))
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(p.Conn, burst.String())
		wrote <- err
	}()
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/meanwhile", "receipt:sub"))
	c.expect("RECEIPT", "receipt-id:sub")
	if err := <-wrote; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	p.expect("RECEIPT", "receipt-id:sent")
	// Every message is now in c's outbox: the fence's RECEIPT comes after.
	c.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:fence"))
	for i := range n {
		if f := c.expect("MESSAGE"); string(f.Body) != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q", i, f.Body)
		}
	}
	c.expect("RECEIPT", "receipt-id:fence")
}
