package auth

import (
	"context"
	"testing"
	"time"
)

// TestCheckSlotWaitsWithinItsAddressShare fills one address's share of
// four slots: its next request waits while another address still takes a
// slot at once, gets one when the address releases one of its own, and
// gives up when its context ends.
func TestCheckSlotWaitsWithinItsAddressShare(t *testing.T) {
	p := newCheckSlots(4)
	ctx := context.Background()
	for range 2 {
		if !p.acquire(ctx, "10.0.0.40") {
			t.Fatal("an address could not take a free slot within its share")
		}
	}
	third := make(chan bool)
	go func() { third <- p.acquire(ctx, "10.0.0.40") }()
	if !p.acquire(ctx, "10.0.0.41") {
		t.Fatal("another address could not take a free slot")
	}
	p.release("10.0.0.40")
	select {
	case ok := <-third:
		if !ok {
			t.Fatal("the waiting request gave up with its context still alive")
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiting request did not get the slot its address released")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if p.acquire(canceled, "10.0.0.40") {
		t.Error("a request over its address's share took a slot")
	}
	if n := len(p.held); n != 2 || p.free != 1 {
		t.Errorf("%d addresses hold slots and %d are free, want 2 and 1", n, p.free)
	}
}
