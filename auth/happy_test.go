package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stompd/stompd/metrics"
)

func TestLoginTicketUpgradeConnect(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.RefreshToken == "" || strings.Count(tr.AccessToken, ".") != 2 {
		t.Fatalf("login response %+v", tr)
	}
	resp := fx.do(t, "POST", "/auth/ticket", "", "Authorization", "Bearer "+tr.AccessToken)
	var tk ticketResponse
	decode(t, resp, &tk)
	if tk.ExpiresIn != 30 || len(tk.Ticket) != 43 || strings.ContainsAny(tk.Ticket, "+/=") {
		t.Fatalf("ticket response %+v", tk)
	}
	fx.clock.Advance(2 * time.Second)
	sub, err := fx.svc.AuthenticateUpgrade(upgradeRequest("?ticket=" + tk.Ticket))
	if err != nil || sub != "u-alice" {
		t.Fatalf("upgrade: %q, %v", sub, err)
	}
	c, err := fx.svc.Connect(bearerHeader(tr.AccessToken), sub)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Subject: "u-alice", SID: "fam-1", Roles: []string{"user"}, IssuedAt: newClock().Now(), Expires: newClock().Now().Add(15 * time.Minute)}
	if c.Subject != want.Subject || c.SID != want.SID || !slices.Equal(c.Roles, want.Roles) ||
		!c.IssuedAt.Equal(want.IssuedAt) || !c.Expires.Equal(want.Expires) || c.ID == "" {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	if got, err := fx.svc.VerifyAccess(tr.AccessToken); err != nil || got.ID != c.ID {
		t.Fatalf("VerifyAccess: %+v, %v", got, err)
	}
	for _, st := range []string{metrics.StageLogin, metrics.StageTicket, metrics.StageUpgrade, metrics.StageConnect} {
		if fx.successes(st) != 1 {
			t.Errorf("successes{%s} = %v, want 1", st, fx.successes(st))
		}
	}
	var m dto.Metric
	fx.svc.opts.Metrics.TicketToUpgrade.(interface{ Write(*dto.Metric) error }).Write(&m)
	if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
		t.Errorf("ticket_upgrade_seconds count %d sum %v, want 1 and 2", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestConnectCredentials checks the credentials a CONNECT may bring: the
// bare token (a passcode), or an Authorization value of the Bearer scheme in
// any case, never another scheme.
func TestConnectCredentials(t *testing.T) {
	fx := newFixture(t, nil)
	tok := fx.login(t, "bob@example.com").AccessToken
	c, err := fx.svc.Connect(Credential{Value: tok}, "u-bob")
	if err != nil || c.Subject != "u-bob" {
		t.Fatalf("%+v, %v", c, err)
	}
	if c, err := fx.svc.Connect(Credential{Value: "bearer " + tok, Authorization: true}, ""); err != nil || c.Subject != "u-bob" {
		t.Fatalf("lower-case bearer: %+v %v", c, err)
	}
	if _, err := fx.svc.Connect(Credential{Value: "Basic eDp5", Authorization: true}, ""); !matches(err, ErrInvalidToken) {
		t.Fatalf("Basic scheme: %v", err)
	}
}

func TestCookieMode(t *testing.T) {
	fx := newFixture(t, nil)
	resp := fx.do(t, "POST", "/auth/login", fmt.Sprintf(`{"email":"alice@example.com","password":%q,"use_cookie":true}`, password))
	var tr tokenResponse
	decode(t, resp, &tr)
	if tr.RefreshToken != "" || tr.AccessToken == "" {
		t.Fatalf("body %+v: refresh token must be only in the cookie", tr)
	}
	c := refreshCookieOf(t, resp)
	if !c.HttpOnly || c.Path != "/auth" || c.SameSite != http.SameSiteStrictMode || c.Secure || c.MaxAge != 14*24*3600 {
		t.Fatalf("cookie %+v", c)
	}
	resp = fx.do(t, "POST", "/auth/refresh", "", "Cookie", RefreshCookie+"="+c.Value)
	var next tokenResponse
	decode(t, resp, &next)
	c2 := refreshCookieOf(t, resp)
	if resp.StatusCode != 200 || next.RefreshToken != "" || c2.Value == c.Value {
		t.Fatalf("refresh by cookie: %d %+v, cookie rotated %v", resp.StatusCode, next, c2.Value != c.Value)
	}
	resp = fx.do(t, "POST", "/auth/logout", "", "Authorization", "Bearer "+next.AccessToken, "Cookie", RefreshCookie+"="+c2.Value)
	if resp.StatusCode != http.StatusNoContent || refreshCookieOf(t, resp).MaxAge >= 0 {
		t.Fatalf("logout: %d, cookie %+v", resp.StatusCode, refreshCookieOf(t, resp))
	}
	if o := fx.tryRefresh(t, c2.Value); o.status != 401 {
		t.Fatalf("refresh after cookie logout: %+v", o)
	}
}

func refreshCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == RefreshCookie {
			return c
		}
	}
	t.Fatalf("%s: no %s cookie", resp.Request.URL.Path, RefreshCookie)
	return nil
}

func TestCookieSecureUnlessLoopback(t *testing.T) {
	fx := newFixture(t, nil)
	for host, secure := range map[string]bool{
		"127.0.0.1:8080": false, "localhost:8080": false, "[::1]:8080": false, "app.localhost": false,
		"app.example.com": true, "10.0.0.1:8080": true, "example.com:443": true,
	} {
		r := httptest.NewRequest("POST", "http://"+host+"/auth/login", nil)
		if got := fx.svc.refreshCookie(r, "v", 1).Secure; got != secure {
			t.Errorf("host %s: Secure %v, want %v", host, got, secure)
		}
	}
}

func TestRefreshRotation(t *testing.T) {
	fx := newFixture(t, nil)
	first := fx.login(t, "alice@example.com")
	fx.clock.Advance(10 * time.Minute)
	var next tokenResponse
	resp := fx.do(t, "POST", "/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, first.RefreshToken))
	decode(t, resp, &next)
	if resp.StatusCode != 200 || next.RefreshToken == first.RefreshToken || next.AccessToken == first.AccessToken {
		t.Fatalf("refresh: %d %+v", resp.StatusCode, next)
	}
	c1, _ := fx.svc.VerifyAccess(first.AccessToken)
	c2, err := fx.svc.VerifyAccess(next.AccessToken)
	if err != nil || c2.SID != c1.SID || !c2.Expires.After(c1.Expires) {
		t.Fatalf("new access token %+v (%v), old %+v", c2, err, c1)
	}
	// Reusing the first token ends the whole login: refresh, access, sessions.
	if o := fx.tryRefresh(t, first.RefreshToken); o.status != 401 {
		t.Fatalf("reuse: %+v", o)
	}
	if _, err := fx.svc.VerifyAccess(next.AccessToken); err != ErrSessionRevoked {
		t.Fatalf("access token after reuse: %v", err)
	}
	if got := fx.loggedOut(); !slices.Equal(got, []string{c1.SID}) {
		t.Fatalf("OnLogout calls %v", got)
	}
	if fx.failures(metrics.StageRefresh, "reused") != 1 {
		t.Errorf("failures{refresh,reused} = %v", fx.failures(metrics.StageRefresh, "reused"))
	}
}

func TestLogout(t *testing.T) {
	fx := newFixture(t, nil)
	tr := fx.login(t, "alice@example.com")
	other := fx.login(t, "alice@example.com")
	c, _ := fx.svc.VerifyAccess(tr.AccessToken)
	fx.logout(t, tr)
	if got := fx.loggedOut(); !slices.Equal(got, []string{c.SID}) {
		t.Fatalf("OnLogout calls %v, want [%s]", got, c.SID)
	}
	if _, err := fx.svc.VerifyAccess(tr.AccessToken); err != ErrSessionRevoked {
		t.Fatalf("logged-out token: %v", err)
	}
	if err := fx.svc.SessionError(c); err != ErrSessionRevoked {
		t.Fatalf("SessionError: %v", err)
	}
	if _, err := fx.svc.VerifyAccess(other.AccessToken); err != nil {
		t.Fatalf("another login of the same user: %v", err)
	}
	if o := fx.tryRefresh(t, other.RefreshToken); o.status != 200 {
		t.Fatalf("refresh of another login: %+v", o)
	}
	until := fx.denials.m[c.SID]
	if fx.denials.m[c.ID] != c.Expires || until.Before(fx.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("stored denials %v", fx.denials.m)
	}
	// A restarted server loads the denials.
	restarted, err := New(Options{Keys: fx.keys, Store: memStore{testUsers(t), fx.refresh, fx.denials, nil},
		Now: fx.clock.Now, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.VerifyAccess(tr.AccessToken); err != ErrSessionRevoked {
		t.Fatalf("after restart: %v", err)
	}
	// Denials end once the last access token of the login has expired.
	fx.clock.Advance(16 * time.Minute)
	if fx.svc.denied.revoked(c, fx.clock.Now()) {
		t.Fatal("denial outlived the login's access tokens")
	}
}

func TestLogoutRevokesTheBodysLoginToo(t *testing.T) {
	fx := newFixture(t, nil)
	a := fx.login(t, "alice@example.com")
	b := fx.login(t, "alice@example.com")
	bob := fx.login(t, "bob@example.com")
	resp := fx.do(t, "POST", "/auth/logout", fmt.Sprintf(`{"refresh_token":%q}`, b.RefreshToken), "Authorization", "Bearer "+a.AccessToken)
	if resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if o := fx.tryRefresh(t, b.RefreshToken); o.status != 401 {
		t.Fatalf("named login survived: %+v", o)
	}
	// Someone else's refresh token in the body is left alone.
	resp = fx.do(t, "POST", "/auth/logout", fmt.Sprintf(`{"refresh_token":%q}`, bob.RefreshToken), "Authorization", "Bearer "+fx.login(t, "alice@example.com").AccessToken)
	if resp.StatusCode != 204 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if o := fx.tryRefresh(t, bob.RefreshToken); o.status != 200 {
		t.Fatalf("bob's login was revoked by alice: %+v", o)
	}
}

func TestThrottleResetAndWindow(t *testing.T) {
	fx := newFixture(t, nil)
	for range 4 {
		fx.tryLogin(t, "alice@example.com", "wrong")
	}
	fx.login(t, "Alice@Example.com")
	for range 4 {
		fx.tryLogin(t, "alice@example.com", "wrong")
	}
	if o := fx.tryLogin(t, "alice@example.com", password); o.status != 200 {
		t.Fatalf("success did not reset the account: %+v", o)
	}
	for range 5 {
		fx.tryLogin(t, "ALICE@example.com ", "wrong")
	}
	if o := fx.tryLogin(t, "alice@example.com", password); o.status != 429 {
		t.Fatalf("not throttled: %+v", o)
	}
	if o := fx.tryLogin(t, "bob@example.com", password); o.status != 200 {
		t.Fatalf("another account throttled: %+v", o)
	}
	fx.clock.Advance(15 * time.Minute)
	if o := fx.tryLogin(t, "alice@example.com", password); o.status != 200 {
		t.Fatalf("still throttled after the window: %+v", o)
	}
	if fx.failures(metrics.StageLogin, "throttled") != 1 || fx.failures(metrics.StageLogin, "bad_credentials") != 13 {
		t.Errorf("failures throttled %v, bad_credentials %v", fx.failures(metrics.StageLogin, "throttled"), fx.failures(metrics.StageLogin, "bad_credentials"))
	}
}

func TestUpgradeStrategies(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.Upgrade = UpgradeQueryToken | UpgradeProtocolToken | UpgradeAnonymous })
	tok := fx.login(t, "alice@example.com").AccessToken
	tests := []struct {
		name   string
		req    *http.Request
		sub    string
		status int
	}{
		{"query token", upgradeRequest("?access_token=" + tok), "u-alice", 0},
		{"bad query token", upgradeRequest("?access_token=x.y.z"), "", 401},
		{"protocol token", upgradeRequest("", "Sec-WebSocket-Protocol", "v12.stomp, "+ProtocolTokenPrefix+tok), "u-alice", 0},
		{"protocol token in a second header line", upgradeRequest("", "Sec-WebSocket-Protocol", "v12.stomp", "Sec-WebSocket-Protocol", ProtocolTokenPrefix+tok), "u-alice", 0},
		{"bad protocol token", upgradeRequest("", "Sec-WebSocket-Protocol", "v12.stomp, "+ProtocolTokenPrefix+"nope"), "", 401},
		{"anonymous", upgradeRequest(""), "", 0},
		{"bad ticket is not downgraded to anonymous", upgradeRequest("?ticket=nope"), "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := fx.svc.AuthenticateUpgrade(tt.req)
			if sub != tt.sub || errOutcome(err).status != max(tt.status, 200) {
				t.Fatalf("got %q, %v", sub, err)
			}
		})
	}
	u, err := ParseUpgradeStrategies("ticket, query,protocol,anonymous")
	if err != nil || u != UpgradeQueryToken|UpgradeProtocolToken|UpgradeAnonymous {
		t.Fatalf("ParseUpgradeStrategies: %v %v", u, err)
	}
	if _, err := ParseUpgradeStrategies("cookie"); err == nil {
		t.Fatal("unknown strategy accepted")
	}
}

func TestInBandRefresh(t *testing.T) {
	fx := newFixture(t, nil)
	session, _ := fx.svc.Connect(Credential{Value: fx.login(t, "alice@example.com").AccessToken}, "")
	fx.clock.Advance(14 * time.Minute)
	fresh := fx.login(t, "alice@example.com").AccessToken
	c, err := fx.svc.Refresh(session, bearerHeader(fresh))
	if err != nil || !c.Expires.Equal(session.Expires.Add(14*time.Minute)) {
		t.Fatalf("refresh: %+v, %v", c, err)
	}
	fx.clock.Advance(2 * time.Minute)
	if _, err := fx.svc.Authorize(session, sendTo("/topic/a")); err != ErrTokenExpired {
		t.Fatalf("old claims after their expiry: %v", err)
	}
	if _, err := fx.svc.Authorize(c, sendTo("/topic/a")); err != nil {
		t.Fatalf("refreshed claims: %v", err)
	}
	// An older token in a frame does not shorten the session.
	older, err := fx.svc.Authorize(c, Request{Credential: bearerHeader(fresh)})
	if err != nil || !older.Expires.Equal(c.Expires) {
		t.Fatalf("ACK with the same token: %+v, %v", older, err)
	}
}

func TestRulesAtRequests(t *testing.T) {
	fx := newFixture(t, func(o *Options) {
		o.Rules = append(DefaultRules()[1:],
			Rule{Pattern: "/topic/chat", Read: true, Write: true},
			Rule{Roles: []string{"ops", "admin"}, Pattern: "/topic/admin/**", Read: true, Write: true},
			Rule{Pattern: "/user/u-bob/**", Read: true, Write: true})
	})
	alice, _ := fx.svc.VerifyAccess(fx.login(t, "alice@example.com").AccessToken)
	root, _ := fx.svc.VerifyAccess(fx.login(t, "root@example.com").AccessToken)
	otherUsers := func(dest string) Request { return Request{Right: ReadRight, Destination: dest, OtherUser: true} }
	tests := []struct {
		name string
		c    Claims
		r    Request
		want error
	}{
		{"send", alice, sendTo("/topic/chat"), nil},
		{"subscribe", alice, subscribeTo("/queue/jobs"), nil},
		{"subscribe", alice, subscribeTo("/user/u-alice/queue/inbox"), nil},
		{"send", alice, sendTo("/user/u-bob/queue/inbox"), nil},
		{"send", alice, sendTo("/user/u-alice/queue/inbox"), nil},
		// Only its owner may subscribe to a user destination: even a rule
		// naming bob's destinations cannot let alice read them.
		{"subscribe", alice, otherUsers("/user/u-bob/queue/inbox"), ErrForbidden},
		{"subscribe", alice, subscribeTo("/topic/admin/audit"), ErrForbidden},
		{"send", alice, sendTo("/topic/admin/audit"), ErrForbidden},
		{"subscribe", root, subscribeTo("/topic/admin/audit"), nil},
		{"send", alice, sendTo("/user/u-bob"), ErrForbidden},
		{"send", alice, sendTo("/topic/chat/sub"), ErrForbidden},
		{"send", alice, sendTo(""), ErrForbidden},
		{"unsubscribe", alice, Request{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.r.Destination+" as "+tt.c.Subject, func(t *testing.T) {
			if _, err := fx.svc.Authorize(tt.c, tt.r); !matches(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func matches(err, want error) bool {
	if want == nil {
		return err == nil
	}
	e, ok := err.(*Error)
	return ok && e.Is(want)
}
