package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/persist/redistest"
)

// adminCall sends a request to the server's admin API with the bearer
// token access (none when empty) and returns the status and the body.
func (ts *testServer) adminCall(t *testing.T, method, path, access string, in any) (int, string) {
	t.Helper()
	return adminHTTP(t, ts.url, method, path, access, in)
}

// adminHTTP sends a request to the admin API at url.
func adminHTTP(t *testing.T, url, method, path, access string, in any) (int, string) {
	t.Helper()
	var header []string
	if access != "" {
		header = []string{"Authorization", "Bearer " + access}
	}
	var body rawAnswer
	resp := httpJSON(t, method, url+path, in, &body, header...)
	return resp.StatusCode, string(body)
}

// rawAnswer keeps a JSON answer as it came.
type rawAnswer []byte

func (j *rawAnswer) UnmarshalJSON(b []byte) error {
	*j = bytes.Clone(b)
	return nil
}

// TestAdminUserEndpointsNeedAnAdmin calls every user endpoint as an admin,
// as a plain user (403) and without a token (401), and checks what each
// answers an admin, and that no answer holds a password hash.
func TestAdminUserEndpointsNeedAnAdmin(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	root, ada := ts.login(t, "root").Access, ts.login(t, "ada").Access
	bob := ts.users["bob"]
	for _, c := range []struct {
		method, path string
		in           any
		status       int
		want         string
	}{
		{"GET", "/admin/users", nil, 200, `"email":"ada@example.com"`},
		{"POST", "/admin/users", map[string]any{"email": "cy@example.com", "password": "cy password", "roles": []string{"chat"}}, 201, `"roles":["chat"]`},
		{"GET", "/admin/users/" + bob.id, nil, 200, `"disabled":false`},
		{"GET", "/admin/users/BOB@example.com", nil, 200, `"id":"` + bob.id + `"`},
		{"PATCH", "/admin/users/" + bob.email, map[string]any{"name": "Robert", "roles": []string{"ops", "chat"}}, 200, `"roles":["ops","chat"]`},
		{"PATCH", "/admin/users/" + bob.id, map[string]any{"password": "bob's new secret"}, 200, `"name":"Robert"`},
		{"POST", "/admin/users/" + bob.email + "/unlock", nil, 200, `{"failures":0}`},
		{"POST", "/admin/users/" + bob.id + "/logout", nil, 204, ""},
		{"PATCH", "/admin/users/" + bob.id, map[string]any{"disabled": true}, 200, `"disabled":true`},
		{"DELETE", "/admin/users/" + bob.id, nil, 204, ""},
	} {
		name := c.method + " " + c.path
		for _, refused := range []struct {
			access, code string
			status       int
		}{{"", "unauthorized", 401}, {ada, "forbidden", 403}} {
			if status, body := ts.adminCall(t, c.method, c.path, refused.access, c.in); status != refused.status || !strings.Contains(body, refused.code) {
				t.Errorf("%s without an admin token: %d %s, want %d %s", name, status, body, refused.status, refused.code)
			}
		}
		status, body := ts.adminCall(t, c.method, c.path, root, c.in)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s as admin: %d %s, want %d with %s", name, status, body, c.status, c.want)
		}
		if strings.Contains(body, "hash") || strings.Contains(body, "$2a$") || strings.Contains(body, "password") {
			t.Errorf("%s: the answer shows a password or its hash: %s", name, body)
		}
	}
	for action, n := range map[string]float64{"users.add": 1, "users.update": 3, "users.delete": 1, "users.logout": 1, "users.unlock": 1} {
		if got := testutil.ToFloat64(ts.metrics.AdminRequests.WithLabelValues(action, "ok")); got != n {
			t.Errorf("admin_requests_total{action=%q,result=ok} = %v, want %v", action, got, n)
		}
	}
	if got := testutil.ToFloat64(ts.metrics.AdminRequests.WithLabelValues("refused", "forbidden")); got != 10 {
		t.Errorf("admin_requests_total{action=refused,result=forbidden} = %v, want 10", got)
	}
	checkAdminLog(t, ts.logs.String(), "cy password", "bob's new secret")
}

// checkAdminLog checks that the log lines of TestAdminUserEndpointsNeedAnAdmin
// say who (the admin's subject), what (the action and the fields an update
// changed) and the target (the user's id and email, also of a new user),
// and never hold a password.
func checkAdminLog(t *testing.T, logs string, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		if strings.Contains(logs, p) {
			t.Errorf("the logs hold the password %q", p)
		}
	}
	bob := `target=\S+ email=bob@example.com`
	for _, want := range []string{
		`actor=\S+ action=users.add target=[^" ]+ email=cy@example.com result=ok`,
		`action=users.update ` + strings.Replace(bob, " ", " changed=name,roles ", 1) + ` result=ok`,
		`action=users.update ` + strings.Replace(bob, " ", " changed=password ", 1) + ` result=ok`,
		`action=users.update ` + strings.Replace(bob, " ", " changed=disabled ", 1) + ` result=ok`,
		`action=users.logout ` + bob + ` result=ok`,
		`action=users.unlock ` + bob + ` result=ok`,
		`action=users.delete ` + bob + ` result=ok`,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("no log line matches %s; logs:\n%s", want, logs)
		}
	}
}

// TestAdminUserEndpointsRefuseBadInput checks the answer to each kind of
// bad request: 400 with a message naming the field, 404 for no such user,
// 409 for a taken email, each counted by its result.
func TestAdminUserEndpointsRefuseBadInput(t *testing.T) {
	ts := startServer(t, "--min-password-length", "10")
	ts.addAdmin(t, "root")
	root := ts.login(t, "root").Access
	add := func(email, password string, extra ...any) map[string]any {
		m := map[string]any{"email": email, "password": password}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name, method, path string
		in                 any
		status             int
		code, want         string
	}{
		{"not an email", "POST", "/admin/users", add("notanemail", "long enough pw"), 400, "invalid_request", "email: not an email address"},
		{"no password", "POST", "/admin/users", add("cy@example.com", ""), 400, "invalid_request", "password are required"},
		{"short password", "POST", "/admin/users", add("cy@example.com", "123456789"), 400, "invalid_request", "password: 9 characters, want at least 10"},
		{"long password", "POST", "/admin/users", add("cy@example.com", strings.Repeat("x", 73)), 400, "invalid_request", "at most 72: bcrypt"},
		{"zero-width space in the email", "POST", "/admin/users", add("ada\u200b@example.com", "long enough pw"), 400, "invalid_request", "invisible format character"},
		{"control character in the name", "POST", "/admin/users", add("cy@example.com", "long enough pw", "name", "Cy\nroot"), 400, "invalid_request", "name: holds a control character"},
		{"a role with a comma", "POST", "/admin/users", add("cy@example.com", "long enough pw", "roles", []string{"a,b"}), 400, "invalid_request", "roles: role"},
		{"an empty role", "PATCH", "/admin/users/ada@example.com", map[string]any{"roles": []string{""}}, 400, "invalid_request", "empty role"},
		{"unknown field", "PATCH", "/admin/users/ada@example.com", map[string]any{"email": "x@example.com"}, 400, "invalid_request", "unknown field"},
		{"nothing to change", "PATCH", "/admin/users/ada@example.com", map[string]any{}, 400, "invalid_request", "nothing to change"},
		{"malformed JSON", "PATCH", "/admin/users/ada@example.com", rawJSON(`{"disabled":`), 400, "invalid_request", "malformed JSON"},
		{"taken email", "POST", "/admin/users", add("ADA@example.com", "long enough pw"), 409, "conflict", "exists"},
		{"unknown email", "PATCH", "/admin/users/nobody@example.com", map[string]any{"disabled": true}, 404, "not_found", "no such user"},
		{"unknown id", "DELETE", "/admin/users/nosuchid", nil, 404, "not_found", "no such user"},
		{"unlock of nobody", "POST", "/admin/users/nobody@example.com/unlock", nil, 404, "not_found", "no such user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e apiError
			resp := httpJSON(t, c.method, ts.url+c.path, c.in, &e, "Authorization", "Bearer "+root)
			if resp.StatusCode != c.status || e.Error != c.code || !strings.Contains(e.Message, c.want) {
				t.Errorf("%d %+v, want %d %s with %q", resp.StatusCode, e, c.status, c.code, c.want)
			}
		})
	}
	if got := testutil.ToFloat64(ts.metrics.AdminRequests.WithLabelValues("users.add", "invalid_request")); got != 7 {
		t.Errorf("admin_requests_total{action=users.add,result=invalid_request} = %v, want 7", got)
	}
	if status, body := ts.adminCall(t, "GET", "/admin/users", root, nil); status != 200 || strings.Contains(body, "cy@") || strings.Count(body, `"id"`) != 3 {
		t.Errorf("users after the refusals: %d %s; want ada, bob and root only", status, body)
	}
}

// TestUserChangesEndLiveSessions changes ada through the control socket,
// as stompd user does, while she has a live STOMP session: a new password,
// new roles, disabling and deleting each close the session with an ERROR
// and make her old refresh token useless; a disabled ada cannot log in
// (403 account_disabled, counted) until enabled again.
func TestUserChangesEndLiveSessions(t *testing.T) {
	ts := startServer(t)
	ada := ts.users["ada"]
	dir := ts.cfg.DataDir
	for _, c := range []struct {
		name string
		args []string
	}{
		{"passwd", []string{"passwd", "--password", "ada password 2"}},
		{"roles", []string{"roles", "--roles", "chat,ops"}},
		{"no roles", []string{"roles", "--roles", ""}},
		{"disable", []string{"disable"}},
		{"logout", []string{"logout"}},
		{"del", []string{"del"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "passwd" {
				defer func() { ada.password = "ada password 2" }()
			}
			tok := ts.login(t, "ada")
			session := ts.connectTCP(t, tok.Access)
			if code, out, errOut := runUser(append(c.args, "--data", dir, "--email", ada.email)...); code != 0 {
				t.Fatalf("user %s: exit %d, %q, %q", c.name, code, out, errOut)
			}
			// Not timed: passwd hashes with bcrypt first, which takes
			// its time on a busy machine.
			session.ExpectError("session-revoked", "session revoked")
			if resp := httpJSON(t, "POST", ts.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, nil); resp.StatusCode != 401 {
				t.Errorf("refresh token of the login before %s: %d, want 401", c.name, resp.StatusCode)
			}
		})
		if c.name == "disable" {
			var e apiError
			resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": ada.email, "password": ada.password}, &e)
			if resp.StatusCode != 403 || e.Error != "account_disabled" {
				t.Errorf("login of disabled ada: %d %s, want 403 account_disabled", resp.StatusCode, e.Error)
			}
			if n := ts.authFailures(t)["login/account_disabled"]; n != 1 {
				t.Errorf("auth_failures_total{stage=login,reason=account_disabled} = %v, want 1", n)
			}
			if code, _, errOut := runUser("enable", "--data", dir, "--email", ada.email); code != 0 {
				t.Fatalf("user enable: exit %d, %q", code, errOut)
			}
		}
	}
	var e apiError
	if resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": ada.email, "password": ada.password}, &e); resp.StatusCode != 401 {
		t.Errorf("login of deleted ada: %d, want 401", resp.StatusCode)
	}
	logs := ts.logs.String()
	if !regexp.MustCompile(`msg="login ended" sid=\S+ user=` + ada.id + ` sessions_closed=1`).MatchString(logs) {
		t.Errorf("the logins ended are not logged with their user; logs:\n%s", logs)
	}
	if !regexp.MustCompile(`actor="local uid \d+" action=users.update target=` + ada.id + ` changed=password email=` + ada.email).MatchString(logs) {
		t.Errorf("the control socket's change is not logged with the peer's uid and the change; logs:\n%s", logs)
	}
}

// TestUserCommandsAgainstARunningServer runs every user command on the
// data dir of a running server, which holds the store's lock: each goes
// through the control socket, and the server answers from then on as it
// says.
func TestUserCommandsAgainstARunningServer(t *testing.T) {
	ts := startServer(t)
	checkUserCommands(t, []string{"--data", ts.cfg.DataDir}, func(email, password string) int {
		var e apiError
		return httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": email, "password": password}, &e).StatusCode
	})
}

// TestUserCommandsWithoutAServer runs every user command on a data dir no
// server runs on: each works on the store in the process, and a server
// started afterwards answers as they said.
func TestUserCommandsWithoutAServer(t *testing.T) {
	ts := startServer(t)
	dir := ts.cfg.DataDir
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	checkUserCommands(t, []string{"--data", dir}, func(string, string) int { return 0 })
	ada, bob := ts.users["ada"], ts.users["bob"]
	for _, args := range [][]string{{"disable", "--email", ada.email}, {"roles", "--email", bob.email, "--roles", "ops"}} {
		if code, _, errOut := runUser(append(args, "--data", dir)...); code != 0 {
			t.Fatalf("user %s: exit %d, %q", args[0], code, errOut)
		}
	}
	startAgain(t, ts)
	var e apiError
	if resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": ada.email, "password": ada.password}, &e); resp.StatusCode != 403 || e.Error != "account_disabled" {
		t.Errorf("login of ada disabled offline: %d %s, want 403 account_disabled", resp.StatusCode, e.Error)
	}
	if resp := httpJSON(t, "POST", ts.url+"/auth/login", map[string]string{"email": "cy@example.com", "password": "second password"}, nil); resp.StatusCode != 401 {
		t.Errorf("login of cy deleted offline: %d, want 401", resp.StatusCode)
	}
	ts.login(t, "bob")
}

// TestUserRolesAndDisableOnRedis changes roles and disables a user with
// --redis while a node runs: the node closes the user's session and
// refuses its login.
func TestUserRolesAndDisableOnRedis(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess})
	n, ada := c.nodes[0], c.users["ada"]
	checkUserCommands(t, []string{"--redis", r.URL()}, func(email, password string) int {
		var e apiError
		return httpJSON(t, "POST", n.url+"/auth/login", map[string]string{"email": email, "password": password}, &e).StatusCode
	})
	for _, args := range [][]string{{"roles", "--roles", "ops"}, {"roles", "--roles", ""}, {"disable"}} {
		session := n.connectTCP(t, n.login(t, ada).Access)
		start := time.Now()
		if code, _, errOut := runUser(append(args, "--redis", r.URL(), "--email", ada.email)...); code != 0 {
			t.Fatalf("user %s --redis: exit %d, %q", args[0], code, errOut)
		}
		expectRevokedWithin(t, start, session)
	}
	var e apiError
	if resp := httpJSON(t, "POST", n.url+"/auth/login", map[string]string{"email": ada.email, "password": ada.password}, &e); resp.StatusCode != 403 || e.Error != "account_disabled" {
		t.Errorf("login of ada disabled on Redis: %d %s, want 403 account_disabled", resp.StatusCode, e.Error)
	}
}

// checkUserCommands runs each user command with where (--data or
// --redis), on a user it adds, checking what each prints; login logs the
// user in with a password and returns the status, or 0 when no server
// runs to ask.
func checkUserCommands(t *testing.T, where []string, login func(email, password string) int) {
	t.Helper()
	user := func(stdin string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := userCommand(append(args, where...), strings.NewReader(stdin), &out, &errOut); err != nil {
			t.Fatalf("user %s: %v (%s)", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	const email = "cy@example.com"
	if out := user("first password\n", "add", "--email", email, "--password-stdin", "--name", "Cy", "--roles", "chat"); !strings.Contains(out, "added "+email) {
		t.Errorf("add: %q", out)
	}
	if got := login(email, "first password"); got != 0 && got != 200 {
		t.Errorf("login after add: %d, want 200", got)
	}
	if out := user("", "roles", "--email", email, "--roles", "ops,admin"); !strings.Contains(out, "set the roles of "+email) {
		t.Errorf("roles: %q", out)
	}
	user("", "disable", "--email", email)
	if out := user("", "list"); !strings.Contains(out, "ops,admin") || !strings.Contains(out, "disabled") {
		t.Errorf("list after roles and disable: %q", out)
	}
	if got := login(email, "first password"); got != 0 && got != 403 {
		t.Errorf("login while disabled: %d, want 403", got)
	}
	user("", "roles", "--email", email, "--roles", "")
	if out := user("", "list"); strings.Contains(out, "ops") || !strings.Contains(out, email) {
		t.Errorf("list after --roles \"\": %q, want cy without roles", out)
	}
	user("", "enable", "--email", email)
	user("second password\r\n", "passwd", "--email", email, "--password-stdin")
	if got := login(email, "second password"); got != 0 && got != 200 {
		t.Errorf("login after passwd and enable: %d, want 200", got)
	}
	if out := user("", "logout", "--email", email); !strings.Contains(out, "ended every login of "+email) {
		t.Errorf("logout: %q", out)
	}
	if out := user("", "unlock", "--email", email); !strings.Contains(out, email) && !strings.Contains(out, "no account is locked") {
		t.Errorf("unlock: %q", out)
	}
	user("", "del", "--email", email)
	if got := login(email, "second password"); got != 0 && got != 401 {
		t.Errorf("login after del: %d, want 401", got)
	}
	if out := user("", "list"); strings.Contains(out, email) {
		t.Errorf("list after del: %q", out)
	}
}

// TestUserPasswordInput checks how user add and passwd take a password:
// from one line of stdin, refusing both flags at once, an empty stdin and,
// without a terminal to prompt on, neither flag.
func TestUserPasswordInput(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"both flags", "x\n", []string{"--password", "long enough", "--password-stdin"}, "give one of them"},
		{"empty stdin", "", []string{"--password-stdin"}, "holds no password"},
		{"short line", "short\nlong enough\n", []string{"--password-stdin"}, "at least 8"},
		{"no terminal", "", nil, "not a terminal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := userCommand(append([]string{"add", "--data", data, "--email", "cy@example.com"}, c.args...), strings.NewReader(c.stdin), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "long enough") {
				t.Errorf("err %v, want one with %q that quotes no password", err, c.want)
			}
		})
	}
	var out bytes.Buffer
	if err := userCommand([]string{"add", "--data", data, "--email", "cy@example.com", "--password-stdin"}, strings.NewReader("a password with spaces\nnext line"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "--data", data)
	login(t, ts.url, &testUser{email: "cy@example.com", password: "a password with spaces"})
}

// TestRoleChangeOnOneNodeEndsSessionsOnAnother changes ada's roles through
// node A's admin API while she has a session on node B: B closes it and
// lists her new roles. With Redis down the API answers 503.
func TestRoleChangeOnOneNodeEndsSessionsOnAnother(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess})
	a, b, ada := c.nodes[0], c.nodes[1], c.users["ada"]
	root := &testUser{email: "root@example.com", password: "root password"}
	if code, _, errOut := runUser("add", "--redis", r.URL(), "--email", root.email, "--password", root.password, "--roles", admin.Role); code != 0 {
		t.Fatalf("add root: %d %s", code, errOut)
	}
	session := b.connectTCP(t, b.login(t, ada).Access)
	rootToken := a.login(t, root).Access
	start := time.Now()
	status, body := adminHTTP(t, a.url, "PATCH", "/admin/users/"+ada.email, rootToken, map[string]any{"roles": []string{"ops"}})
	if status != 200 || !strings.Contains(body, `"roles":["ops"]`) {
		t.Fatalf("PATCH roles on node A: %d %s", status, body)
	}
	expectRevokedWithin(t, start, session)
	var users struct{ Users []admin.User }
	httpJSON(t, "GET", b.url+"/admin/users", nil, &users, "Authorization", "Bearer "+b.login(t, root).Access)
	if i := slices.IndexFunc(users.Users, func(u admin.User) bool { return u.Email == ada.email }); i < 0 || !slices.Equal(users.Users[i].Roles, []string{"ops"}) {
		t.Errorf("node B lists %+v, want ada with the role ops", users.Users)
	}
	token := b.login(t, root).Access
	r.Kill()
	if status, body := adminHTTP(t, b.url, "GET", "/admin/users", token, nil); status != 503 || !strings.Contains(body, "unavailable") {
		t.Errorf("GET /admin/users with Redis down: %d %s, want 503 unavailable", status, body)
	}
}

// TestConcurrentAddsOfOneEmail sends ten adds of one email at once: one
// is created, the others are 409, and one user is stored.
func TestConcurrentAddsOfOneEmail(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	root := ts.login(t, "root").Access
	statuses := make(chan int, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			in := map[string]any{"email": []string{"cy@example.com", "CY@example.com"}[i%2], "password": "cy password"}
			req, _ := http.NewRequest("POST", ts.url+"/admin/users", strings.NewReader(mustJSON(in)))
			req.Header.Set("Authorization", "Bearer "+root)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != 9 {
		t.Errorf("statuses %v, want one 201 and nine 409", count)
	}
	if _, body := ts.adminCall(t, "GET", "/admin/users", root, nil); strings.Count(strings.ToLower(body), "cy@example.com") != 1 {
		t.Errorf("users: %s, want cy once", body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
