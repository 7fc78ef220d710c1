package redisstore

import (
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestRedisDownAnswers503AndVerifiesFromMemory stops Redis under a node:
// login, refresh, ticket and logout answer 503 {"error":"unavailable"},
// counted with reason unavailable; a WebSocket upgrade with a ticket is
// refused as unavailable; access tokens still verify from memory, a
// denial learnt before still holds; and the node's goroutines do not grow
// while Redis stays down. When Redis is back, logins work again.
func TestRedisDownAnswers503AndVerifiesFromMemory(t *testing.T) {
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	n := startNode(t, r.URL(), nil)
	mustAddUser(t, n.store, "alice@example.com")
	tk, gone, leaving := n.login(t, "alice@example.com"), n.login(t, "alice@example.com"), n.login(t, "alice@example.com")
	_, ticket := n.post(t, "/auth/ticket", tk.AccessToken, nil)
	if s, _ := n.post(t, "/auth/logout", gone.AccessToken, nil); s != http.StatusNoContent {
		t.Fatalf("logout: %d", s)
	}
	r.Kill()
	calls := []struct {
		stage, path, access string
		body                any
	}{
		{"login", "/auth/login", "", map[string]string{"email": "alice@example.com", "password": password}},
		{"refresh", "/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}},
		{"ticket", "/auth/ticket", tk.AccessToken, nil},
	}
	before := runtime.NumGoroutine()
	for range 3 {
		for _, c := range calls {
			if s, out := n.post(t, c.path, c.access, c.body); s != http.StatusServiceUnavailable || out.Error != "unavailable" || out.Message == "" {
				t.Errorf("%s with Redis down: %d %q %q, want 503 unavailable with a message", c.path, s, out.Error, out.Message)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	// A logout that Redis did not record is answered 503; the token is
	// denied on this node all the same, which only refuses more.
	if s, out := n.post(t, "/auth/logout", leaving.AccessToken, nil); s != http.StatusServiceUnavailable || out.Error != "unavailable" {
		t.Errorf("/auth/logout with Redis down: %d %q, want 503 unavailable", s, out.Error)
	}
	want := map[string]float64{"login": 3, "refresh": 3, "ticket": 3, "logout": 1}
	for stage, count := range want {
		if got := n.failures(stage, "unavailable"); got != count {
			t.Errorf("stompd_auth_failures_total{stage=%q,reason=\"unavailable\"} = %v, want %v", stage, got, count)
		}
	}
	if _, err := n.upgrade(ticket.Ticket); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("upgrade with a ticket while Redis is down: %v, want unavailable", err)
	}
	if n.deniedHere(tk.AccessToken) || !n.deniedHere(gone.AccessToken) {
		t.Error("with Redis down, verification did not go on from memory")
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("goroutines grew from %d to %d while Redis was down", before, after)
	}
	r.Restart()
	if !within(5*time.Second, func() bool {
		s, _ := n.post(t, "/auth/login", "", map[string]string{"email": "alice@example.com", "password": password})
		return s == http.StatusOK
	}) {
		t.Error("login did not work again within 5 s of Redis's return")
	}
}
