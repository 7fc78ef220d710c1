package auth

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// changingStore is the test store with the users behind a lock and a
// change that the next CreateRefresh makes to the user first: an admin's
// change committed between a login's password check and its family.
type changingStore struct {
	*memRefresh
	*memDenials
	*memKeys
	mu      sync.Mutex
	users   *memUsers
	pending func(u *User) (deleted bool)
}

// newChangingFixture is a fixture on a changingStore.
func newChangingFixture(t *testing.T) (*fixture, *changingStore) {
	t.Helper()
	var store *changingStore
	fx := newFixture(t, func(o *Options) {
		m := o.Store.(memStore)
		store = &changingStore{memRefresh: m.memRefresh, memDenials: m.memDenials, memKeys: m.memKeys, users: m.memUsers}
		o.Store = store
	})
	return fx, store
}

func (c *changingStore) UserByEmail(email string) (User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users.UserByEmail(email)
}

func (c *changingStore) UserByID(id string) (User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.users.UserByID(id)
}

// change applies f to the user with this email, or deletes it when f
// says so.
func (c *changingStore) change(email string, f func(u *User) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.users.byEmail[email]
	if f(&u) {
		delete(c.users.byEmail, email)
		return
	}
	c.users.byEmail[email] = u
}

func (c *changingStore) CreateRefresh(hash [32]byte, userID string, expires, accessUntil time.Time) (RefreshToken, error) {
	c.mu.Lock()
	f := c.pending
	c.pending = nil
	c.mu.Unlock()
	if f != nil {
		u, _ := c.UserByID(userID)
		c.change(u.Email, f)
	}
	return c.memRefresh.CreateRefresh(hash, userID, expires, accessUntil)
}

// TestChangeDuringLoginEndsIt changes alice's account after her password
// was checked and before her login's family exists, which the change
// therefore cannot end: the login ends it itself, or takes her new roles.
func TestChangeDuringLoginEndsIt(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(u *User) bool
		status int
		code   string
	}{
		{"new password", func(u *User) bool { u.PasswordHash = []byte("another hash"); return false }, 401, "invalid_credentials"},
		{"deleted", func(*User) bool { return true }, 401, "invalid_credentials"},
		{"disabled", func(u *User) bool { u.Disabled = true; return false }, 403, "account_disabled"},
		{"new roles", func(u *User) bool { u.Roles = []string{"ops"}; return false }, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx, store := newChangingFixture(t)
			store.pending = c.change
			resp := fx.do(t, "POST", "/auth/login", fmt.Sprintf(`{"email":"alice@example.com","password":%q}`, password))
			var body struct {
				Error       string `json:"error"`
				AccessToken string `json:"access_token"`
			}
			decode(t, resp, &body)
			if resp.StatusCode != c.status || body.Error != c.code {
				t.Fatalf("login: %d %q, want %d %q", resp.StatusCode, body.Error, c.status, c.code)
			}
			if c.status != http.StatusOK {
				if len(fx.loggedOut()) != 1 {
					t.Errorf("logins ended: %v, want the new one", fx.loggedOut())
				}
				return
			}
			claims, err := fx.svc.VerifyAccess(body.AccessToken)
			if err != nil || !slices.Equal(claims.Roles, []string{"ops"}) {
				t.Errorf("access token: roles %v, %v; want the new roles", claims.Roles, err)
			}
		})
	}
}

// TestDisabledUserCannotLogInOrRefresh disables alice after her login:
// her refresh token no longer rotates and her password no longer logs in,
// each failure counted with the reason account_disabled.
func TestDisabledUserCannotLogInOrRefresh(t *testing.T) {
	fx, store := newChangingFixture(t)
	tok := fx.login(t, "alice@example.com")
	store.change("alice@example.com", func(u *User) bool { u.Disabled = true; return false })
	if resp := fx.do(t, "POST", "/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, tok.RefreshToken)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh of a disabled user: %d, want 401", resp.StatusCode)
	}
	resp := fx.do(t, "POST", "/auth/login", fmt.Sprintf(`{"email":"alice@example.com","password":%q}`, password))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login of a disabled user: %d, want 403", resp.StatusCode)
	}
	for _, stage := range []string{"refresh", "login"} {
		if n := fx.failures(stage, "account_disabled"); n != 1 {
			t.Errorf("auth_failures_total{stage=%s,reason=account_disabled} = %v, want 1", stage, n)
		}
	}
}
