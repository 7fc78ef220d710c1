package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTicketCapFlags starts stompd with each cap on outstanding tickets set
// low. Within it, tickets are issued across the logins shown; the next one
// gets 429 too_many_tickets with Retry-After, counted, while another login
// (or user) still gets its own. A value of 0 stops the start with one line
// naming the setting.
func TestTicketCapFlags(t *testing.T) {
	for _, tc := range []struct {
		flag  string
		args  []string
		other string // who still gets a ticket past the cap
		// logins holds, for each login of ada, how many tickets it gets
		// before the refused one, which the last login asks for.
		logins []int
	}{
		{"max-tickets-per-login", []string{"--max-tickets-per-login", "2"}, "ada", []int{2}},
		{"max-tickets-per-user", []string{"--max-tickets-per-user", "3", "--max-tickets-per-login", "2"}, "bob", []int{2, 1}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			ts := startServer(t, tc.args...)
			var last string
			for _, n := range tc.logins {
				last = ts.login(t, "ada").Access
				for range n {
					ts.ticket(t, last)
				}
			}
			var e apiError
			resp := httpJSON(t, "POST", ts.url+"/auth/ticket", nil, &e, "Authorization", "Bearer "+last)
			if resp.StatusCode != http.StatusTooManyRequests || e.Error != "too_many_tickets" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("ticket past --%s: status %d, error %q, Retry-After %q", tc.flag, resp.StatusCode, e.Error, resp.Header.Get("Retry-After"))
			}
			ts.ticket(t, ts.login(t, tc.other).Access)
			if m := metricsText(t, ts.url); !strings.Contains(m, `stompd_auth_failures_total{reason="limit",stage="ticket"} 1`) {
				t.Error("the refused ticket is not counted as stompd_auth_failures_total{stage=ticket,reason=limit}")
			}

			var stderr bytes.Buffer
			code := run([]string{"--data", t.TempDir(), "--" + tc.flag, "0"}, io.Discard, &stderr)
			if msg := stderr.String(); code == 0 || !strings.Contains(msg, tc.flag) || strings.Count(msg, "\n") != 1 {
				t.Errorf("--%s 0: exit %d, stderr %q", tc.flag, code, msg)
			}
		})
	}
}
