package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// revocationBound is how soon a logout, a reused refresh token or a
// password change must close the login's sessions on every node.
const revocationBound = time.Second

// TestLogoutOnOneNodeClosesSessionsOnTheOthersWithin1s: a login with
// sessions on nodes B and C (a child process) logs out on node A; both
// sessions get ERROR session-revoked within a second, and the user's other
// login keeps its session.
func TestLogoutOnOneNodeClosesSessionsOnTheOthersWithin1s(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess, childProcess})
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	ada := c.users["ada"]
	tok := a.login(t, ada)
	doomed := []*stomptest.Client{b.connectTCP(t, tok.Access), cc.connectTCP(t, tok.Access)}
	other := b.connectTCP(t, b.login(t, ada).Access)

	if resp := httpJSON(t, "POST", a.url+"/auth/logout", map[string]string{"refresh_token": tok.Refresh}, nil,
		"Authorization", "Bearer "+tok.Access); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	expectRevokedWithin(t, time.Now(), doomed...)
	other.Send(stomp.SEND, "", "destination:/topic/alive", "receipt:r")
	other.Expect(stomp.RECEIPT, "receipt-id:r")
}

// expectRevokedWithin checks that each session gets ERROR session-revoked
// and is closed no later than revocationBound after since.
func expectRevokedWithin(t *testing.T, since time.Time, sessions ...*stomptest.Client) {
	t.Helper()
	for i, s := range sessions {
		s.ExpectError("session-revoked", "session revoked")
		if d := time.Since(since); d > revocationBound {
			t.Errorf("session %d closed %v after the revocation, want within %v", i, d, revocationBound)
		}
	}
}

// TestConcurrentRotationsOfOneTokenOverThreeNodes: 50 concurrent refreshes
// of one refresh token, spread over three nodes, rotate it at most once;
// the reuse ends the login, whose sessions on every node close within a
// second.
func TestConcurrentRotationsOfOneTokenOverThreeNodes(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess, childProcess})
	tok := c.nodes[0].login(t, c.users["ada"])
	var sessions []*stomptest.Client
	for _, n := range c.nodes {
		sessions = append(sessions, n.connectTCP(t, tok.Access))
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 50 {
		n := c.nodes[i%len(c.nodes)]
		wg.Go(func() {
			resp, err := http.Post(n.url+"/auth/refresh", "application/json", strings.NewReader(`{"refresh_token":"`+tok.Refresh+`"}`))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	reused := time.Now()
	if statuses[http.StatusOK] > 1 || statuses[http.StatusOK]+statuses[http.StatusUnauthorized] != 50 {
		t.Errorf("50 concurrent rotations over 3 nodes answered %v: want at most one 200 and the rest 401", statuses)
	}
	expectRevokedWithin(t, reused, sessions...)
}

// TestReusedRefreshTokenOnAnotherNodeEndsTheLoginEverywhere: a token
// rotated on node A and replayed on node B is refused, and the login's
// sessions on nodes A and C close within a second.
func TestReusedRefreshTokenOnAnotherNodeEndsTheLoginEverywhere(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess})
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	tok := a.login(t, c.users["bob"])
	var rotated tokens
	if resp := httpJSON(t, "POST", a.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, &rotated); resp.StatusCode != 200 {
		t.Fatalf("first refresh: %d", resp.StatusCode)
	}
	sessions := []*stomptest.Client{a.connectTCP(t, rotated.Access), cc.connectTCP(t, rotated.Access)}
	if resp := httpJSON(t, "POST", b.url+"/auth/refresh", map[string]string{"refresh_token": tok.Refresh}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replay of the rotated token on node B: %d, want 401", resp.StatusCode)
	}
	expectRevokedWithin(t, time.Now(), sessions...)
	if resp := httpJSON(t, "POST", cc.url+"/auth/refresh", map[string]string{"refresh_token": rotated.Refresh}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the family's newest token after the reuse: %d, want 401", resp.StatusCode)
	}
}

// TestPasswordChangeWithRedisEndsLoginsOnEveryNode: stompd user passwd
// --redis, run while the nodes serve, closes the user's sessions on every
// node within a second, and the new password logs in anywhere.
func TestPasswordChangeWithRedisEndsLoginsOnEveryNode(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess})
	ada := c.users["ada"]
	var sessions []*stomptest.Client
	for _, n := range c.nodes {
		sessions = append(sessions, n.connectTCP(t, n.login(t, ada).Access))
	}
	if code, _, stderr := runUser("passwd", "--redis", r.URL(), "--email", ada.email, "--password", "a new passphrase"); code != 0 {
		t.Fatalf("user passwd --redis: exit %d: %s", code, stderr)
	}
	expectRevokedWithin(t, time.Now(), sessions...)
	c.nodes[1].login(t, &testUser{email: ada.email, password: "a new passphrase"})
}

// TestLoginThrottleCountsFailuresOfEveryNode: five wrong passwords for
// one account from one address, spread over three nodes, lock that pair
// on all of them, even for the right password.
func TestLoginThrottleCountsFailuresOfEveryNode(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, inProcess, childProcess})
	ada := c.users["ada"]
	wrong := map[string]string{"email": ada.email, "password": "not the password"}
	for i := range 5 {
		if resp := httpJSON(t, "POST", c.nodes[i%3].url+"/auth/login", wrong, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	right := map[string]string{"email": ada.email, "password": ada.password}
	for _, n := range c.nodes {
		resp := httpJSON(t, "POST", n.url+"/auth/login", right, nil)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("right password at %v after 5 failures elsewhere: %d (Retry-After %q), want 429 with Retry-After",
				n, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

// TestEveryNodeServesTheSameJWKS: nodes that start together on one Redis
// sign with one key, so their JWKS are the same, and a token issued by one
// verifies on another.
func TestEveryNodeServesTheSameJWKS(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess})
	first := ""
	for _, n := range c.nodes {
		resp, err := http.Get(n.url + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if first == "" {
			first = string(b)
		} else if string(b) != first {
			t.Errorf("JWKS of %v:\n%s\nwant the same as node A's:\n%s", n, b, first)
		}
	}
	tok := c.nodes[1].login(t, c.users["bob"])
	c.nodes[2].connectTCP(t, tok.Access)
}

// TestSigningKeyPutBackWhenRedisLosesIt: when Redis loses its data (here
// FLUSHALL; a restart without persistence does the same), a running node
// puts its signing key back, so that a node started afterwards serves the
// same JWKS and its tokens verify on the first node.
func TestSigningKeyPutBackWhenRedisLosesIt(t *testing.T) {
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess})
	if _, err := r.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*auth.DefaultKeyReload, "the signing keys back in Redis", func() bool {
		n, err := r.Do("EXISTS", "stompd:auth:key:"+auth.Ed25519RingName)
		return err == nil && n == "1"
	})
	b := startServer(t, "--redis", r.URL())
	jwks := func(url string) string {
		resp, err := http.Get(url + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if a, got := jwks(c.nodes[0].url), jwks(b.url); a != got {
		t.Errorf("JWKS of a node started after Redis lost its data:\n%s\nwant the running node's:\n%s", got, a)
	}
	tok := login(t, b.url, b.users["ada"])
	c.nodes[0].connectTCP(t, tok.Access)
}
