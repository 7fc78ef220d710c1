package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// sessionsAdmin adds the account root, with the role admin, to ts's users
// (the cluster's, with --redis), and returns its access token.
func sessionsAdmin(t *testing.T, ts *testServer) string {
	t.Helper()
	u := &testUser{email: "root@example.com", password: "root password"}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if ts.cluster != nil {
		ts.addClusterUser(t, auth.User{Email: u.email, Name: "root", Roles: []string{admin.Role}, PasswordHash: hash})
	} else if _, err := ts.store.AddUser(persist.User{Email: u.email, Name: "root", Roles: []string{admin.Role}, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return login(t, ts.url, u).Access
}

// listSessions does GET /admin/sessions with query at url as the bearer
// of access, and returns the status and the answer.
func listSessions(t *testing.T, url, query, access string) (int, admin.SessionList) {
	t.Helper()
	var out admin.SessionList
	var header []string
	if access != "" {
		header = []string{"Authorization", "Bearer " + access}
	}
	resp := httpJSON(t, "GET", url+"/admin/sessions"+query, nil, &out, header...)
	return resp.StatusCode, out
}

// describe is a listing's sessions as "node user transport remote sid
// subscriptions" lines, for comparisons.
func describe(l admin.SessionList) []string {
	var out []string
	for _, s := range l.Sessions {
		out = append(out, fmt.Sprintf("%s %s %s %s %s %d", s.Node, s.Name, s.Transport, s.Remote, s.SID, s.Subscriptions))
	}
	return out
}

// TestAdminSessionsOnOneNode connects ada over TCP and over WebSocket
// (two logins) and lists the sessions as an admin: each with its user,
// name, login, transport, remote address, node, since and subscriptions,
// the longest connected first; ?user= and ?limit= narrow the list; a
// plain user gets 403 and no token 401, counted; a session that ends
// disappears.
func TestAdminSessionsOnOneNode(t *testing.T) {
	ts := startServer(t)
	root := sessionsAdmin(t, ts)
	before := time.Now()
	tcpLogin, wsLogin := ts.login(t, "ada"), ts.login(t, "ada")
	tcp := ts.connectTCP(t, tcpLogin.Access)
	tcp.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/news", "receipt:s")
	tcp.Expect(stomp.RECEIPT)
	ws := ts.connectWS(t, wsLogin.Access)
	sid := func(tok tokens) string {
		c, err := ts.auth.VerifyAccess(tok.Access)
		if err != nil {
			t.Fatal(err)
		}
		return c.SID
	}

	status, l := listSessions(t, ts.url, "", root)
	want := []string{
		fmt.Sprintf("%s ada tcp %s %s 1", ts.node, l.Sessions[0].Remote, sid(tcpLogin)),
		fmt.Sprintf("%s ada ws 127.0.0.1 %s 0", ts.node, sid(wsLogin)),
	}
	if status != 200 || !slices.Equal(describe(l), want) || !strings.HasPrefix(l.Sessions[0].Remote, "127.0.0.1:") {
		t.Fatalf("GET /admin/sessions: %d %v, want 200 %v", status, describe(l), want)
	}
	for _, s := range l.Sessions {
		if s.User != ts.users["ada"].id || s.TLS || s.Since.Before(before.Truncate(time.Second)) || s.Since.After(time.Now()) {
			t.Errorf("session %+v: want ada's, in the clear, since the test began", s)
		}
	}
	if l.Total != 2 || l.Truncated || !slices.Equal(l.Nodes, []string{ts.node}) || len(l.Missing) != 0 {
		t.Errorf("total %d, truncated %v, nodes %v, missing %v", l.Total, l.Truncated, l.Nodes, l.Missing)
	}
	if _, l := listSessions(t, ts.url, "?limit=1", root); l.Total != 2 || !l.Truncated || !slices.Equal(describe(l), want[:1]) {
		t.Errorf("?limit=1: %v, total %d, truncated %v", describe(l), l.Total, l.Truncated)
	}
	if _, l := listSessions(t, ts.url, "?user="+ts.users["bob"].id, root); len(l.Sessions) != 0 || l.Total != 0 {
		t.Errorf("?user=<bob>: %v", describe(l))
	}
	if status, _ := listSessions(t, ts.url, "?limit=0", root); status != http.StatusBadRequest {
		t.Errorf("?limit=0: %d, want 400", status)
	}
	if status, _ := listSessions(t, ts.url, "", ts.login(t, "bob").Access); status != http.StatusForbidden {
		t.Errorf("as a plain user: %d, want 403", status)
	}
	if status, _ := listSessions(t, ts.url, "", ""); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
	m := metricsText(t, ts.url)
	for _, line := range []string{
		`stompd_admin_requests_total{action="sessions.list",result="ok"} 3`,
		`stompd_admin_requests_total{action="sessions.list",result="invalid_request"} 1`,
		`stompd_admin_requests_total{action="refused",result="forbidden"} 1`,
		`stompd_admin_requests_total{action="refused",result="unauthorized"} 1`,
	} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}

	ws.Send(stomp.DISCONNECT, "", "receipt:bye")
	ws.Expect(stomp.RECEIPT)
	waitUntil(t, 5*time.Second, "the ended session gone", func() bool {
		_, l := listSessions(t, ts.url, "", root)
		return slices.Equal(describe(l), want[:1])
	})
}

// TestAdminSessionsBehindAProxy lists a WebSocket session that came
// through a trusted proxy: its remote address is the client's, from
// X-Forwarded-For, and it is TLS when X-Forwarded-Proto says https.
func TestAdminSessionsBehindAProxy(t *testing.T) {
	ts := startServer(t, "--trusted-proxies", "127.0.0.1/32")
	root := sessionsAdmin(t, ts)
	tok := ts.login(t, "ada")
	header := http.Header{"X-Forwarded-For": {"198.51.100.9"}, "X-Forwarded-Proto": {"https"}}
	p, status := dialWS(t, ts.wsURL+"?ticket="+ts.ticket(t, tok.Access), header)
	if p == nil {
		t.Fatalf("upgrade: %d", status)
	}
	p.Connect("Authorization:Bearer " + tok.Access)
	_, l := listSessions(t, ts.url, "", root)
	if len(l.Sessions) != 1 || l.Sessions[0].Remote != "198.51.100.9" || !l.Sessions[0].TLS {
		t.Errorf("behind a proxy: %+v, want remote 198.51.100.9 over TLS", l.Sessions)
	}
}

// TestAdminSessionsAcrossNodes starts two nodes on one Redis, the second
// a child process, each with a session, and lists them from either node:
// every row names the node it is on. Once the child is killed -9, which
// the membership still counts alive for a while, a listing reports it
// missing after the wait rather than waiting for it.
func TestAdminSessionsAcrossNodes(t *testing.T) {
	c := startCluster(t, redistest.Start(t).URL(), []nodeKind{inProcess, childProcess})
	a, b := c.nodes[0], c.nodes[1]
	root := sessionsAdmin(t, a.srv)
	a.connectTCP(t, a.login(t, c.users["ada"]).Access)
	tok := b.login(t, c.users["bob"])
	b.connectWS(t, b.ticket(t, tok.Access), tok.Access)

	for _, n := range []*clusterNode{a, b} {
		var l admin.SessionList
		waitUntil(t, 10*time.Second, "both nodes answering "+n.String(), func() bool {
			_, l = listSessions(t, n.url, "", root)
			return len(l.Nodes) == 2
		})
		got := []string{}
		for _, s := range l.Sessions {
			got = append(got, s.Node+" "+s.Name+" "+s.Transport)
		}
		want := []string{a.id + " ada tcp", b.id + " bob ws"}
		if !slices.Equal(got, want) || len(l.Missing) != 0 || !slices.Equal(l.Nodes, slices.Sorted(slices.Values([]string{a.id, b.id}))) {
			t.Errorf("from %v: %v, nodes %v, missing %v; want %v", n, got, l.Nodes, l.Missing, want)
		}
	}

	b.kill(t)
	start := time.Now()
	status, l := listSessions(t, a.url, "", root)
	took := time.Since(start)
	if status != 200 || !slices.Equal(l.Missing, []string{b.id}) || !slices.Equal(l.Nodes, []string{a.id}) || len(l.Sessions) != 1 {
		t.Errorf("after killing %v: %d, sessions %v, nodes %v, missing %v", b, status, describe(l), l.Nodes, l.Missing)
	}
	if took > 6*time.Second {
		t.Errorf("the listing waited %v for a dead node, more than the 2 s wait allows", took)
	}
}
