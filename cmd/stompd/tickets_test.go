package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMaxTicketsPerLoginFlag starts stompd with --max-tickets-per-login 2:
// a login gets two tickets, then 429 too_many_tickets, counted, while
// another login still gets its own. A value of 0 stops the start with one
// line naming the setting.
func TestMaxTicketsPerLoginFlag(t *testing.T) {
	ts := startServer(t, "--max-tickets-per-login", "2")
	tok := ts.login(t, "ada")
	ts.ticket(t, tok.Access)
	ts.ticket(t, tok.Access)
	var e apiError
	resp := httpJSON(t, "POST", ts.url+"/auth/ticket", nil, &e, "Authorization", "Bearer "+tok.Access)
	if resp.StatusCode != http.StatusTooManyRequests || e.Error != "too_many_tickets" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third ticket of one login: status %d, error %q, Retry-After %q", resp.StatusCode, e.Error, resp.Header.Get("Retry-After"))
	}
	ts.ticket(t, ts.login(t, "ada").Access)
	if m := metricsText(t, ts.url); !strings.Contains(m, `stompd_auth_failures_total{reason="limit",stage="ticket"} 1`) {
		t.Error("the refused ticket is not counted as stompd_auth_failures_total{stage=ticket,reason=limit}")
	}

	var stderr bytes.Buffer
	code := run([]string{"--data", t.TempDir(), "--max-tickets-per-login", "0"}, io.Discard, &stderr)
	if msg := stderr.String(); code == 0 || !strings.Contains(msg, "max-tickets-per-login") || strings.Count(msg, "\n") != 1 {
		t.Errorf("--max-tickets-per-login 0: exit %d, stderr %q", code, msg)
	}
}

// TestMaxTicketsPerUserFlag starts stompd with --max-tickets-per-user 3
// and --max-tickets-per-login 2: two logins of one user get three tickets
// together, then 429 too_many_tickets, counted, while another user still
// gets one. A value of 0 stops the start with one line naming the setting.
func TestMaxTicketsPerUserFlag(t *testing.T) {
	ts := startServer(t, "--max-tickets-per-user", "3", "--max-tickets-per-login", "2")
	first, second := ts.login(t, "ada"), ts.login(t, "ada")
	ts.ticket(t, first.Access)
	ts.ticket(t, first.Access)
	ts.ticket(t, second.Access)
	var e apiError
	resp := httpJSON(t, "POST", ts.url+"/auth/ticket", nil, &e, "Authorization", "Bearer "+second.Access)
	if resp.StatusCode != http.StatusTooManyRequests || e.Error != "too_many_tickets" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("fourth ticket of one user: status %d, error %q, Retry-After %q", resp.StatusCode, e.Error, resp.Header.Get("Retry-After"))
	}
	ts.ticket(t, ts.login(t, "bob").Access)
	if m := metricsText(t, ts.url); !strings.Contains(m, `stompd_auth_failures_total{reason="limit",stage="ticket"} 1`) {
		t.Error("the refused ticket is not counted as stompd_auth_failures_total{stage=ticket,reason=limit}")
	}

	var stderr bytes.Buffer
	code := run([]string{"--data", t.TempDir(), "--max-tickets-per-user", "0"}, io.Discard, &stderr)
	if msg := stderr.String(); code == 0 || !strings.Contains(msg, "max-tickets-per-user") || strings.Count(msg, "\n") != 1 {
		t.Errorf("--max-tickets-per-user 0: exit %d, stderr %q", code, msg)
	}
}
