package broker

import (
	"bytes"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

func TestNegotiateHeartBeat(t *testing.T) {
	tests := []struct {
		name    string
		connect []string // the client's CONNECT headers
		want    string   // the CONNECTED heart-beat header
	}{
		{"STOMP 1.0 client", []string{"login:u"}, "0,0"},
		{"no header", []string{"accept-version:1.2"}, "0,0"},
		{"0,0", []string{"accept-version:1.2", "heart-beat:0,0"}, "0,0"},
		{"5000,20000", []string{"accept-version:1.2", "heart-beat:5000,20000"}, "20000,5000"},
		{"100,200", []string{"accept-version:1.2", "heart-beat:100,200"}, "1000,1000"},
		{"0,3000", []string{"accept-version:1.2", "heart-beat:0,3000"}, "3000,10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			c := h.dial(t)
			c.write(frame("CONNECT", "", tt.connect...))
			c.expect("CONNECTED", "heart-beat:"+tt.want)
		})
	}
}

// TestServerHeartBeats checks that an idle session receives EOLs at the
// agreed interval.
func TestServerHeartBeats(t *testing.T) {
	h := newHarness(t, Options{MinHeartBeat: 10 * time.Millisecond})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "accept-version:1.2", "heart-beat:0,10"))
	c.expect("CONNECTED", "heart-beat:10,10000")
	var got []byte
	for len(got) < 3 {
		b, err := c.ReadBytes()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, b...)
	}
	if len(bytes.Trim(got, "\n")) != 0 {
		t.Fatalf("got %q, want only EOLs", got)
	}
}

// TestSilentClient checks, on the injected clock, that a client that
// promised heart-beats stays connected while it sends them and is cut once
// silent for more than twice the interval.
func TestSilentClient(t *testing.T) {
	clock := stomptest.NewClock()
	h := newHarness(t, Options{Now: clock.Now, MinHeartBeat: time.Second})
	c := h.dial(t)
	c.write(frame("CONNECT", "", "accept-version:1.2", "heart-beat:1000,0"))
	c.expect("CONNECTED", "heart-beat:10000,1000")
	for range 10 {
		clock.Advance(500 * time.Millisecond)
		c.write("\n")
	}
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:alive"))
	c.expect("RECEIPT", "receipt-id:alive")
	clock.Advance(3 * time.Second)
	c.expectClosed()
}

// TestTokenDeadline checks that a session ends at its identity's Expires
// even when silent, and that an identity adopted from a SEND (here the
// reserved refresh destination, through the Refresher) moves the deadline.
func TestTokenDeadline(t *testing.T) {
	clock := stomptest.NewClock()
	hooks := &testHooks{
		connect: func(Request) (Identity, error) {
			return Identity{Subject: "alice", Expires: clock.Now().Add(time.Minute)}, nil
		},
		refresh: func(id Identity, _ Credential) (Identity, error) {
			id.Expires = clock.Now().Add(time.Hour)
			return id, nil
		},
	}
	h := newHarness(t, Options{Now: clock.Now, Authorizer: hooks, Refresher: hooks})
	expiring := h.connect(t, "alice")
	refreshed := h.connect(t, "alice")
	refreshed.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:r"))
	refreshed.expect("RECEIPT", "receipt-id:r")
	clock.Advance(2 * time.Minute)
	expiring.expectError(CodeTokenExpired, "token expired")
	refreshed.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:s"))
	refreshed.expect("RECEIPT", "receipt-id:s")
	clock.Advance(time.Hour)
	refreshed.expectError(CodeTokenExpired, "token expired")
}

// TestAdoptedDeadline checks that a session that had no deadline gets one
// from an adopted identity, and is held to it.
func TestAdoptedDeadline(t *testing.T) {
	clock := stomptest.NewClock()
	hooks := &testHooks{refresh: func(id Identity, _ Credential) (Identity, error) {
		id.Expires = clock.Now().Add(time.Minute)
		return id, nil
	}}
	h := newHarness(t, Options{Now: clock.Now, Authorizer: hooks, Refresher: hooks})
	c := h.connect(t, "alice")
	c.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:r"))
	c.expect("RECEIPT", "receipt-id:r")
	clock.Advance(2 * time.Minute)
	c.expectError(CodeTokenExpired, "token expired")
}
