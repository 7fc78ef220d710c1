package auth

import "testing"

// TestRefreshRetriedAfterAFailedWrite makes the store fail while it
// records a refresh: the client gets 500, and its retry with the same
// refresh token succeeds rather than looking like reuse.
func TestRefreshRetriedAfterAFailedWrite(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	fx.refresh.mu.Lock()
	fx.refresh.failNext = true
	fx.refresh.mu.Unlock()
	outcome{status: 500, name: "server_error"}.check(t, fx.tryRefresh(t, tr.RefreshToken))
	outcome{status: 200}.check(t, fx.tryRefresh(t, tr.RefreshToken))
	if ended := fx.loggedOut(); len(ended) != 0 {
		t.Errorf("the retry ended the login: %v", ended)
	}
}
