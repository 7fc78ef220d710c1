package auth

import (
	"slices"
	"testing"
	"time"
)

// TestTakeDenialEndsSessionsOnce: a denial made elsewhere is applied here
// and ends its sessions; hearing it again, or a longer one for the same
// id, ends nothing more, and one already over is not applied.
func TestTakeDenialEndsSessionsOnce(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	c, _ := fx.svc.VerifyAccess(tr.AccessToken)
	now := fx.clock.Now()
	fx.svc.TakeDenial(c.SID, now.Add(time.Minute))
	fx.svc.TakeDenial(c.SID, now.Add(2*time.Minute))
	fx.svc.TakeDenial("over", now.Add(-time.Second))
	if got := fx.loggedOut(); !slices.Equal(got, []string{c.SID}) {
		t.Fatalf("OnLogout calls %v, want [%s]", got, c.SID)
	}
	if _, err := fx.svc.VerifyAccess(tr.AccessToken); err != ErrSessionRevoked {
		t.Fatalf("access token of a login denied elsewhere: %v", err)
	}
	if len(fx.denials.m) != 0 {
		t.Errorf("a denial taken from elsewhere was written back to the store: %v", fx.denials.m)
	}
	fx.clock.Advance(2*time.Minute + time.Second)
	if _, err := fx.svc.VerifyAccess(tr.AccessToken); err != nil {
		t.Errorf("after the denial ended: %v", err)
	}
}
