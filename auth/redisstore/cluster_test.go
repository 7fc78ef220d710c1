package redisstore

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestOnRedisCluster runs the basics on a 3-master Redis Cluster, with
// nodes that name it by its seed addresses: login on A, refresh on B and
// reuse detected, a ticket issued on B and spent on C once, a logout on C
// reaching A within a second, and one shared JWKS.
func TestOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	a, b, c := startNode(t, cl.URL(), nil), startNode(t, cl.URL(), nil), startNode(t, cl.URL(), nil)
	mustAddUser(t, a.store, "alice@example.com")
	first := a.login(t, "alice@example.com")
	status, next := b.post(t, "/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	if status != http.StatusOK {
		t.Fatalf("refresh on B: %d %s", status, next.Message)
	}
	_, ticket := b.post(t, "/auth/ticket", next.AccessToken, nil)
	if _, err := c.upgrade(ticket.Ticket); err != nil {
		t.Fatalf("upgrade on C with B's ticket: %v", err)
	}
	if _, err := a.upgrade(ticket.Ticket); !errors.Is(err, auth.ErrInvalidTicket) {
		t.Errorf("the ticket again on A: %v", err)
	}
	if s, _ := c.post(t, "/auth/logout", next.AccessToken, nil); s != http.StatusNoContent {
		t.Fatalf("logout on C: %d", s)
	}
	if !within(oneSecond, func() bool { return a.deniedHere(next.AccessToken) }) {
		t.Error("A still accepts the access token 1 s after the logout on C")
	}
	other := a.login(t, "alice@example.com")
	if s, _ := a.post(t, "/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken}); s != http.StatusOK {
		t.Fatal(s)
	}
	if s, _ := c.post(t, "/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken}); s != http.StatusUnauthorized {
		t.Errorf("reuse on C: %d, want 401", s)
	}
	if !within(oneSecond, func() bool { return b.deniedHere(other.AccessToken) }) {
		t.Error("B still accepts the reused login's access token after 1 s")
	}
	if a.jwks(t) != c.jwks(t) {
		t.Error("nodes serve different JWKS")
	}
}
