package broker

import (
	"testing"
	"time"
)

// TestCommitIsAllOrNothing checks that a COMMIT whose ACK or NACK no longer
// names a message awaiting acknowledgement applies none of the
// transaction's frames: its SEND reaches nobody, and its valid ACKs are not
// applied, so the messages they name go back to the queue with the
// session; the queue its SEND would make is not made.
func TestCommitIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile is sent between the transactional frames and COMMIT;
		// a is the ack id of the first message received.
		meanwhile func(a string) string
		back      []string // redelivered to the session meanwhile
		msg       string   // in the COMMIT's ERROR
		left      []string // what a later consumer of the queue gets
	}{
		{"acked outside the transaction", func(a string) string {
			return frame("ACK", "", "id:"+a, "receipt:m")
		}, nil, "not awaiting acknowledgement", []string{"b"}},
		{"nacked and redelivered outside the transaction", func(a string) string {
			return frame("NACK", "", "id:"+a, "receipt:m")
		}, []string{"a"}, "not awaiting acknowledgement", []string{"b", "a"}},
		{"redelivered after UNSUBSCRIBE", func(string) string {
			return frame("UNSUBSCRIBE", "", "id:1", "receipt:m")
		}, nil, "unknown subscription", []string{"a", "b"}},
		{"acked twice in the transaction", func(a string) string {
			return frame("ACK", "", "id:"+a, "transaction:t", "receipt:m")
		}, nil, "not awaiting acknowledgement", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			watcher := h.subscriber(t, "w", "/topic/txw")
			c := h.subscriber(t, "u", "/queue/txq", "ack:client-individual", "prefetch-count:2")
			sendAll(h.connect(t, "p"), "/queue/txq", "a", "b")
			fs := expectBodies(c, "a", "b")
			a := fs[0].Value("ack")
			c.write(frame("BEGIN", "", "transaction:t") +
				frame("SEND", "x", "destination:/topic/txw", "transaction:t") +
				frame("SEND", "y", "destination:/queue/txnew", "transaction:t") +
				frame("ACK", "", "id:"+fs[1].Value("ack"), "transaction:t") +
				frame("ACK", "", "id:"+a, "transaction:t") +
				tt.meanwhile(a))
			expectBodies(c, tt.back...)
			c.expect("RECEIPT", "receipt-id:m")
			c.write(frame("COMMIT", "", "transaction:t", "receipt:c"))
			c.expectError(CodeProtocolError, tt.msg)
			watcher.expectNothing(50 * time.Millisecond)
			if l := h.ledger(t); l.queues != 1 || l.owned != 1 {
				t.Errorf("the failed COMMIT left %d queues, %d made by users; want /queue/txq alone", l.queues, l.owned)
			}
			d := h.connect(t, "d")
			d.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/txq", "ack:client"))
			expectBodies(d, tt.left...)
			d.expectNothing(30 * time.Millisecond)
		})
	}
}

// TestCommitAppliesInOrder checks a valid COMMIT mixing SEND, ACK and NACK:
// every frame takes effect, the NACKed message comes back redelivered.
func TestCommitAppliesInOrder(t *testing.T) {
	h := newHarness(t, Options{})
	watcher := h.subscriber(t, "w", "/topic/txw")
	c := h.subscriber(t, "u", "/queue/txq", "ack:client-individual", "prefetch-count:2")
	sendAll(h.connect(t, "p"), "/queue/txq", "a", "b", "c")
	fs := expectBodies(c, "a", "b")
	c.write(frame("BEGIN", "", "transaction:t") +
		frame("SEND", "x", "destination:/topic/txw", "transaction:t") +
		frame("NACK", "", "id:"+fs[0].Value("ack"), "transaction:t") +
		frame("ACK", "", "id:"+fs[1].Value("ack"), "transaction:t") +
		frame("SEND", "y", "destination:/topic/txw", "transaction:t") +
		frame("COMMIT", "", "transaction:t", "receipt:c"))
	fs = expectBodies(c, "a", "c")
	if fs[0].Value("redelivered") != "true" {
		t.Fatalf("NACKed message came back without redelivered:true: %s", dump(fs[0]))
	}
	c.expect("RECEIPT", "receipt-id:c")
	expectBodies(watcher, "x", "y")
}
