package auth

import (
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTokenCacheBounded(t *testing.T) {
	now := newClock().Now()
	tc := newTokenCache(8)
	for i := range 20 {
		exp := now.Add(time.Minute)
		if i < 4 {
			exp = now.Add(time.Second)
		}
		tc.put(string(rune('a'+i)), Claims{Expires: exp}, now)
		if len(tc.m) > 8 {
			t.Fatalf("cache grew to %d", len(tc.m))
		}
	}
	if _, ok := tc.get("t", now); !ok {
		t.Fatal("latest entry missing")
	}
	if _, ok := tc.get("t", now.Add(time.Minute)); ok {
		t.Fatal("expired entry served")
	}
	tc.put("old", Claims{Expires: now}, now)
	if _, ok := tc.m["old"]; ok {
		t.Fatal("expired claims cached")
	}
}

func TestCachedTokenStillChecksDenialAndExpiry(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	if _, err := fx.svc.VerifyAccess(tr.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, ok := fx.svc.cache.get(tr.AccessToken, fx.clock.Now()); !ok {
		t.Fatal("verified token not cached")
	}
	fx.logout(t, tr)
	if _, err := fx.svc.VerifyAccess(tr.AccessToken); err != ErrSessionRevoked {
		t.Fatalf("cached token after logout: %v", err)
	}
	other := fx.login(t, "bob@example.com").AccessToken
	fx.svc.VerifyAccess(other)
	fx.clock.Advance(15 * time.Minute)
	if _, err := fx.svc.VerifyAccess(other); err != ErrTokenExpired {
		t.Fatalf("cached token after expiry: %v", err)
	}
}

func TestTicketsSwept(t *testing.T) {
	fx := newFixture(t, nil)
	c, _ := fx.svc.VerifyAccess(fx.login(t, "alice@example.com").AccessToken)
	for range DefaultMaxTicketsPerLogin {
		if _, _, err := fx.svc.IssueTicket(c); err != nil {
			t.Fatal(err)
		}
	}
	fx.clock.Advance(31 * time.Second)
	if _, _, err := fx.svc.IssueTicket(c); err != nil {
		t.Fatal(err)
	}
	ts := fx.svc.tickets.(*ticketStore)
	if n, held := len(ts.m), ts.logins.m[c.SID]; n != 1 || len(held) != 1 {
		t.Fatalf("%d tickets, %d of the login's, held after the others expired", n, len(held))
	}
}

func TestDummyHashCost(t *testing.T) {
	fx := newFixture(t, nil)
	if len(fx.svc.dummyHash) == 0 || string(fx.svc.dummyHash[:7]) != "$2a$04$" {
		t.Fatalf("dummy hash %q does not have the configured cost", fx.svc.dummyHash)
	}
}

func BenchmarkVerifyAccess(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
	}{{"cached", DefaultCacheSize}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			fx := newFixture(b, func(o *Options) { o.CacheSize = bc.cache })
			tok := fx.login(b, "alice@example.com").AccessToken
			b.SetBytes(int64(len(tok)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fx.svc.VerifyAccess(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCredentialIsNotKeptAliased checks that a token verified from a
// credential is cached as a copy: the broker's credentials share the
// bytes of a frame, which its decoder reuses for the next one.
func TestCredentialIsNotKeptAliased(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	c, err := fx.svc.VerifyAccess(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	fx.svc.cache = newTokenCache(DefaultCacheSize)
	v := []byte("Bearer " + tr.AccessToken)
	header := Credential{Value: unsafe.String(&v[0], len(v)), Authorization: true}
	if _, err := fx.svc.Authorize(c, sendTo("/topic/chat", header)); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		v[i] = 'x'
	}
	if _, ok := fx.svc.cache.get(tr.AccessToken, fx.clock.Now()); !ok {
		t.Fatal("the cached token changed with the frame's bytes")
	}
}
