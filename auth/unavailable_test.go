package auth

import (
	"fmt"
	"net/http"
	"testing"
)

// errDiskFull is how a store that cannot write (its disk is full) fails.
var errDiskFull = fmt.Errorf("disk full: %w", ErrUnavailable)

// setFull makes every write of fx's store fail with err, or none if nil.
func (fx *fixture) setFull(err error) {
	fx.refresh.mu.Lock()
	fx.refresh.full = err
	fx.refresh.mu.Unlock()
}

// TestStoreCannotWrite makes every write of the store fail as on a full
// disk: login, refresh and logout answer 503 unavailable with Retry-After,
// hand nothing out and end nothing, and are counted; an access token still
// gets a ticket. Once the store writes again, the refresh token that could
// not be rotated refreshes, once, and the logout that failed succeeds.
func TestStoreCannotWrite(t *testing.T) {
	fx := newFixture(t, nil)
	kept := fx.login(t, "alice@example.com")
	fx.setFull(errDiskFull)
	unavailable := outcome{status: http.StatusServiceUnavailable, name: "unavailable", retryAfter: "5"}
	unavailable.check(t, fx.tryLogin(t, "bob@example.com", password))
	unavailable.check(t, fx.tryRefresh(t, kept.RefreshToken))
	unavailable.check(t, fx.tryLogout(t, kept))
	if ended := fx.loggedOut(); len(ended) != 0 {
		t.Errorf("a logout answered 503 ended %v", ended)
	}
	outcome{status: http.StatusOK}.check(t, fx.tryTicket(t, kept.AccessToken))
	for _, stage := range []string{"login", "refresh", "logout"} {
		if n := fx.failures(stage, "unavailable"); n != 1 {
			t.Errorf("stompd_auth_failures_total{stage=%q,reason=\"unavailable\"} = %v, want 1", stage, n)
		}
	}
	fx.setFull(nil)
	outcome{status: http.StatusOK}.check(t, fx.tryRefresh(t, kept.RefreshToken))
	outcome{status: http.StatusUnauthorized, name: "invalid_refresh_token"}.check(t, fx.tryRefresh(t, kept.RefreshToken))
	again := fx.login(t, "bob@example.com")
	outcome{status: http.StatusNoContent}.check(t, fx.tryLogout(t, again))
	outcome{status: http.StatusUnauthorized, name: "session_revoked"}.check(t, fx.tryTicket(t, again.AccessToken))
}

func (fx *fixture) tryLogout(t *testing.T, tr tokenResponse) outcome {
	body := fmt.Sprintf(`{"refresh_token":%q}`, tr.RefreshToken)
	return httpOutcome(t, fx.do(t, "POST", "/auth/logout", body, "Authorization", "Bearer "+tr.AccessToken))
}
