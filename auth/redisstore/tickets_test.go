package redisstore

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestTicketIssuedOnOneNodeSpentOnAnother: a ticket issued on node A opens
// a WebSocket on node B, once: a second use on C fails.
func TestTicketIssuedOnOneNodeSpentOnAnother(t *testing.T) {
	r := redistest.Start(t)
	a, b, c := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	u := mustAddUser(t, a.store, "alice@example.com")
	tk := a.login(t, "alice@example.com")
	status, ticket := a.post(t, "/auth/ticket", tk.AccessToken, nil)
	if status != http.StatusOK {
		t.Fatalf("ticket: status %d %s", status, ticket.Message)
	}
	if sub, err := b.upgrade(ticket.Ticket); err != nil || sub != u.ID {
		t.Fatalf("upgrade on B with A's ticket: %q, %v; want %q", sub, err, u.ID)
	}
	if _, err := c.upgrade(ticket.Ticket); !errors.Is(err, auth.ErrInvalidTicket) {
		t.Errorf("the same ticket again on C: %v, want invalid_ticket", err)
	}
}

// TestTicketSpentOnceUnderRace spends one ticket on three nodes at once,
// 30 times: exactly one upgrade gets through.
func TestTicketSpentOnceUnderRace(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*node{startNode(t, r.URL(), nil), startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)}
	mustAddUser(t, nodes[0].store, "alice@example.com")
	tk := nodes[0].login(t, "alice@example.com")
	_, ticket := nodes[0].post(t, "/auth/ticket", tk.AccessToken, nil)
	var ok atomic.Int32
	done := make(chan struct{})
	for i := range 30 {
		go func() {
			if _, err := nodes[i%3].upgrade(ticket.Ticket); err == nil {
				ok.Add(1)
			}
			done <- struct{}{}
		}()
	}
	for range 30 {
		<-done
	}
	if n := ok.Load(); n != 1 {
		t.Errorf("%d upgrades with one ticket, want 1", n)
	}
}

// TestTicketLimitsSharedAcrossNodes: a login's ticket limit counts the
// tickets it holds on every node, and a spent ticket frees its place.
func TestTicketLimitsSharedAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	limit := func(o *auth.Options) { o.MaxTicketsPerLogin = 2 }
	a, b, c := startNode(t, r.URL(), limit), startNode(t, r.URL(), limit), startNode(t, r.URL(), limit)
	mustAddUser(t, a.store, "alice@example.com")
	tk := a.login(t, "alice@example.com")
	_, first := a.post(t, "/auth/ticket", tk.AccessToken, nil)
	if s, _ := b.post(t, "/auth/ticket", tk.AccessToken, nil); s != http.StatusOK {
		t.Fatalf("second ticket on B: %d", s)
	}
	if s, out := c.post(t, "/auth/ticket", tk.AccessToken, nil); s != http.StatusTooManyRequests || out.Error != "too_many_tickets" {
		t.Fatalf("third ticket on C past the login's limit of 2: %d %s, want 429 too_many_tickets", s, out.Error)
	}
	if _, err := c.upgrade(first.Ticket); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.post(t, "/auth/ticket", tk.AccessToken, nil); s != http.StatusOK {
		t.Errorf("a ticket after one was spent: %d, want 200", s)
	}
}

// TestTicketOfDeniedLoginRefused: a ticket of a login that logged out on
// another node no longer opens a WebSocket.
func TestTicketOfDeniedLoginRefused(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	mustAddUser(t, a.store, "alice@example.com")
	tk := a.login(t, "alice@example.com")
	_, ticket := a.post(t, "/auth/ticket", tk.AccessToken, nil)
	if s, _ := a.post(t, "/auth/logout", tk.AccessToken, map[string]string{"refresh_token": tk.RefreshToken}); s != http.StatusNoContent {
		t.Fatalf("logout: %d", s)
	}
	if !within(oneSecond, func() bool { return b.deniedHere(tk.AccessToken) }) {
		t.Fatal("B did not learn of the logout within 1 s")
	}
	if _, err := b.upgrade(ticket.Ticket); !errors.Is(err, auth.ErrSessionRevoked) {
		t.Errorf("upgrade with a logged-out login's ticket: %v, want session_revoked", err)
	}
}
