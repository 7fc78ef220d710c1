package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// runClient runs stompd client with args in this process and returns its
// exit code, stdout and stderr.
func runClient(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"client"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// addClient adds a service account with stompd client add on the data dir
// (through the control socket while a server runs on it) and returns its
// secret, which must be stdout's only line.
func addClient(t testing.TB, where []string, id string, roles ...string) string {
	t.Helper()
	args := append([]string{"add", "--id", id, "--roles", strings.Join(roles, ",")}, where...)
	code, stdout, stderr := runClient(args...)
	secret := strings.TrimSuffix(stdout, "\n")
	if code != 0 || secret == "" || strings.ContainsAny(secret, "\n ") {
		t.Fatalf("client add %s: exit %d, stdout %q, stderr %q; want the secret alone on stdout", id, code, stdout, stderr)
	}
	return secret
}

// tokenAnswer is what POST /auth/token answers, a token or an error.
type tokenAnswer struct {
	status int
	header http.Header
	tokens
	apiError
	raw map[string]any
}

// clientToken asks the server at base for a token, the credentials sent as
// how says: "form", "json" or "basic" (with a form body).
func clientToken(t testing.TB, base, how, id, secret string, extra ...string) tokenAnswer {
	t.Helper()
	params := map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": secret}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	var req *http.Request
	switch how {
	case "json":
		b, _ := json.Marshal(params)
		req, _ = http.NewRequest("POST", base+"/auth/token", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	case "basic":
		form.Del("client_id")
		form.Del("client_secret")
		req, _ = http.NewRequest("POST", base+"/auth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	default:
		req, _ = http.NewRequest("POST", base+"/auth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return doTokenRequest(t, req)
}

func doTokenRequest(t testing.TB, req *http.Request) tokenAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header}
	json.Unmarshal(body, &a.tokens)
	json.Unmarshal(body, &a.apiError)
	json.Unmarshal(body, &a.raw)
	return a
}

// mustToken gets a token for a client by form and fails the test
// otherwise.
func mustToken(t testing.TB, base, id, secret string) string {
	t.Helper()
	a := clientToken(t, base, "form", id, secret)
	if a.status != 200 || a.Access == "" {
		t.Fatalf("token for client %s: %d %+v", id, a.status, a.apiError)
	}
	return a.Access
}

// TestClientTokenFormJSONAndBasic gets a client's token each way OAuth 2.0
// clients send their credentials: the answer is a Bearer access token
// with the client's roles, sub client:<id> and the client's login as sid,
// and no refresh token; each is counted at the stage token.
func TestClientTokenFormJSONAndBasic(t *testing.T) {
	ts := startServer(t)
	secret := addClient(t, []string{"--data", ts.cfg.DataDir}, "billing.v2", "publisher", "audit")
	c, err := ts.store.Client("billing.v2")
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"form", "json", "basic"} {
		t.Run(how, func(t *testing.T) {
			a := clientToken(t, ts.url, how, "billing.v2", secret)
			if a.status != 200 || a.Type != "Bearer" || a.ExpiresIn != 900 || a.Access == "" {
				t.Fatalf("answer %d %+v %+v", a.status, a.tokens, a.apiError)
			}
			if _, ok := a.raw["refresh_token"]; ok {
				t.Errorf("answer %v carries a refresh token", a.raw)
			}
			if cc := a.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			claims, err := ts.auth.VerifyAccess(a.Access)
			if err != nil || claims.Subject != "client:billing.v2" || claims.SID != c.LoginID || !slices.Equal(claims.Roles, []string{"publisher", "audit"}) {
				t.Fatalf("claims %+v, %v; want sub client:billing.v2, sid %s, roles publisher,audit", claims, err, c.LoginID)
			}
		})
	}
	if got := metricValue(t, ts, `stompd_auth_successes_total{stage="token"}`); got != "3" {
		t.Errorf("auth successes at stage token: %s, want 3", got)
	}
}

// TestClientTokenRefusals: each bad request gets its RFC 6749 error code
// in stompd's JSON error shape, an unknown client the same answer as a
// wrong secret, a refused Basic client a WWW-Authenticate challenge; each
// is counted as a failure at the stage token.
func TestClientTokenRefusals(t *testing.T) {
	ts := startServer(t)
	secret := addClient(t, []string{"--data", ts.cfg.DataDir}, "billing", "publisher")
	raw := func(contentType, body string, header ...string) func(t *testing.T) tokenAnswer {
		return func(t *testing.T) tokenAnswer {
			req, _ := http.NewRequest("POST", ts.url+"/auth/token", strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			return doTokenRequest(t, req)
		}
	}
	via := func(how, id, secret string, extra ...string) func(t *testing.T) tokenAnswer {
		return func(t *testing.T) tokenAnswer { return clientToken(t, ts.url, how, id, secret, extra...) }
	}
	cases := []struct {
		name      string
		do        func(t *testing.T) tokenAnswer
		status    int
		code      string
		challenge bool
	}{
		{"wrong secret", via("form", "billing", secret+"x"), 401, "invalid_client", false},
		{"unknown client", via("json", "nobody", secret), 401, "invalid_client", false},
		{"wrong secret by Basic", via("basic", "billing", "nope"), 401, "invalid_client", true},
		{"unknown client by Basic", via("basic", "nobody", "nope"), 401, "invalid_client", true},
		{"not Basic", raw("application/x-www-form-urlencoded", "grant_type=client_credentials", "Authorization", "Bearer x"), 401, "invalid_client", true},
		{"wrong grant type", via("form", "billing", secret, "grant_type", "password"), 400, "unsupported_grant_type", false},
		{"no grant type", raw("application/json", `{"client_id":"billing","client_secret":"x"}`), 400, "invalid_request", false},
		{"no secret", raw("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=billing"), 400, "invalid_request", false},
		{"parameter twice", raw("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=billing&client_id=other&client_secret=x"), 400, "invalid_request", false},
		{"Basic and a body secret", raw("application/x-www-form-urlencoded", "grant_type=client_credentials&client_secret="+secret, "Authorization", "Basic YmlsbGluZzp4"), 400, "invalid_request", false},
		{"text body", raw("text/plain", "grant_type=client_credentials"), 400, "invalid_request", false},
		{"malformed JSON", raw("application/json", `{"grant_type":`), 400, "invalid_request", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.do(t)
			if a.status != c.status || a.Error != c.code || a.Message == "" || a.Access != "" {
				t.Fatalf("answer %d %+v, want %d %s with a message and no token", a.status, a.apiError, c.status, c.code)
			}
			if got := a.header.Get("WWW-Authenticate"); (got != "") != c.challenge {
				t.Errorf("WWW-Authenticate %q; want one: %v", got, c.challenge)
			}
		})
	}
	wrong, unknown := clientToken(t, ts.url, "form", "billing", "nope"), clientToken(t, ts.url, "form", "nobody", "nope")
	if wrong.apiError != unknown.apiError {
		t.Errorf("a wrong secret is answered %+v, an unknown client %+v: want the same", wrong.apiError, unknown.apiError)
	}
	failures := ts.authFailures(t)
	if failures["token/bad_credentials"] != 6 || failures["token/malformed"] < 6 {
		t.Errorf("token failures %v: want 6 bad_credentials and the malformed requests", failures)
	}
}

// TestClientTokenThrottled: after five wrong secrets for one client from
// one address, that client is refused there with 429 and Retry-After,
// even with its right secret; another client is not.
func TestClientTokenThrottled(t *testing.T) {
	ts := startServer(t)
	dir := []string{"--data", ts.cfg.DataDir}
	secret, other := addClient(t, dir, "billing"), addClient(t, dir, "reports")
	for i := range 5 {
		if a := clientToken(t, ts.url, "form", "billing", "wrong"); a.status != 401 {
			t.Fatalf("wrong secret %d: %d %+v", i+1, a.status, a.apiError)
		}
	}
	a := clientToken(t, ts.url, "basic", "billing", secret)
	if a.status != 429 || a.Error != "too_many_attempts" || a.header.Get("Retry-After") == "" {
		t.Fatalf("right secret after five wrong ones: %d %+v Retry-After %q; want 429 with Retry-After", a.status, a.apiError, a.header.Get("Retry-After"))
	}
	mustToken(t, ts.url, "reports", other)
	if got := ts.authFailures(t)["token/throttled"]; got != 1 {
		t.Errorf("throttled token requests counted %v, want 1", got)
	}
}

// tokenFrom asks for a client's token as a client at addr behind a
// trusted proxy (the server must trust 127.0.0.1).
func tokenFrom(t testing.TB, ts *testServer, addr, id, secret string) tokenAnswer {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	req, _ := http.NewRequest("POST", ts.url+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	return doTokenRequest(t, req)
}

// TestClientNotLockedOutFromEverywhere: 60 wrong secrets for one client
// from 12 addresses lock those addresses out, but not the client: its
// right secret from another address gets a token. stompd client unlock
// forgets the failures, and one of the 12 addresses gets a token again;
// the admin API's unlock answers how many it forgot, 404 for an unknown
// client.
func TestClientNotLockedOutFromEverywhere(t *testing.T) {
	ts := startServer(t, "--trusted-proxies", "127.0.0.1")
	ts.addAdmin(t, "root")
	secret := addClient(t, []string{"--data", ts.cfg.DataDir}, "billing", "publisher")
	for i := range 60 {
		if a := tokenFrom(t, ts, fmt.Sprintf("198.51.100.%d", i/5), "billing", "wrong"); a.status != 401 {
			t.Fatalf("wrong secret %d: %d %+v", i+1, a.status, a.apiError)
		}
	}
	if a := tokenFrom(t, ts, "198.51.100.0", "billing", secret); a.status != 429 {
		t.Fatalf("right secret from a locked address: %d %+v, want 429", a.status, a.apiError)
	}
	if a := tokenFrom(t, ts, "203.0.113.7", "billing", secret); a.status != 200 || a.Access == "" {
		t.Fatalf("right secret from a new address after 60 failures from others: %d %+v, want a token", a.status, a.apiError)
	}
	code, stdout, stderr := runClient("unlock", "--data", ts.cfg.DataDir, "--id", "billing")
	if code != 0 || !strings.Contains(stdout, "forgot 60 failed token requests") {
		t.Fatalf("client unlock: exit %d, %q %q", code, stdout, stderr)
	}
	if a := tokenFrom(t, ts, "198.51.100.0", "billing", secret); a.status != 200 {
		t.Fatalf("right secret from a locked address after unlock: %d %+v", a.status, a.apiError)
	}
	root := ts.login(t, "root").Access
	if status, body := adminCall(t, ts, "POST", "/admin/clients/billing/unlock", root, nil); status != 200 || body != `{"failures":0}`+"\n" {
		t.Errorf("POST /admin/clients/billing/unlock: %d %q", status, body)
	}
	if status, body := adminCall(t, ts, "POST", "/admin/clients/nobody/unlock", root, nil); status != 404 {
		t.Errorf("unlock of an unknown client: %d %s, want 404", status, body)
	}
}

// logoutOneOfTwo gets two tokens of client id from the server at base,
// publishes on each over STOMP at stompAddr, and logs out at base with the
// first: its session must be closed within a second, the other's must go
// on. It returns the first token.
func logoutOneOfTwo(t *testing.T, base, stompAddr, id, secret string) string {
	t.Helper()
	first, second := mustToken(t, base, id, secret), mustToken(t, base, id, secret)
	p1, p2 := publisherSession(t, stompAddr, first), publisherSession(t, stompAddr, second)
	since := time.Now()
	if resp := httpJSON(t, "POST", base+"/auth/logout", nil, nil, "Authorization", "Bearer "+first); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	expectRevokedWithin(t, since, p1)
	p2.Send(stomp.SEND, "still here", "destination:/topic/billing", "receipt:r2")
	p2.Expect(stomp.RECEIPT, "receipt-id:r2")
	return first
}

// TestClientLogoutEndsOnlyThatToken: two instances of one backend hold a
// token each and publish over STOMP; POST /auth/logout with the first
// token closes the first session only. The second session goes on, the
// first token is refused at CONNECT, and a new token of the client gets a
// ticket and a session.
func TestClientLogoutEndsOnlyThatToken(t *testing.T) {
	ts := startServer(t)
	secret := addClient(t, []string{"--data", ts.cfg.DataDir}, "billing", "publisher")
	first := logoutOneOfTwo(t, ts.url, ts.stompAddr, "billing", secret)
	expectConnectRevoked(t, ts.stompAddr, first)
	fresh := mustToken(t, ts.url, "billing", secret)
	ts.ticket(t, fresh)
	publisherSession(t, ts.stompAddr, fresh)
}

// adminCall does an admin API request with a bearer token (none when
// access is empty) and returns the status and raw body.
func adminCall(t testing.TB, ts *testServer, method, path, access string, in any) (int, string) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ts.url+path, body)
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminClientsEndpoints: an admin adds a client (its secret answered
// once), lists it without any secret or hash, is refused a taken id and a
// malformed one, deletes it, and is answered 404 for it then; a plain
// user gets 403 and a caller without a token 401 on each endpoint.
func TestAdminClientsEndpoints(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	root, ada := ts.login(t, "root").Access, ts.login(t, "ada").Access
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/clients", nil},
		{"POST", "/admin/clients", map[string]any{"id": "x"}},
		{"DELETE", "/admin/clients/x", nil},
		{"POST", "/admin/clients/x/unlock", nil},
	}
	for _, e := range endpoints {
		for _, c := range []struct {
			who, access string
			status      int
		}{{"plain user", ada, 403}, {"no token", "", 401}} {
			if status, body := adminCall(t, ts, e.method, e.path, c.access, e.body); status != c.status || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s as %s: %d %s, want %d", e.method, e.path, c.who, status, body, c.status)
			}
		}
	}
	status, body := adminCall(t, ts, "POST", "/admin/clients", root, map[string]any{"id": "billing", "roles": []string{"publisher"}})
	var made struct {
		ID, Secret, Created string
		Roles               []string
	}
	json.Unmarshal([]byte(body), &made)
	if status != 201 || made.ID != "billing" || made.Secret == "" || made.Created == "" || !slices.Equal(made.Roles, []string{"publisher"}) {
		t.Fatalf("POST /admin/clients: %d %s", status, body)
	}
	mustToken(t, ts.url, "billing", made.Secret)
	status, body = adminCall(t, ts, "GET", "/admin/clients", root, nil)
	if status != 200 || !strings.Contains(body, `"id":"billing"`) || strings.Contains(body, made.Secret) || strings.Contains(body, "secret") || strings.Contains(body, "hash") {
		t.Fatalf("GET /admin/clients: %d %s; want billing without its secret or hash", status, body)
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"taken id", map[string]any{"id": "billing"}, 409, "client_exists"},
		{"bad id", map[string]any{"id": "bill ing/x"}, 400, "invalid_request"},
		{"dots only", map[string]any{"id": ".."}, 400, "invalid_request"},
		{"secret given", map[string]any{"id": "other", "secret": "mine"}, 400, "invalid_request"},
	} {
		if status, body := adminCall(t, ts, "POST", "/admin/clients", root, c.body); status != c.status || !strings.Contains(body, `"error":"`+c.code+`"`) {
			t.Errorf("POST /admin/clients, %s: %d %s; want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	if status, body := adminCall(t, ts, "DELETE", "/admin/clients/billing", root, nil); status != 204 {
		t.Fatalf("DELETE /admin/clients/billing: %d %s", status, body)
	}
	if status, body := adminCall(t, ts, "DELETE", "/admin/clients/billing", root, nil); status != 404 || !strings.Contains(body, `"error":"not_found"`) {
		t.Fatalf("DELETE again: %d %s, want 404", status, body)
	}
	if logs := ts.logs.String(); strings.Contains(logs, made.Secret) || !strings.Contains(logs, "action=clients.add target=billing result=ok") {
		t.Errorf("want the client added logged with its id, never its secret; logs:\n%s", logs)
	}
}

// TestClientCommandOfflineAndRunning: client add, list and del on a data
// dir without a server, then through the server running on it, then
// offline again; the secret made offline works once the server runs.
func TestClientCommandOfflineAndRunning(t *testing.T) {
	dir := t.TempDir()
	where := []string{"--data", dir}
	offline := addClient(t, where, "billing", "publisher")
	if code, stdout, _ := runClient("list", "--data", dir); code != 0 || !strings.Contains(stdout, "billing") || !strings.Contains(stdout, "publisher") {
		t.Fatalf("offline list: exit %d: %s", code, stdout)
	}
	if code, _, stderr := runClient("add", "--data", dir, "--id", "billing"); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("offline add of a taken id: exit %d: %s", code, stderr)
	}
	ts := startServer(t, "--data", dir)
	mustToken(t, ts.url, "billing", offline)
	live := addClient(t, where, "reports", "audit")
	mustToken(t, ts.url, "reports", live)
	code, stdout, _ := runClient("list", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "billing") || !strings.Contains(stdout, "reports") || strings.Contains(stdout, live) {
		t.Fatalf("list through the server: exit %d: %s", code, stdout)
	}
	if code, stdout, stderr := runClient("del", "--data", dir, "--id", "billing"); code != 0 || !strings.Contains(stdout, "deleted client billing") {
		t.Fatalf("del through the server: exit %d: %s %s", code, stdout, stderr)
	}
	if a := clientToken(t, ts.url, "form", "billing", offline); a.status != 401 {
		t.Fatalf("token of the deleted client: %d %+v", a.status, a.apiError)
	}
	if code, _, stderr := runClient("del", "--data", dir, "--id", "billing"); code != 1 || !strings.Contains(stderr, "no such client") {
		t.Fatalf("del of an unknown client through the server: exit %d: %s", code, stderr)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runClient("del", "--data", dir, "--id", "reports"); code != 0 || !strings.Contains(stdout, "deleted client reports") {
		t.Fatalf("offline del: exit %d: %s %s", code, stdout, stderr)
	}
	if code, stdout, _ := runClient("list", "--data", dir); code != 0 || strings.Contains(stdout, "reports") || strings.Contains(stdout, "billing") {
		t.Fatalf("offline list after the deletes: exit %d: %s", code, stdout)
	}
}

// TestClientCommandRefusesBadInput: a malformed or missing id, and an
// unknown subcommand, are usage errors (exit 2) before any store is made.
func TestClientCommandRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"add", "--data", dir, "--id", "no spaces"},
		{"add", "--data", dir, "--id", strings.Repeat("x", 65)},
		{"add", "--data", dir, "--id", ".."},
		{"add", "--data", dir, "--id", "."},
		{"del", "--data", dir, "--id", ".."},
		{"unlock", "--data", dir, "--id", "..."},
		{"del", "--data", dir},
		{"rename", "--data", dir, "--id", "x"},
	} {
		if code, _, stderr := runClient(args...); code != 2 || stderr == "" {
			t.Errorf("client %v: exit %d, %q; want 2 with a message", args, code, stderr)
		}
	}
	if code, _, stderr := runClient("list", "--data", dir); code != 1 || !strings.Contains(stderr, "holds no store") {
		t.Errorf("list on a dir without a store: exit %d: %s", code, stderr)
	}
}

// publisherSession connects a client's token over TCP as passcode, as a
// library that only knows login and passcode would, and subscribes with a
// receipt so that the session is known to be live.
func publisherSession(t testing.TB, stompAddr, access string) *stomptest.Client {
	t.Helper()
	p := stomptest.Dial(t, stompAddr)
	p.Connect("login:ignored", "passcode:"+access)
	p.Send(stomp.SEND, "hello", "destination:/topic/billing", "receipt:r1")
	p.Expect(stomp.RECEIPT, "receipt-id:r1")
	return p
}

// expectConnectRevoked checks that a CONNECT with access is refused with
// ERROR session-revoked.
func expectConnectRevoked(t testing.TB, stompAddr, access string) {
	t.Helper()
	q := stomptest.Dial(t, stompAddr)
	q.Write(stomptest.Frame("CONNECT", "", "accept-version:1.2", "host:stompd", "Authorization:Bearer "+access))
	q.ExpectError("session-revoked", "session revoked")
}

// TestDeletedClientIsDisconnected: a service-account publisher connected
// over STOMP is sent ERROR session-revoked and closed when its client is
// deleted (through the control socket, as an operator would); its token
// stops working, and it gets no new one.
func TestDeletedClientIsDisconnected(t *testing.T) {
	ts := startServer(t)
	secret := addClient(t, []string{"--data", ts.cfg.DataDir}, "billing", "publisher")
	access := mustToken(t, ts.url, "billing", secret)
	p := publisherSession(t, ts.stompAddr, access)
	since := time.Now()
	if code, _, stderr := runClient("del", "--data", ts.cfg.DataDir, "--id", "billing"); code != 0 {
		t.Fatalf("client del: %s", stderr)
	}
	expectRevokedWithin(t, since, p)
	expectConnectRevoked(t, ts.stompAddr, access)
	if a := clientToken(t, ts.url, "json", "billing", secret); a.status != 401 || a.Error != "invalid_client" {
		t.Fatalf("token after the delete: %d %+v", a.status, a.apiError)
	}
}

// TestClusterClientDeletedOnOneNodeEndsSessionsOnAnother: on two nodes of
// one Redis, a client added with stompd client add --redis gets its token
// from node A and publishes on node B; an admin deleting it at node A's
// admin API closes its session on node B within a second.
func TestClusterClientDeletedOnOneNodeEndsSessionsOnAnother(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess})
	a, b := c.nodes[0], c.nodes[1]
	hash, err := bcrypt.GenerateFromPassword([]byte("root password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.addClusterUser(t, auth.User{Email: "root@example.com", Roles: []string{"admin"}, PasswordHash: hash})
	root := login(t, a.url, &testUser{email: "root@example.com", password: "root password"}).Access
	secret := addClient(t, []string{"--redis", r.URL()}, "billing", "publisher")
	if code, stdout, stderr := runClient("list", "--redis", r.URL()); code != 0 || !strings.Contains(stdout, "billing") {
		t.Fatalf("list on Redis: exit %d: %s %s", code, stdout, stderr)
	}
	p := publisherSession(t, b.stompAddr, mustToken(t, a.url, "billing", secret))
	since := time.Now()
	if status, body := adminCall(t, a.srv, "DELETE", "/admin/clients/billing", root, nil); status != 204 {
		t.Fatalf("DELETE /admin/clients/billing at node A: %d %s", status, body)
	}
	expectRevokedWithin(t, since, p)
	if a := clientToken(t, b.url, "basic", "billing", secret); a.status != 401 {
		t.Fatalf("token at node B after the delete: %d %+v", a.status, a.apiError)
	}
}

// TestClusterClientLogoutEndsThatTokenOnEveryNode: on two nodes of one
// Redis, POST /auth/logout at node A with one of a client's tokens closes
// the session that holds it on node B within a second; the session on the
// client's other token there goes on. stompd client unlock --redis works
// on the nodes' shared throttle.
func TestClusterClientLogoutEndsThatTokenOnEveryNode(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess})
	a, b := c.nodes[0], c.nodes[1]
	secret := addClient(t, []string{"--redis", r.URL()}, "billing", "publisher")
	logoutOneOfTwo(t, a.url, b.stompAddr, "billing", secret)
	if code, stdout, stderr := runClient("unlock", "--redis", r.URL(), "--id", "billing"); code != 0 || !strings.Contains(stdout, "forgot 0") {
		t.Errorf("client unlock --redis: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := runClient("unlock", "--redis", r.URL(), "--id", "nobody"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("client unlock --redis of an unknown client: exit %d, %q; want 1, not found", code, stderr)
	}
}

// TestClientsDisabledInVerifyOnlyMode: a server that only verifies tokens
// issued elsewhere issues none to clients either (403 login_disabled), and
// its admin API makes no client.
func TestClientsDisabledInVerifyOnlyMode(t *testing.T) {
	_, keyFile := issuerKey(t)
	ts := startServer(t, "--jwt-public-key", keyFile)
	if a := clientToken(t, ts.url, "form", "billing", "secret"); a.status != 403 || a.Error != "login_disabled" {
		t.Fatalf("token in verify-only mode: %d %+v, want 403 login_disabled", a.status, a.apiError)
	}
	if code, _, stderr := runClient("add", "--data", ts.cfg.DataDir, "--id", "billing"); code != 1 || !strings.Contains(stderr, "service accounts are disabled") {
		t.Fatalf("client add through a verify-only server: exit %d: %s", code, stderr)
	}
}

// TestTokensRacingADeleteAreAllDenied: tokens requested while the client
// is being deleted are either refused or, if issued, refused by the
// verifier once the delete returned: no token outlives its client.
func TestTokensRacingADeleteAreAllDenied(t *testing.T) {
	ts := startServer(t)
	_, secret, err := ts.auth.AddClient("billing", nil)
	if err != nil {
		t.Fatal(err)
	}
	issued := make(chan string, 200)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if tok, err := freshClientToken(ts.url, "billing", secret); err == nil {
					issued <- tok
				}
			}
		})
	}
	first := <-issued // the delete races with requests in flight
	if err := ts.auth.DeleteClient("billing"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(issued)
	n := 0
	for tok := range issued {
		n++
		if _, err := ts.auth.VerifyAccess(tok); err == nil {
			t.Fatal("a token issued around the delete still verifies after it")
		}
	}
	if _, err := ts.auth.VerifyAccess(first); err == nil {
		t.Fatal("the first token still verifies after the delete")
	}
	t.Logf("%d more tokens issued around the delete, all denied", n)
}
