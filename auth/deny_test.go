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

// TestEpochMovesWithEachDenial: a logout, a denial taken from elsewhere
// (an admin's role change, another node) each move the epoch before they
// return, so that an allowing decision reused under the old epoch is
// asked again, and refused.
func TestEpochMovesWithEachDenial(t *testing.T) {
	send := Request{Right: WriteRight, Destination: "/topic/chat"}
	tests := []struct {
		name string
		deny func(fx *fixture, tr tokenResponse, c Claims)
	}{
		{"logout", func(fx *fixture, tr tokenResponse, _ Claims) { fx.logout(t, tr) }},
		{"denial taken", func(fx *fixture, _ tokenResponse, c Claims) {
			fx.svc.TakeDenial(c.SID, fx.clock.Now().Add(time.Minute))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			tr := fx.login(t, "alice@example.com")
			c, err := fx.svc.VerifyAccess(tr.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			epoch := fx.svc.Epoch()
			if _, err := fx.svc.Authorize(c, send); err != nil {
				t.Fatalf("before the denial: %v", err)
			}
			tt.deny(fx, tr, c)
			if fx.svc.Epoch() == epoch {
				t.Fatal("the epoch did not move")
			}
			if _, err := fx.svc.Authorize(c, send); err != ErrSessionRevoked {
				t.Fatalf("after the denial: %v, want %v", err, ErrSessionRevoked)
			}
		})
	}
}
