package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// outcome is how an attempt ended: an HTTP status and JSON error code
// (which also decides a STOMP ERROR code), and the message. Empty fields of
// a wanted outcome are not compared.
type outcome struct {
	status     int
	name       string
	msg        string
	retryAfter string
}

func httpOutcome(t *testing.T, resp *http.Response) outcome {
	t.Helper()
	o := outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode >= 400 {
		var e errorBody
		decode(t, resp, &e)
		o.name = e.Error
		if e.Message == "" {
			t.Errorf("error %s has no message", e.Error)
		}
	}
	return o
}

func errOutcome(err error) outcome {
	var e *Error
	if err == nil {
		return outcome{status: http.StatusOK}
	}
	if !errors.As(err, &e) {
		return outcome{name: "not an *Error: " + err.Error()}
	}
	return outcome{status: e.Status(), name: e.Name(), msg: e.Error()}
}

func (want outcome) check(t *testing.T, got outcome) {
	t.Helper()
	if got.status != want.status || got.name != want.name || (want.msg != "" && got.msg != want.msg) ||
		(want.retryAfter != "" && got.retryAfter != want.retryAfter) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// Helpers used by the table: each tries one thing and reports the outcome.

func (fx *fixture) tryTicket(t *testing.T, access string) outcome {
	return httpOutcome(t, fx.do(t, "POST", "/auth/ticket", "", "Authorization", "Bearer "+access))
}

func (fx *fixture) tryConnect(token, upgradeSubject string) outcome {
	_, err := fx.svc.Connect(bearerHeader(token), upgradeSubject)
	return errOutcome(err)
}

func (fx *fixture) tryUpgrade(query string, header ...string) outcome {
	_, err := fx.svc.AuthenticateUpgrade(upgradeRequest(query, header...))
	return errOutcome(err)
}

func (fx *fixture) tryRefresh(t *testing.T, refresh string) outcome {
	return httpOutcome(t, fx.do(t, "POST", "/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, refresh)))
}

func (fx *fixture) tryLogin(t *testing.T, email, pw string, header ...string) outcome {
	return httpOutcome(t, fx.do(t, "POST", "/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw), header...))
}

func (fx *fixture) tryRequest(t *testing.T, email string, r Request) outcome {
	_, err := fx.svc.Authorize(fx.session(t, email), r)
	return errOutcome(err)
}

// session logs email in and returns the claims of its session.
func (fx *fixture) session(t *testing.T, email string) Claims {
	t.Helper()
	c, err := fx.svc.VerifyAccess(fx.login(t, email).AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (fx *fixture) logout(t *testing.T, tr tokenResponse) {
	t.Helper()
	resp := fx.do(t, "POST", "/auth/logout", fmt.Sprintf(`{"refresh_token":%q}`, tr.RefreshToken), "Authorization", "Bearer "+tr.AccessToken)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
}

// editClaims tries CONNECT with a token signed by the right key whose
// claims were edited.
func editClaims(edit func(c jwt.MapClaims, now time.Time)) func(*testing.T, *fixture) outcome {
	return func(t *testing.T, fx *fixture) outcome {
		c := fx.claims("u-alice")
		edit(c, fx.clock.Now())
		return fx.tryConnect(fx.sign(t, c, nil), "")
	}
}

// afterLogout logs alice in and out, then tries something with her tokens.
func afterLogout(try func(*testing.T, *fixture, tokenResponse) outcome) func(*testing.T, *fixture) outcome {
	return func(t *testing.T, fx *fixture) outcome {
		tr := fx.login(t, "alice@example.com")
		fx.logout(t, tr)
		return try(t, fx, tr)
	}
}

func otherKey(t *testing.T) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

var (
	invalidToken   = outcome{status: 401, name: "invalid_token"}
	invalidTicket  = outcome{status: 401, name: "invalid_ticket"}
	invalidRefresh = outcome{status: 401, name: "invalid_refresh_token"}
	tokenExpired   = outcome{status: 401, name: "token_expired", msg: "token expired"}
	sessionRevoked = outcome{status: 401, name: "session_revoked", msg: "session revoked"}
	forbidden      = outcome{status: 403, name: "forbidden"}
	badCredentials = outcome{status: 401, name: "invalid_credentials"}
)

func TestBadInputs(t *testing.T) {
	tests := []struct {
		name string
		try  func(t *testing.T, fx *fixture) outcome
		want outcome
	}{
		{"forged signature", func(t *testing.T, fx *fixture) outcome {
			return fx.tryTicket(t, signWith(t, jwt.SigningMethodEdDSA, otherKey(t), fx.claims("u-alice"), map[string]any{"kid": fx.keys.signing(fx.clock.Now()).signKID}))
		}, outcome{status: 401, name: "invalid_token"}},
		{"alg none", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, fx.claims("u-alice")), "")
		}, invalidToken},
		{"HS256 signed with the Ed25519 public key", func(t *testing.T, fx *fixture) outcome {
			pub := []byte(fx.priv.Public().(ed25519.PublicKey))
			return fx.tryConnect(signWith(t, jwt.SigningMethodHS256, pub, fx.claims("u-alice"), map[string]any{"kid": fx.keys.signing(fx.clock.Now()).signKID}), "")
		}, invalidToken},
		{"expired access token at CONNECT", func(t *testing.T, fx *fixture) outcome {
			tok := fx.login(t, "alice@example.com").AccessToken
			fx.clock.Advance(15 * time.Minute)
			return fx.tryConnect(tok, "")
		}, tokenExpired},
		{"expired access token at /auth/ticket", func(t *testing.T, fx *fixture) outcome {
			c := fx.claims("u-alice")
			c["exp"] = fx.clock.Now().Add(-time.Second).Unix()
			return fx.tryTicket(t, fx.sign(t, c, nil))
		}, outcome{status: 401, name: "token_expired"}},
		{"not yet valid (iat ahead)", editClaims(func(c jwt.MapClaims, now time.Time) { c["iat"] = now.Add(time.Hour).Unix() }), invalidToken},
		{"not yet valid (nbf ahead)", editClaims(func(c jwt.MapClaims, now time.Time) { c["nbf"] = now.Add(time.Hour).Unix() }), invalidToken},
		{"no exp", editClaims(func(c jwt.MapClaims, now time.Time) { delete(c, "exp") }), invalidToken},
		{"wrong iss", editClaims(func(c jwt.MapClaims, now time.Time) { c["iss"] = "someone-else" }), invalidToken},
		{"wrong aud", editClaims(func(c jwt.MapClaims, now time.Time) { c["aud"] = "other-service" }), invalidToken},
		{"token_use missing", editClaims(func(c jwt.MapClaims, now time.Time) { delete(c, "token_use") }), invalidToken},
		{"token_use refresh", editClaims(func(c jwt.MapClaims, now time.Time) { c["token_use"] = "refresh" }), invalidToken},
		{"no sub", editClaims(func(c jwt.MapClaims, now time.Time) { delete(c, "sub") }), invalidToken},
		{"refresh token as access token at CONNECT", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(fx.login(t, "alice@example.com").RefreshToken, "")
		}, invalidToken},
		{"ticket as access token at CONNECT", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(fx.ticket(t, fx.login(t, "alice@example.com").AccessToken), "")
		}, invalidToken},
		{"ticket as passcode at CONNECT", func(t *testing.T, fx *fixture) outcome {
			tk := fx.ticket(t, fx.login(t, "alice@example.com").AccessToken)
			_, err := fx.svc.Connect(Credential{Value: tk}, "")
			return errOutcome(err)
		}, invalidToken},
		{"access token as ticket", func(t *testing.T, fx *fixture) outcome {
			return fx.tryUpgrade("?ticket=" + fx.login(t, "alice@example.com").AccessToken)
		}, invalidTicket},
		{"refresh token as ticket", func(t *testing.T, fx *fixture) outcome {
			return fx.tryUpgrade("?ticket=" + fx.login(t, "alice@example.com").RefreshToken)
		}, invalidTicket},
		{"ticket as refresh token", func(t *testing.T, fx *fixture) outcome {
			return fx.tryRefresh(t, fx.ticket(t, fx.login(t, "alice@example.com").AccessToken))
		}, invalidRefresh},
		{"access token as refresh token", func(t *testing.T, fx *fixture) outcome {
			return fx.tryRefresh(t, fx.login(t, "alice@example.com").AccessToken)
		}, invalidRefresh},
		{"replayed ticket", func(t *testing.T, fx *fixture) outcome {
			tk := fx.ticket(t, fx.login(t, "alice@example.com").AccessToken)
			if o := fx.tryUpgrade("?ticket=" + tk); o.status != 200 {
				t.Fatalf("first use: %+v", o)
			}
			return fx.tryUpgrade("?ticket=" + tk)
		}, invalidTicket},
		{"expired ticket", func(t *testing.T, fx *fixture) outcome {
			tk := fx.ticket(t, fx.login(t, "alice@example.com").AccessToken)
			fx.clock.Advance(30 * time.Second)
			return fx.tryUpgrade("?ticket=" + tk)
		}, invalidTicket},
		{"ticket outliving its access token", func(t *testing.T, fx *fixture) outcome {
			c := fx.claims("u-alice")
			c["exp"] = fx.clock.Now().Add(10 * time.Second).Unix()
			tk := fx.ticket(t, fx.sign(t, c, nil))
			fx.clock.Advance(10 * time.Second)
			return fx.tryUpgrade("?ticket=" + tk)
		}, invalidTicket},
		{"ticket after logout", func(t *testing.T, fx *fixture) outcome {
			tr := fx.login(t, "alice@example.com")
			tk := fx.ticket(t, tr.AccessToken)
			fx.logout(t, tr)
			return fx.tryUpgrade("?ticket=" + tk)
		}, sessionRevoked},
		{"missing ticket", func(t *testing.T, fx *fixture) outcome {
			return fx.tryUpgrade("")
		}, invalidTicket},
		{"oversized ticket", func(t *testing.T, fx *fixture) outcome {
			return fx.tryUpgrade("?ticket=" + strings.Repeat("A", 4096))
		}, invalidTicket},
		{"access token in the query when not enabled", func(t *testing.T, fx *fixture) outcome {
			return fx.tryUpgrade("?access_token=" + fx.login(t, "alice@example.com").AccessToken)
		}, invalidTicket},
		{"rotated refresh token reused", func(t *testing.T, fx *fixture) outcome {
			old := fx.login(t, "alice@example.com").RefreshToken
			if o := fx.tryRefresh(t, old); o.status != 200 {
				t.Fatalf("first rotation: %+v", o)
			}
			return fx.tryRefresh(t, old)
		}, invalidRefresh},
		{"descendant of a reused refresh token", func(t *testing.T, fx *fixture) outcome {
			old := fx.login(t, "alice@example.com").RefreshToken
			var next tokenResponse
			decode(t, fx.do(t, "POST", "/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, old)), &next)
			fx.tryRefresh(t, old)
			return fx.tryRefresh(t, next.RefreshToken)
		}, invalidRefresh},
		{"access token of a login whose refresh token was reused", func(t *testing.T, fx *fixture) outcome {
			tr := fx.login(t, "alice@example.com")
			fx.tryRefresh(t, tr.RefreshToken)
			fx.tryRefresh(t, tr.RefreshToken)
			return fx.tryConnect(tr.AccessToken, "")
		}, sessionRevoked},
		{"refresh after logout", afterLogout(func(t *testing.T, fx *fixture, tr tokenResponse) outcome {
			return fx.tryRefresh(t, tr.RefreshToken)
		}), invalidRefresh},
		{"refresh with an expired token", func(t *testing.T, fx *fixture) outcome {
			tr := fx.login(t, "alice@example.com")
			fx.clock.Advance(14*24*time.Hour + time.Second)
			return fx.tryRefresh(t, tr.RefreshToken)
		}, invalidRefresh},
		{"refresh with no token at all", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/refresh", ""))
		}, invalidRefresh},
		{"access token after logout at CONNECT", afterLogout(func(t *testing.T, fx *fixture, tr tokenResponse) outcome {
			return fx.tryConnect(tr.AccessToken, "")
		}), sessionRevoked},
		{"access token after logout at /auth/ticket", afterLogout(func(t *testing.T, fx *fixture, tr tokenResponse) outcome {
			return fx.tryTicket(t, tr.AccessToken)
		}), outcome{status: 401, name: "session_revoked"}},
		{"CONNECT without credentials", func(t *testing.T, fx *fixture) outcome {
			_, err := fx.svc.Connect(Credential{}, "")
			return errOutcome(err)
		}, outcome{status: 401, name: "missing_token"}},
		{"CONNECT with a token of another subject than the ticket's", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(fx.login(t, "bob@example.com").AccessToken, "u-alice")
		}, invalidToken},
		{"SEND with another user's token", func(t *testing.T, fx *fixture) outcome {
			bob := fx.login(t, "bob@example.com").AccessToken
			return fx.tryRequest(t, "alice@example.com", sendTo("/topic/chat", bearerHeader(bob)))
		}, forbidden},
		{"SEND with an expired session and no fresh token", func(t *testing.T, fx *fixture) outcome {
			c, _ := fx.svc.VerifyAccess(fx.login(t, "alice@example.com").AccessToken)
			fx.clock.Advance(16 * time.Minute)
			_, err := fx.svc.Authorize(c, sendTo("/topic/chat"))
			return errOutcome(err)
		}, tokenExpired},
		{"SUBSCRIBE outside the rules", func(t *testing.T, fx *fixture) outcome {
			return fx.tryRequest(t, "alice@example.com", subscribeTo("/admin/metrics"))
		}, forbidden},
		{"SEND to a destination no rule names", func(t *testing.T, fx *fixture) outcome {
			return fx.tryRequest(t, "alice@example.com", sendTo("/exchange/x"))
		}, forbidden},
		{"in-band refresh without Authorization", func(t *testing.T, fx *fixture) outcome {
			_, err := fx.svc.Refresh(fx.session(t, "alice@example.com"), Credential{})
			return errOutcome(err)
		}, outcome{status: 401, name: "missing_token"}},
		{"cross-origin login", func(t *testing.T, fx *fixture) outcome {
			return fx.tryLogin(t, "alice@example.com", password, "Origin", "https://evil.example")
		}, outcome{status: 403, name: "origin_not_allowed"}},
		{"cross-origin preflight", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "OPTIONS", "/auth/login", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"))
		}, outcome{status: 403, name: "origin_not_allowed"}},
		{"oversized token", func(t *testing.T, fx *fixture) outcome {
			return fx.tryTicket(t, strings.Repeat("a", MaxTokenSize+1))
		}, outcome{status: 401, name: "invalid_token"}},
		{"oversized token at CONNECT", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(strings.Repeat("a", MaxTokenSize+1), "")
		}, invalidToken},
		{"malformed JSON", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/login", `{"email":"alice@example.com",`))
		}, outcome{status: 400, name: "invalid_request"}},
		{"JSON followed by junk", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/login", `{"email":"a","password":"b"} x`))
		}, outcome{status: 400, name: "invalid_request"}},
		{"body over 64 KiB", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/login", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`))
		}, outcome{status: 413, name: "request_too_large"}},
		{"GET /auth/login", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "GET", "/auth/login", ""))
		}, outcome{status: 405, name: "method_not_allowed"}},
		{"wrong password", func(t *testing.T, fx *fixture) outcome {
			return fx.tryLogin(t, "alice@example.com", "wrong")
		}, badCredentials},
		{"unknown email", func(t *testing.T, fx *fixture) outcome {
			return fx.tryLogin(t, "nobody@example.com", password)
		}, badCredentials},
		{"throttled account refuses the right password", func(t *testing.T, fx *fixture) outcome {
			for range 5 {
				fx.tryLogin(t, "alice@example.com", "wrong")
			}
			fx.clock.Advance(time.Minute)
			return fx.tryLogin(t, "alice@example.com", password)
		}, outcome{status: 429, name: "too_many_attempts", retryAfter: "840"}},
		{"throttled address", func(t *testing.T, fx *fixture) outcome {
			for i := range 30 {
				fx.tryLogin(t, fmt.Sprintf("guess%d@example.com", i), "wrong")
			}
			return fx.tryLogin(t, "bob@example.com", password)
		}, outcome{status: 429, name: "too_many_attempts", retryAfter: "900"}},
		{"missing Authorization on /auth/ticket", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/ticket", ""))
		}, outcome{status: 401, name: "missing_token"}},
		{"wrong scheme on /auth/ticket", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/ticket", "", "Authorization", "Basic YWxpY2U6cHc="))
		}, outcome{status: 401, name: "invalid_token"}},
		{"missing Authorization on /auth/logout", func(t *testing.T, fx *fixture) outcome {
			return httpOutcome(t, fx.do(t, "POST", "/auth/logout", `{"refresh_token":"x"}`))
		}, outcome{status: 401, name: "missing_token"}},
		{"kid naming a file", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(fx.sign(t, fx.claims("u-alice"), map[string]any{"kid": "../../../../etc/passwd"}), "")
		}, invalidToken},
		{"jku header to a foreign key set", func(t *testing.T, fx *fixture) outcome {
			h := map[string]any{"kid": "attacker", "jku": "https://evil.example/jwks.json"}
			return fx.tryConnect(signWith(t, jwt.SigningMethodEdDSA, otherKey(t), fx.claims("u-alice"), h), "")
		}, invalidToken},
		{"embedded jwk header", func(t *testing.T, fx *fixture) outcome {
			k := otherKey(t)
			j, _ := encodeJWK(k.Public())
			return fx.tryConnect(signWith(t, jwt.SigningMethodEdDSA, k, fx.claims("u-alice"), map[string]any{"jwk": j}), "")
		}, invalidToken},
		{"jku header on a genuine token is ignored", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect(fx.sign(t, fx.claims("u-alice"), map[string]any{"jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/cert"}), "")
		}, outcome{status: 200}},
		{"not a JWT at all", func(t *testing.T, fx *fixture) outcome {
			return fx.tryConnect("hello.world", "")
		}, invalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			tt.want.check(t, tt.try(t, fx))
		})
	}
}
