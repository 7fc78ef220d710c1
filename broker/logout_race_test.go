package broker

import (
	"context"
	"testing"
	"time"
)

// connectGate is an Authorizer that accepts every CONNECT as id, but only
// once the test opens proceed: it closes entered when called. It allows
// every other request.
type connectGate struct {
	id      Identity
	entered chan struct{}
	proceed chan struct{}
}

func (g *connectGate) Authorize(ctx context.Context, r Request) (Identity, error) {
	if r.Action != ActionConnect {
		return r.Session, nil
	}
	close(g.entered)
	select {
	case <-g.proceed:
		return g.id, nil
	case <-ctx.Done():
		return Identity{}, ctx.Err()
	}
}

// TestLogoutDuringConnect checks that a CloseSessions call made while a
// CONNECT is being authenticated (its token accepted, its session not yet
// established, so that the call cannot see it) ends that session once it is
// established when the call matches its identity, with the same ERROR as a
// session it saw, and leaves it alone otherwise.
func TestLogoutDuringConnect(t *testing.T) {
	tests := []struct {
		name   string
		sid    string // the login the CONNECT belongs to
		closed bool
	}{
		{"the login logged out", "login-1", true},
		{"another login", "login-2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &connectGate{
				id:      Identity{Subject: "alice", SessionID: tt.sid},
				entered: make(chan struct{}), proceed: make(chan struct{}),
			}
			h := newHarness(t, Options{Authorizer: g})
			c := h.dial(t)
			c.write(frame("CONNECT", "", "accept-version:1.2", "host:test"))
			select {
			case <-g.entered:
			case <-time.After(wait):
				t.Fatal("the CONNECT never reached the authenticator")
			}
			n := h.b.CloseSessions(func(id Identity) bool { return id.SessionID == "login-1" }, CodeSessionRevoked, "session revoked")
			if n != 0 {
				t.Fatalf("CloseSessions ended %d sessions while none was established", n)
			}
			close(g.proceed)
			c.expect("CONNECTED")
			if tt.closed {
				c.expectError(CodeSessionRevoked, "session revoked")
				return
			}
			c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:s"))
			c.expect("RECEIPT", "receipt-id:s")
		})
	}
}
