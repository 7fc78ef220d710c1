package broker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// epochGrant is tokenGrant with an epoch the test moves: it counts the
// SENDs it is asked about, refuses them once refuse is set, and refuses
// any request of an expired session.
type epochGrant struct {
	tokenGrant
	asked, epoch atomic.Uint64
	refuse       atomic.Bool
}

func (g *epochGrant) Authorize(ctx context.Context, r Request) (Identity, error) {
	if r.Action == ActionSend {
		g.asked.Add(1)
		if g.refuse.Load() {
			return Identity{}, denied(CodeForbidden)
		}
	}
	if r.Action != ActionConnect && !g.clock.Now().Before(r.Session.Expires) {
		return Identity{}, &Error{Code: CodeTokenExpired, Message: "token expired"}
	}
	return g.tokenGrant.Authorize(ctx, r)
}

func (g *epochGrant) AuthEpoch() uint64 { return g.epoch.Load() }

// grantsHarness connects alice, subscribed to /topic/g, to a broker whose
// Authorizer is an epochGrant.
func grantsHarness(t *testing.T) (*client, *epochGrant, *stomptest.Clock) {
	clock := stomptest.NewClock()
	g := &epochGrant{tokenGrant: tokenGrant{clock}}
	h := newHarness(t, Options{Now: clock.Now, Authorizer: g})
	c := h.connect(t, "alice")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/g", "receipt:s"))
	c.expect("RECEIPT", "receipt-id:s")
	return c, g, clock
}

// sendThrough sends body to dest and waits for its MESSAGE.
func (c *client) sendThrough(dest, body string) {
	c.t.Helper()
	c.write(frame("SEND", body, "destination:"+dest))
	expectBodies(c, body)
}

// TestSendGrantsReused checks that the Authorizer is asked once about
// SENDs to one destination without a credential, once per destination.
func TestSendGrantsReused(t *testing.T) {
	c, g, _ := grantsHarness(t)
	for _, body := range []string{"a", "b", "c"} {
		c.sendThrough("/topic/g", body)
	}
	c.write(frame("SEND", "x", "destination:/topic/other", "receipt:o"))
	c.expect("RECEIPT", "receipt-id:o")
	if n := g.asked.Load(); n != 2 {
		t.Fatalf("the Authorizer was asked about %d SENDs, want 2 (one per destination)", n)
	}
}

// TestSendGrantsForgotten checks that a SEND allowed before is refused on
// the very next frame once the Authorizer would refuse it: after its epoch
// moved (a revocation), after a fresh token changed the identity (a
// narrower one), at the session's expiry, and when the frame carries a
// credential of its own.
func TestSendGrantsForgotten(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *client, g *epochGrant, clock *stomptest.Clock)
		send   []string // the headers of the SEND that must be refused
		code   string
	}{
		{"epoch moved", func(_ *client, g *epochGrant, _ *stomptest.Clock) {
			g.refuse.Store(true)
			g.epoch.Add(1)
		}, nil, CodeForbidden},
		{"identity refreshed", func(c *client, g *epochGrant, _ *stomptest.Clock) {
			g.refuse.Store(true)
			c.write(frame("BEGIN", "", "transaction:t", "Authorization:Bearer fresh", "receipt:b"))
			c.expect("RECEIPT", "receipt-id:b")
		}, nil, CodeForbidden},
		{"session expired", func(_ *client, _ *epochGrant, clock *stomptest.Clock) {
			clock.Advance(2 * time.Minute)
		}, nil, CodeTokenExpired},
		{"credential on the frame", func(_ *client, g *epochGrant, _ *stomptest.Clock) {
			g.refuse.Store(true)
		}, []string{"Authorization:Bearer fresh"}, CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, g, clock := grantsHarness(t)
			c.sendThrough("/topic/g", "allowed")
			tt.change(c, g, clock)
			c.write(frame("SEND", "refused", append([]string{"destination:/topic/g"}, tt.send...)...))
			// An expired session may end by its deadline first: either
			// way the SEND is not delivered.
			c.expectError(tt.code, "")
		})
	}
}

// askEvery is an Authorizer that is no AuthEpocher: the broker asks it
// about every SEND.
type askEvery struct{ Authorizer }

// BenchmarkSend handles SENDs to one subscriber from onSend on, with an
// Authorizer whose decisions the broker remembers (anonymous, an
// AuthEpocher) and one it asks every time; both allow at once, so the
// difference is what the broker saves around the Authorizer, whatever it
// costs itself.
func BenchmarkSend(b *testing.B) {
	for _, bc := range []struct {
		name string
		a    Authorizer
	}{{"remembered", anonymous{}}, {"asked", askEvery{anonymous{}}}} {
		b.Run(bc.name, func(b *testing.B) {
			_, pub, frames := fanOutBroker(b, Options{Authorizer: bc.a}, 1)
			pub.setIdentity(Identity{Subject: "b"})
			f := &stomp.Frame{Command: stomp.SEND, Body: []byte(strings.Repeat("x", 128))}
			f.Add("destination", "/topic/bench")
			f.Add("content-type", "text/plain")
			base := frames.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := pub.onSend(f); err != nil {
					b.Fatal(err)
				}
				if i%64 == 63 {
					waitFrames(frames, base+int64(i-63))
				}
			}
			waitFrames(frames, base+int64(b.N))
		})
	}
}
