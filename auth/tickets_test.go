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

// issueAll issues tickets for the login of access until one is refused,
// and returns them.
func (fx *fixture) issueAll(t *testing.T, access string) []string {
	t.Helper()
	c, err := fx.svc.VerifyAccess(access)
	if err != nil {
		t.Fatal(err)
	}
	var tickets []string
	for len(tickets) <= maxTickets {
		tk, _, err := fx.svc.IssueTicket(c)
		if err != nil {
			return tickets
		}
		tickets = append(tickets, tk)
	}
	return tickets
}

// TestTicketsCappedPerUser logs one user in many times, each login taking
// every ticket it may: together they get DefaultMaxTicketsPerUser tickets,
// then 429, counted as a limit, while another user still gets tickets.
// Using a ticket frees a place for the user.
func TestTicketsCappedPerUser(t *testing.T) {
	fx := newFixture(t, nil)
	var tickets []string
	logins := 2*DefaultMaxTicketsPerUser/DefaultMaxTicketsPerLogin + 1
	var last string
	for range logins {
		last = fx.login(t, "alice@example.com").AccessToken
		tickets = append(tickets, fx.issueAll(t, last)...)
	}
	if len(tickets) != DefaultMaxTicketsPerUser {
		t.Errorf("%d logins of one user got %d outstanding tickets, want %d", logins, len(tickets), DefaultMaxTicketsPerUser)
	}
	before := fx.failures("ticket", "limit")
	outcome{status: 429, name: "too_many_tickets", retryAfter: "30"}.check(t, fx.tryTicket(t, fx.login(t, "alice@example.com").AccessToken))
	if n := fx.failures("ticket", "limit") - before; n != 1 {
		t.Errorf("stompd_auth_failures_total{stage=ticket,reason=limit} rose by %v for a refusal past the user's cap, want 1", n)
	}
	fx.ticket(t, fx.login(t, "bob@example.com").AccessToken)

	if _, err := fx.svc.AuthenticateUpgrade(upgradeRequest("?ticket=" + tickets[0])); err != nil {
		t.Fatalf("upgrade with a ticket: %v", err)
	}
	fx.ticket(t, last)
	outcome{status: 429, name: "too_many_tickets"}.check(t, fx.tryTicket(t, last))
}
