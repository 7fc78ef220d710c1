package auth

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzPeerInput feeds arbitrary text to every place a peer's token or
// destination arrives: none may panic, and nothing arbitrary may verify.
func FuzzPeerInput(f *testing.F) {
	fx := newFixture(f, func(o *Options) { o.Upgrade = UpgradeQueryToken | UpgradeProtocolToken })
	tok := fx.login(f, "alice@example.com").AccessToken
	f.Add(tok, "/topic/a")
	f.Add("eyJhbGciOiJub25lIn0.e30.", "/user/u-alice/queue/x")
	f.Add("a.b.c", "/user/")
	f.Add("", "//")
	c, err := fx.svc.VerifyAccess(tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s, dest string) {
		if _, err := fx.svc.VerifyAccess(s); err == nil && s != tok {
			t.Fatalf("arbitrary input verified: %q", s)
		}
		header := Credential{Value: s, Authorization: true}
		fx.svc.Connect(header, "u-alice")
		fx.svc.Connect(Credential{Value: s}, "u-alice")
		fx.svc.Authorize(c, sendTo(dest, header))
		fx.svc.Authorize(c, subscribeTo(dest))
		fx.svc.Refresh(c, header)
		r := httptest.NewRequest("GET", "/ws?ticket="+url.QueryEscape(s)+"&access_token="+url.QueryEscape(s), nil)
		r.Header.Set("Sec-WebSocket-Protocol", s)
		fx.svc.AuthenticateUpgrade(r)
	})
}
