package auth

import (
	"testing"
	"time"
)

// TestTicketsCappedPerLogin issues tickets for one login until it is
// refused: it gets DefaultMaxTicketsPerLogin of them, then 429, while other
// logins still get theirs. Using a ticket, or its expiry, frees its place.
func TestTicketsCappedPerLogin(t *testing.T) {
	fx := newFixture(t, nil)
	first := fx.login(t, "alice@example.com")
	c, err := fx.svc.VerifyAccess(first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var tickets []string
	for len(tickets) <= maxTickets {
		tk, _, err := fx.svc.IssueTicket(c)
		if err != nil {
			t.Logf("the first login got %d tickets, then: %v", len(tickets), err)
			break
		}
		tickets = append(tickets, tk)
	}
	if len(tickets) != DefaultMaxTicketsPerLogin {
		t.Errorf("one login got %d outstanding tickets, want %d", len(tickets), DefaultMaxTicketsPerLogin)
	}
	outcome{status: 429, name: "too_many_tickets", retryAfter: "30"}.check(t, fx.tryTicket(t, first.AccessToken))
	if n := fx.failures("ticket", "limit"); n != 1 {
		t.Errorf("stompd_auth_failures_total{stage=ticket,reason=limit} = %v, want 1", n)
	}
	fx.ticket(t, fx.login(t, "alice@example.com").AccessToken)
	fx.ticket(t, fx.login(t, "bob@example.com").AccessToken)

	if _, err := fx.svc.AuthenticateUpgrade(upgradeRequest("?ticket=" + tickets[0])); err != nil {
		t.Fatalf("upgrade with a ticket: %v", err)
	}
	fx.ticket(t, first.AccessToken)
	outcome{status: 429, name: "too_many_tickets"}.check(t, fx.tryTicket(t, first.AccessToken))
	fx.clock.Advance(30 * time.Second)
	fx.ticket(t, first.AccessToken)
}
