package broker

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// testHooks implements every hook with optional functions; a nil one
// allows, as AllowAnonymous does. send decides on every request but CONNECT and
// SUBSCRIBE.
type testHooks struct {
	upgrade   func(r *http.Request) (string, error)
	connect   func(r Request) (Identity, error)
	send      func(r Request) (Identity, error)
	subscribe func(r Request) (Identity, error)
	refresh   func(session Identity, c Credential) (Identity, error)
}

func (h *testHooks) AuthenticateUpgrade(r *http.Request) (string, error) {
	if h.upgrade == nil {
		return anonymous{}.AuthenticateUpgrade(r)
	}
	return h.upgrade(r)
}

func (h *testHooks) Authorize(ctx context.Context, r Request) (Identity, error) {
	decide := h.send
	switch r.Action {
	case ActionConnect:
		decide = h.connect
	case ActionSubscribe:
		decide = h.subscribe
	}
	if decide == nil {
		return anonymous{}.Authorize(ctx, r)
	}
	return decide(r)
}

func (h *testHooks) Refresh(ctx context.Context, session Identity, c Credential) (Identity, error) {
	if h.refresh == nil {
		return anonymous{}.Refresh(ctx, session, c)
	}
	return h.refresh(session, c)
}

// denied is a hook's typed refusal with the given ERROR code.
func denied(code string) error { return &Error{Code: code, Message: "denied by test"} }

func TestHookErrors(t *testing.T) {
	plain := errors.New("no such grant")
	tests := []struct {
		name      string
		hooks     *testHooks
		input     string
		code, msg string
	}{
		{"connect refused", &testHooks{connect: func(Request) (Identity, error) { return Identity{}, plain }},
			"", CodeUnauthorized, "no such grant"},
		{"connect refused with a code", &testHooks{connect: func(Request) (Identity, error) {
			return Identity{}, denied(CodeSessionRevoked)
		}}, "", CodeSessionRevoked, "denied by test"},
		{"connect with an expired token", &testHooks{connect: func(Request) (Identity, error) {
			return Identity{Subject: "a", Expires: time.Now().Add(-time.Second)}, nil
		}}, "", CodeTokenExpired, "token expired"},
		{"connect as a subject with a slash", &testHooks{connect: func(Request) (Identity, error) {
			return Identity{Subject: "a/b"}, nil
		}}, "", CodeUnauthorized, "contains '/'"},
		{"send refused", &testHooks{send: func(Request) (Identity, error) { return Identity{}, plain }},
			frame("SEND", "", "destination:/topic/a"), CodeForbidden, "no such grant"},
		{"subscribe refused", &testHooks{subscribe: func(Request) (Identity, error) {
			return Identity{}, denied(CodeTokenExpired)
		}}, frame("SUBSCRIBE", "", "id:1", "destination:/topic/a"), CodeTokenExpired, "denied by test"},
		{"refresh refused", &testHooks{refresh: func(Identity, Credential) (Identity, error) { return Identity{}, plain }},
			frame("SEND", "", "destination:/sys/auth/refresh"), CodeForbidden, "no such grant"},
		{"refresh names another subject", &testHooks{refresh: func(Identity, Credential) (Identity, error) {
			return Identity{Subject: "mallory"}, nil
		}}, frame("SEND", "", "destination:/sys/auth/refresh"), CodeForbidden, "another subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Authorizer: tt.hooks, Refresher: tt.hooks})
			c := h.dial(t)
			c.write(frame("CONNECT", "", "accept-version:1.2", "login:a"))
			if tt.input != "" {
				c.expect("CONNECTED")
				c.write(tt.input)
			}
			c.expectError(tt.code, tt.msg)
		})
	}
}

// TestRefreshIsNotRouted checks that a SEND to the reserved destination
// reaches nobody.
func TestRefreshIsNotRouted(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/topic/sys")
	c.write(frame("SEND", "x", "destination:/sys/auth/refresh", "receipt:r"))
	c.expect("RECEIPT", "receipt-id:r")
	c.expectNothing(50 * time.Millisecond)
}

func TestCloseSessions(t *testing.T) {
	h := newHarness(t, Options{})
	a1 := h.connect(t, "alice")
	a2 := h.connect(t, "alice")
	b := h.connect(t, "bob")
	n := h.b.CloseSessions(func(id Identity) bool { return id.Subject == "alice" }, CodeSessionRevoked, "session revoked")
	if n != 2 {
		t.Fatalf("closed %d sessions, want 2", n)
	}
	a1.expectError(CodeSessionRevoked, "session revoked")
	a2.expectError(CodeSessionRevoked, "session revoked")
	b.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:s"))
	b.expect("RECEIPT")
}

// TestShutdown checks that Shutdown flushes what is queued, then sends
// server-shutdown, and that Serve returns ErrServerClosed (in the harness).
func TestShutdown(t *testing.T) {
	h := newHarness(t, Options{})
	c := h.subscriber(t, "u", "/topic/a")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.b.Shutdown(ctx) }()
	c.expectError(CodeServerShutdown, "shutting down")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNewRefusesWithoutAuthorizer checks that a broker embedded without
// its hooks is closed: New refuses it unless AllowAnonymous says so.
func TestNewRefusesWithoutAuthorizer(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"no hooks", Options{}, ErrNoAuthorizer},
		{"only an upgrade hook", Options{Upgrade: &testHooks{}}, ErrNoAuthorizer},
		{"only a refresher", Options{Refresher: &testHooks{}}, ErrNoAuthorizer},
		{"anonymous", Options{AllowAnonymous: true}, nil},
		{"an authorizer", Options{Authorizer: &testHooks{}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.o)
			if !errors.Is(err, tt.want) || (err == nil) != (b != nil) {
				t.Fatalf("New: %v, %v; want error %v", b, err, tt.want)
			}
		})
	}
}

// TestRefreshWithoutRefresher checks that a broker with an Authorizer and
// no Refresher refuses an in-band refresh rather than ignore its token.
func TestRefreshWithoutRefresher(t *testing.T) {
	h := newHarness(t, Options{Authorizer: &testHooks{}})
	c := h.connect(t, "alice")
	c.write(frame("SEND", "", "destination:/sys/auth/refresh", "Authorization:Bearer fresh", "receipt:r"))
	c.expectError(CodeForbidden, "in-band refresh is not served")
}
