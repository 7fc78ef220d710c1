package redisstore

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestRoleChangeAndDisablingEndLoginsOnEveryNode changes alice's roles
// and then disables her, as the admin API does on any node: each change
// returns the sids it denied, every node refuses her tokens within a
// second, a disabled alice cannot log in (403 account_disabled, counted),
// and enabled again she can.
func TestRoleChangeAndDisablingEndLoginsOnEveryNode(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	admin := New(redistest.Client(t, r.URL()), Options{})
	alice := mustAddUser(t, admin, "alice@example.com")
	tk := a.login(t, "alice@example.com")
	claims, _ := b.svc.VerifyAccess(tk.AccessToken)

	roles := []string{"chat", "ops"}
	u, denied, err := admin.ChangeUser(auth.UserRef{ID: alice.ID}, auth.UserChange{Roles: &roles})
	if err != nil || !slices.Equal(u.Roles, roles) || u.Name != "Alice" || u.Disabled {
		t.Fatalf("roles change: %+v, %v", u, err)
	}
	if _, ok := denied[claims.SID]; !ok || len(denied) != 1 {
		t.Errorf("roles change denied %v, want alice's one login %s", denied, claims.SID)
	}
	if !within(oneSecond, func() bool { return b.deniedHere(tk.AccessToken) && b.loggedOut(claims.SID) }) {
		t.Error("node B still accepts alice's access token 1 s after her roles changed")
	}
	if s, _ := b.post(t, "/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}); s != http.StatusUnauthorized {
		t.Errorf("refresh after the roles change: %d, want 401", s)
	}

	tk = b.login(t, "alice@example.com")
	yes, no := true, false
	if u, _, err = admin.ChangeUser(auth.UserRef{Email: "ALICE@example.com"}, auth.UserChange{Disabled: &yes}); err != nil || !u.Disabled {
		t.Fatalf("disable: %+v, %v", u, err)
	}
	if got, _ := admin.UserByEmail("alice@example.com"); !got.Disabled {
		t.Error("alice is not disabled when read back")
	}
	if !within(oneSecond, func() bool { return a.deniedHere(tk.AccessToken) }) {
		t.Error("node A still accepts alice's access token 1 s after she was disabled")
	}
	if s, out := a.post(t, "/auth/login", "", map[string]string{"email": "alice@example.com", "password": password}); s != http.StatusForbidden || out.Error != "account_disabled" {
		t.Errorf("login of a disabled user: %d %s, want 403 account_disabled", s, out.Error)
	}
	if n := a.failures("login", "account_disabled"); n != 1 {
		t.Errorf("auth_failures_total{stage=login,reason=account_disabled} = %v, want 1", n)
	}
	if _, _, err := admin.ChangeUser(auth.UserRef{Email: "alice@example.com"}, auth.UserChange{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	a.login(t, "alice@example.com")
}

// TestChangeUserOfNoSuchUser: a change by an unknown email or id, or by
// the id of a deleted user, is auth.ErrUserNotFound and creates nothing.
func TestChangeUserOfNoSuchUser(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	alice := mustAddUser(t, s, "alice@example.com")
	if _, _, err := s.ChangeUser(auth.UserRef{ID: alice.ID}, auth.UserChange{Delete: true}); err != nil {
		t.Fatal(err)
	}
	name := "Mallory"
	for _, ref := range []auth.UserRef{{Email: "nobody@example.com"}, {ID: "no-such-id"}, {ID: alice.ID}} {
		if _, _, err := s.ChangeUser(ref, auth.UserChange{Name: &name}); !errors.Is(err, auth.ErrUserNotFound) {
			t.Errorf("change of %+v: %v, want ErrUserNotFound", ref, err)
		}
	}
	if users, err := s.Users(); err != nil || len(users) != 0 {
		t.Errorf("users after: %+v, %v", users, err)
	}
}
