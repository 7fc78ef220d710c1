package broker

import (
	"context"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// tokenGrant is an Authorizer of sessions of alice whose token expires a
// minute after CONNECT. It reads a test token from the credential: "fresh"
// is valid for an hour from the clock's now, "other" is another subject's,
// "bad" is refused; a frame without one keeps the session's identity.
type tokenGrant struct{ clock *stomptest.Clock }

func (g tokenGrant) Authorize(_ context.Context, r Request) (Identity, error) {
	switch {
	case r.Action == ActionConnect:
		return Identity{Subject: "alice", Expires: g.clock.Now().Add(time.Minute)}, nil
	case r.Credential == Credential{}:
		return r.Session, nil
	case r.Credential == Credential{Value: "Bearer fresh", Authorization: true}:
		id := r.Session
		id.Expires = g.clock.Now().Add(time.Hour)
		return id, nil
	case r.Credential == Credential{Value: "Bearer other", Authorization: true}:
		return Identity{Subject: "mallory", Expires: g.clock.Now().Add(time.Hour)}, nil
	}
	return Identity{}, denied(CodeUnauthorized)
}

// frameAuthzHarness serves sessions of alice whose token expires a minute
// after CONNECT, on a clock the test moves.
func frameAuthzHarness(t *testing.T) (*harness, *stomptest.Clock) {
	clock := stomptest.NewClock()
	return newHarness(t, Options{Now: clock.Now, Authorizer: tokenGrant{clock}}), clock
}

// TestAuthorizationOnAnyFrame checks that any frame carrying a
// fresh valid Authorization of the session's subject extends the session,
// not only SEND and SUBSCRIBE; without one the session ends at its token's
// expiry.
func TestAuthorizationOnAnyFrame(t *testing.T) {
	inTransaction := func(c *client) []string {
		c.write(frame("BEGIN", "", "transaction:t"))
		return []string{"transaction:t"}
	}
	delivered := func(c *client) []string {
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/authz", "ack:client-individual", "receipt:s"))
		c.expect("RECEIPT", "receipt-id:s")
		c.write(frame("SEND", "m", "destination:/topic/authz"))
		return []string{"id:" + expectBodies(c, "m")[0].Value("ack")}
	}
	tests := []struct {
		cmd  string
		prep func(c *client) []string // sets the frame up; returns its headers
	}{
		{"BEGIN", func(*client) []string { return []string{"transaction:t"} }},
		{"COMMIT", inTransaction},
		{"ABORT", inTransaction},
		{"UNSUBSCRIBE", func(c *client) []string {
			c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/authz"))
			return []string{"id:1"}
		}},
		{"ACK", delivered},
		{"NACK", delivered},
	}
	for _, tt := range tests {
		for _, refresh := range []bool{true, false} {
			name := tt.cmd + " without Authorization"
			if refresh {
				name = tt.cmd + " with a fresh Authorization"
			}
			t.Run(name, func(t *testing.T) {
				h, clock := frameAuthzHarness(t)
				c := h.connect(t, "alice")
				headers := append(tt.prep(c), "receipt:r")
				if refresh {
					headers = append(headers, "Authorization:Bearer fresh")
				}
				c.write(frame(tt.cmd, "", headers...))
				c.expect("RECEIPT", "receipt-id:r")
				clock.Advance(2 * time.Minute)
				if !refresh {
					c.expectError(CodeTokenExpired, "token expired")
					return
				}
				c.expectNothing(100 * time.Millisecond)
				c.write(frame("BEGIN", "", "transaction:later", "receipt:l"))
				c.expect("RECEIPT", "receipt-id:l")
			})
		}
	}
}

// TestAuthorizationOnAnyFrameRefused checks that an Authorization the
// Authorizer refuses, or one of another subject, ends the session
// whatever the frame carrying it.
func TestAuthorizationOnAnyFrameRefused(t *testing.T) {
	tests := []struct {
		name, input string
		code, msg   string
	}{
		{"BEGIN with another subject's token", frame("BEGIN", "", "transaction:t", "Authorization:Bearer other"),
			CodeForbidden, "another subject"},
		{"UNSUBSCRIBE with an invalid token", frame("SUBSCRIBE", "", "id:1", "destination:/topic/a") +
			frame("UNSUBSCRIBE", "", "id:1", "authorization:Bearer bad"), CodeUnauthorized, "denied by test"},
		{"DISCONNECT with an invalid token", frame("DISCONNECT", "", "receipt:d", "Authorization:Bearer bad"),
			CodeUnauthorized, "denied by test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := frameAuthzHarness(t)
			c := h.connect(t, "alice")
			c.write(tt.input)
			c.expectError(tt.code, tt.msg)
		})
	}
}
