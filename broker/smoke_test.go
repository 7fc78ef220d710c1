package broker

import "testing"

func TestTopicFanOut(t *testing.T) {
	h := newHarness(t, Options{})
	a := h.connect(t, "alice")
	b := h.connect(t, "bob")
	for i, c := range []*client{a, b} {
		c.write(frame("SUBSCRIBE", "", "id:s"+string(rune('0'+i)), "destination:/topic/x", "receipt:r"))
		c.expect("RECEIPT", "receipt-id:r")
	}
	a.write(frame("SEND", "hello", "destination:/topic/x", "content-type:text/plain", "x-custom:1"))
	a.expect("MESSAGE", "subscription:s0", "destination:/topic/x", "content-length:5", "x-custom:1")
	f := b.expect("MESSAGE", "subscription:s1", "destination:/topic/x", "content-type:text/plain")
	if string(f.Body) != "hello" {
		t.Fatalf("body %q", f.Body)
	}
}
