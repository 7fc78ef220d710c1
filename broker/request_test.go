package broker

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// recorder is an Authorizer that allows everything, as AllowAnonymous
// does, and keeps what it was asked.
type recorder struct {
	mu   sync.Mutex
	seen []Request
}

func (r *recorder) Authorize(ctx context.Context, req Request) (Identity, error) {
	req.Credential.Value = strings.Clone(req.Credential.Value) // shares the frame's bytes
	r.mu.Lock()
	r.seen = append(r.seen, req)
	r.mu.Unlock()
	return anonymous{}.Authorize(ctx, req)
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// TestAuthorizerSeesResolvedRequests checks what the Authorizer is handed:
// the action, the destination after the /user/ mapping with whose it is,
// and the credential as the client wrote it, for the frames that are
// authorized: CONNECT, every SEND and SUBSCRIBE, and other frames only
// with a credential.
func TestAuthorizerSeesResolvedRequests(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Authorizer: rec})
	alice := h.connect(t, "alice", "Authorization:Bearer t0")
	alice.write(frame("SUBSCRIBE", "", "id:1", "destination:/user/topic/x") +
		frame("SUBSCRIBE", "", "id:2", "destination:/user/alice/topic/y") +
		frame("SEND", "", "destination:/user/bob/queue/z", "authorization:Bearer t1") +
		frame("SEND", "", "destination:/topic/a") +
		frame("BEGIN", "", "transaction:t1", "Authorization:Bearer t2") +
		frame("BEGIN", "", "transaction:t2", "receipt:r"))
	alice.expect("RECEIPT", "receipt-id:r")
	bob := h.connect(t, "bob", "passcode:secret")
	bob.write(frame("SUBSCRIBE", "", "id:1", "destination:/user/alice/topic/x"))
	bob.expectError(CodeForbidden, "another user's destination")

	bearer := func(tok string) Credential { return Credential{Value: "Bearer " + tok, Authorization: true} }
	want := []Request{
		{Action: ActionConnect, Login: "alice", Credential: bearer("t0")},
		{Action: ActionSubscribe, Session: Identity{Subject: "alice"}, Destination: "/user/alice/topic/x", Owner: OwnerSelf},
		{Action: ActionSubscribe, Session: Identity{Subject: "alice"}, Destination: "/user/alice/topic/y", Owner: OwnerSelf},
		{Action: ActionSend, Session: Identity{Subject: "alice"}, Destination: "/user/bob/queue/z", Owner: OwnerOther, Credential: bearer("t1")},
		{Action: ActionSend, Session: Identity{Subject: "alice"}, Destination: "/topic/a", Owner: OwnerNone},
		{Action: ActionBegin, Session: Identity{Subject: "alice"}, Credential: bearer("t2")},
		{Action: ActionConnect, Login: "bob", Credential: Credential{Value: "secret"}},
		{Action: ActionSubscribe, Session: Identity{Subject: "bob"}, Destination: "/user/alice/topic/x", Owner: OwnerOther},
	}
	got := rec.requests()
	if len(got) != len(want) {
		t.Fatalf("the Authorizer was asked %d times, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		if g.Transport != "tcp" || g.RemoteAddr == "" {
			t.Errorf("request %d: transport %q, remote %q", i, g.Transport, g.RemoteAddr)
		}
		g.Transport, g.RemoteAddr = "", ""
		if g.Action != want[i].Action || g.Session.Subject != want[i].Session.Subject || g.Destination != want[i].Destination ||
			g.Owner != want[i].Owner || g.Credential != want[i].Credential || g.Login != want[i].Login {
			t.Errorf("request %d (%v): got %+v, want %+v", i, g.Action, g, want[i])
		}
	}
}
