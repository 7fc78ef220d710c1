package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestBadInputs feeds the whole server bad input at every stage a token is
// checked, and checks each exact outcome: the HTTP status and error code,
// or the STOMP ERROR code and message and that the connection was closed.
func TestBadInputs(t *testing.T) {
	ts := startServer(t, "--config", writeFile(t, "rules.toml", `
[[rules]]
pattern = "/topic/public/**"
read = true
write = true

[[rules]]
pattern = "/user/{sub}/**"
read = true
write = true

[[rules]]
pattern = "/user/*/**"
write = true
`))
	f := newForger(t, ts)
	ada, bob := ts.users["ada"], ts.users["bob"]
	good := ts.login(t, "ada")
	bobTok := ts.login(t, "bob")
	expired := f.claims(ada)
	expired["iat"], expired["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Minute).Unix()
	future := f.claims(ada)
	future["nbf"] = time.Now().Add(time.Hour).Unix()
	with := func(k string, v any) jwt.MapClaims { c := f.claims(ada); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := f.claims(ada); delete(c, k); return c }
	tok := map[string]string{
		"expired":       f.sign(t, expired, nil),
		"not yet valid": f.sign(t, future, nil),
		"wrong iss":     f.sign(t, with("iss", "someone-else"), nil),
		"wrong aud":     f.sign(t, with("aud", "another-app"), nil),
		"refresh use":   f.sign(t, with("token_use", "refresh"), nil),
		"no token_use":  f.sign(t, without("token_use"), nil),
		"no exp":        f.sign(t, without("exp"), nil),
		"alg none":      f.sign(t, f.claims(ada), func(tk *jwt.Token) { tk.Method = jwt.SigningMethodNone; tk.Header["alg"] = "none" }),
		"hs256 confusion": f.sign(t, f.claims(ada), func(tk *jwt.Token) {
			tk.Method = jwt.SigningMethodHS256
			tk.Header["alg"] = "HS256"
		}),
		"kid names a file": f.sign(t, f.claims(ada), func(tk *jwt.Token) { tk.Header["kid"] = "../../etc/passwd" }),
		"forged signature": good.Access[:strings.LastIndexByte(good.Access, '.')+1] + "AAAA" + good.Access[strings.LastIndexByte(good.Access, '.')+5:],
		"oversized":        "eyJ" + strings.Repeat("A", 12<<10),
	}
	aTicket := ts.ticket(t, good.Access)

	t.Run("http", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			body       any
			header     []string
			status     int
			code       string
		}{
			{"login malformed JSON", "/auth/login", rawJSON(`{"email":`), nil, 400, ""},
			{"login wrong password", "/auth/login", map[string]string{"email": ada.email, "password": "wrong"}, nil, 401, ""},
			{"login unknown email", "/auth/login", map[string]string{"email": "nobody@example.com", "password": "x"}, nil, 401, ""},
			{"refresh unknown token", "/auth/refresh", map[string]string{"refresh_token": "bm90IGEgdG9rZW4"}, nil, 401, ""},
			{"refresh with an access token", "/auth/refresh", map[string]string{"refresh_token": good.Access}, nil, 401, ""},
			{"refresh with a ticket", "/auth/refresh", map[string]string{"refresh_token": aTicket}, nil, 401, ""},
			{"refresh malformed JSON", "/auth/refresh", rawJSON(`[`), nil, 400, ""},
			{"ticket without Authorization", "/auth/ticket", nil, nil, 401, ""},
			{"ticket with Basic", "/auth/ticket", nil, []string{"Authorization", "Basic YWRhOnB3"}, 401, ""},
			{"ticket with a refresh token", "/auth/ticket", nil, []string{"Authorization", "Bearer " + good.Refresh}, 401, ""},
			{"ticket with a ticket", "/auth/ticket", nil, []string{"Authorization", "Bearer " + aTicket}, 401, ""},
			{"ticket with an expired token", "/auth/ticket", nil, []string{"Authorization", "Bearer " + tok["expired"]}, 401, ""},
			{"ticket with alg none", "/auth/ticket", nil, []string{"Authorization", "Bearer " + tok["alg none"]}, 401, ""},
			{"ticket with HS256 confusion", "/auth/ticket", nil, []string{"Authorization", "Bearer " + tok["hs256 confusion"]}, 401, ""},
			{"ticket with a forged signature", "/auth/ticket", nil, []string{"Authorization", "Bearer " + tok["forged signature"]}, 401, ""},
			{"ticket with an oversized token", "/auth/ticket", nil, []string{"Authorization", "Bearer " + tok["oversized"]}, 401, ""},
			{"logout without a token", "/auth/logout", map[string]string{"refresh_token": good.Refresh}, nil, 401, ""},
			{"logout with a wrong-audience token", "/auth/logout", nil, []string{"Authorization", "Bearer " + tok["wrong aud"]}, 401, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var e apiError
				resp := httpJSON(t, "POST", ts.url+tc.path, tc.body, &e, tc.header...)
				if resp.StatusCode != tc.status || e.Error == "" || e.Message == "" {
					t.Errorf("status %d body %+v, want %d with an error code and message", resp.StatusCode, e, tc.status)
				}
			})
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		used := ts.ticket(t, good.Access)
		if p, _ := dialWS(t, ts.wsURL+"?ticket="+used, nil); p == nil {
			t.Fatal("first use of a ticket refused")
		}
		for _, tc := range []struct {
			name, query string
			header      http.Header
			status      int
		}{
			{"no ticket", "", nil, 401},
			{"unknown ticket", "?ticket=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 401},
			{"replayed ticket", "?ticket=" + used, nil, 401},
			{"access token as ticket", "?ticket=" + good.Access, nil, 401},
			{"refresh token as ticket", "?ticket=" + good.Refresh, nil, 401},
			{"access token in the query (off by default)", "?access_token=" + good.Access, nil, 401},
			{"oversized ticket", "?ticket=" + strings.Repeat("A", 4096), nil, 401},
			{"cross-origin", "?ticket=" + ts.ticket(t, good.Access), http.Header{"Origin": {"https://evil.example"}}, 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if p, status := dialWS(t, ts.wsURL+tc.query, tc.header); p != nil || status != tc.status {
					t.Errorf("status %d, want %d", status, tc.status)
				}
			})
		}
	})

	t.Run("connect", func(t *testing.T) {
		for _, tc := range []struct {
			name, header, code, message string
		}{
			{"no credentials", "", "unauthorized", "token"},
			{"garbage token", "Authorization:Bearer not.a.jwt", "unauthorized", ""},
			{"expired", "Authorization:Bearer " + tok["expired"], "token-expired", "token expired"},
			{"not yet valid", "Authorization:Bearer " + tok["not yet valid"], "unauthorized", ""},
			{"wrong iss", "Authorization:Bearer " + tok["wrong iss"], "unauthorized", ""},
			{"wrong aud", "Authorization:Bearer " + tok["wrong aud"], "unauthorized", ""},
			{"token_use refresh", "Authorization:Bearer " + tok["refresh use"], "unauthorized", ""},
			{"no token_use", "Authorization:Bearer " + tok["no token_use"], "unauthorized", ""},
			{"no exp", "Authorization:Bearer " + tok["no exp"], "unauthorized", ""},
			{"alg none", "Authorization:Bearer " + tok["alg none"], "unauthorized", ""},
			{"HS256 signed with the public key", "Authorization:Bearer " + tok["hs256 confusion"], "unauthorized", ""},
			{"kid naming a file", "Authorization:Bearer " + tok["kid names a file"], "unauthorized", ""},
			{"forged signature", "Authorization:Bearer " + tok["forged signature"], "unauthorized", ""},
			{"ticket as Bearer", "Authorization:Bearer " + aTicket, "unauthorized", ""},
			{"refresh token as Bearer", "Authorization:Bearer " + good.Refresh, "unauthorized", ""},
			{"garbage passcode", "passcode:nope", "unauthorized", ""},
			{"oversized token before CONNECT", "Authorization:Bearer " + tok["oversized"] + strings.Repeat("A", 8<<10), "limit-exceeded", "exceeds"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := stomptest.Dial(t, ts.stompAddr)
				headers := []string{"accept-version:1.2", "host:localhost", "receipt:c1"}
				if tc.header != "" {
					headers = append(headers, tc.header)
				}
				p.Send(stomp.CONNECT, "", headers...)
				p.ExpectError(tc.code, tc.message)
			})
		}
		t.Run("token of another user than the ticket's", func(t *testing.T) {
			p, status := dialWS(t, ts.wsURL+"?ticket="+ts.ticket(t, good.Access), nil)
			if p == nil {
				t.Fatalf("upgrade: %d", status)
			}
			p.Send(stomp.CONNECT, "", "accept-version:1.2", "host:localhost", "Authorization:Bearer "+bobTok.Access)
			p.ExpectError("unauthorized", "ticket")
		})
	})

	t.Run("send and subscribe", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			cmd     stomp.Command
			headers []string
			code    string
			message string
		}{
			{"SEND with another user's token", stomp.SEND, []string{"destination:/topic/public/x", "Authorization:Bearer " + bobTok.Access}, "forbidden", "another subject"},
			{"SEND with an expired token", stomp.SEND, []string{"destination:/topic/public/x", "Authorization:Bearer " + tok["expired"]}, "token-expired", "token expired"},
			{"SEND with a forged token", stomp.SEND, []string{"destination:/topic/public/x", "Authorization:Bearer " + tok["forged signature"]}, "unauthorized", ""},
			{"SEND outside the rules", stomp.SEND, []string{"destination:/topic/private"}, "forbidden", "/topic/private"},
			{"SEND to an unknown destination kind", stomp.SEND, []string{"destination:/exchange/x"}, "protocol-error", "unknown destination"},
			{"refresh without Authorization", stomp.SEND, []string{"destination:/sys/auth/refresh"}, "unauthorized", "Authorization"},
			{"SUBSCRIBE outside the rules", stomp.SUBSCRIBE, []string{"id:1", "destination:/queue/jobs"}, "forbidden", "/queue/jobs"},
			{"SUBSCRIBE to another user's destination", stomp.SUBSCRIBE, []string{"id:1", "destination:/user/" + bob.id + "/queue/dm"}, "forbidden", "another user"},
			{"SUBSCRIBE with another user's token", stomp.SUBSCRIBE, []string{"id:1", "destination:/topic/public/x", "Authorization:Bearer " + bobTok.Access}, "forbidden", "another subject"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := ts.connectTCP(t, good.Access)
				p.Send(tc.cmd, "", append(tc.headers, "receipt:r1")...)
				f := p.Expect(stomp.ERROR)
				if f.Value("code") != tc.code || !strings.Contains(f.Value("message"), tc.message) || f.Value("receipt-id") != "r1" {
					t.Errorf("ERROR code %q message %q receipt-id %q, want %q containing %q for r1", f.Value("code"), f.Value("message"), f.Value("receipt-id"), tc.code, tc.message)
				}
				p.ExpectClosed()
			})
		}
	})
}

// rawJSON is a request body sent as it is.
type rawJSON string
