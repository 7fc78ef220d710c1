package auth

import (
	"testing"
)

// TestNameComesFromTheNameClaimOrTheSubject checks the display name a
// session is shown by: a token's name claim (an external identity
// provider's, or stompd's own for a user with a name), else its subject.
func TestNameComesFromTheNameClaimOrTheSubject(t *testing.T) {
	fx := newFixture(t, nil)
	named := fx.claims("u-ext")
	named["name"] = "Ext Ernal"
	issued, _, err := fx.svc.issueAccess(User{ID: "u-carol", Name: "Carol C.", Roles: []string{"user"}}, "fam-c", fx.svc.issueTime())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ token, sub, name string }{
		{fx.sign(t, named, nil), "u-ext", "Ext Ernal"},
		{fx.sign(t, fx.claims("u-plain"), nil), "u-plain", "u-plain"},
		{issued, "u-carol", "Carol C."},
		{fx.login(t, "alice@example.com").AccessToken, "u-alice", "u-alice"},
	}
	for _, tt := range tests {
		c, err := fx.svc.Connect(bearerHeader(tt.token), "")
		if err != nil || c.Subject != tt.sub || c.Name != tt.name {
			t.Errorf("claims %+v (%v), want subject %q named %q", c, err, tt.sub, tt.name)
		}
	}
}
