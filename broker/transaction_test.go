package broker

import (
	"testing"
	"time"
)

func TestTransactions(t *testing.T) {
	tests := []struct {
		name   string
		finish string // frame ending the transaction; "" to disconnect
		want   []string
	}{
		{"commit", frame("COMMIT", "", "transaction:t", "receipt:end"), []string{"1", "2"}},
		{"abort", frame("ABORT", "", "transaction:t", "receipt:end"), nil},
		{"disconnect aborts", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			sub := h.connect(t, "s")
			sub.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/tx", "receipt:s"))
			sub.expect("RECEIPT")
			c := h.connect(t, "u")
			c.write(frame("BEGIN", "", "transaction:t", "receipt:b"))
			c.expect("RECEIPT", "receipt-id:b")
			c.write(frame("SEND", "1", "destination:/topic/tx", "transaction:t", "receipt:in"))
			c.expect("RECEIPT", "receipt-id:in")
			c.write(frame("SEND", "2", "destination:/topic/tx", "transaction:t"))
			sub.expectNothing(30 * time.Millisecond)
			if tt.finish == "" {
				c.Conn.Close()
			} else {
				c.write(tt.finish)
				c.expect("RECEIPT", "receipt-id:end")
			}
			for _, f := range expectBodies(sub, tt.want...) {
				if f.Has("transaction") {
					t.Fatal("MESSAGE carries the transaction header")
				}
			}
			sub.expectNothing(30 * time.Millisecond)
		})
	}
}

// TestTransactionalAck checks that an ACK inside a transaction takes effect
// at COMMIT only.
func TestTransactionalAck(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/queue/txa", "ack:client", "prefetch-count:1")
	sendAll(h.connect(t, "p"), "/queue/txa", "a", "b")
	f := expectBodies(c, "a")[0]
	c.write(frame("BEGIN", "", "transaction:t") + frame("ACK", "", "id:"+f.Value("ack"), "transaction:t", "receipt:r"))
	c.expect("RECEIPT", "receipt-id:r")
	c.expectNothing(50 * time.Millisecond)
	c.write(frame("COMMIT", "", "transaction:t"))
	expectBodies(c, "b")
}
