package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
)

// publishedKeys returns the keys /.well-known/jwks.json of the server at
// url lists, by kid.
func publishedKeys(t testing.TB, url string) map[string]string {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, X string } `json:"keys"`
	}
	if resp := httpJSON(t, "GET", url+"/.well-known/jwks.json", nil, &set); resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: status %d", resp.StatusCode)
	}
	keys := map[string]string{}
	for _, k := range set.Keys {
		keys[k.Kid] = k.X
	}
	return keys
}

// keyAdmin calls the signing-key endpoints of the admin API.
type keyAdmin struct {
	url, access string
}

// call sends method to path with the admin's token and returns the status,
// the ring answered and the error code, if any.
func (a keyAdmin) call(t testing.TB, method, path string) (int, auth.KeyRing, string) {
	t.Helper()
	var out struct {
		auth.KeyRing
		apiError
	}
	header := []string{}
	if a.access != "" {
		header = []string{"Authorization", "Bearer " + a.access}
	}
	resp := httpJSON(t, method, a.url+path, nil, &out, header...)
	return resp.StatusCode, out.KeyRing, out.Error
}

// rotate rotates the signing key and fails the test unless it is answered
// 200 with a new key next, which signs from its signs_from.
func (a keyAdmin) rotate(t testing.TB) auth.KeyRing {
	t.Helper()
	status, ring, code := a.call(t, "POST", "/admin/keys/rotate")
	if status != http.StatusOK || ring.Next == "" || ring.KID == ring.Next || ring.Keys[0].KID != ring.Next || ring.Keys[0].SignsFrom.IsZero() {
		t.Fatalf("POST /admin/keys/rotate: %d %s %+v", status, code, ring)
	}
	return ring
}

// untilSigns waits until the next key of ring signs.
func untilSigns(ring auth.KeyRing) {
	time.Sleep(time.Until(ring.Keys[0].SignsFrom))
}

// TestKeyRotationWhileSessionsLive rotates the signing key under live
// STOMP sessions: the JWKS lists the new key at once while logins still
// get the old kid; from its signs_from logins get the new kid, a session
// of a token of the old key keeps working until the token expires, an
// in-band refresh with a token of the new key works, and the JWKS lists
// both keys until the old one's verify_until, then only the new one.
func TestKeyRotationWhileSessionsLive(t *testing.T) {
	ts := startServer(t, "--access-ttl", "6s")
	ts.addAdmin(t, "root")
	admin := keyAdmin{ts.url, ts.login(t, "root").Access}
	tok := ts.login(t, "ada")
	oldKID := idptest.KID(t, tok.Access)
	sub := ts.connectTCP(t, tok.Access)
	sub.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/keys", "receipt:s")
	sub.Expect(stomp.RECEIPT)
	idle := ts.connectTCP(t, tok.Access)

	ring := admin.rotate(t)
	if ring.KID != oldKID || len(ring.Keys) != 2 || ring.Keys[1].KID != oldKID || ring.Keys[1].VerifyUntil.IsZero() {
		t.Fatalf("rotation answered %+v, want a new key before %s, which signs and verifies until a time", ring, oldKID)
	}
	if keys := publishedKeys(t, ts.url); len(keys) != 2 || keys[oldKID] == "" || keys[ring.Next] == "" {
		t.Errorf("JWKS after the rotation lists %v, want %s and %s", keys, oldKID, ring.Next)
	}
	if kid := idptest.KID(t, ts.login(t, "bob").Access); kid != oldKID {
		t.Errorf("login right after the rotation got kid %s, want still %s", kid, oldKID)
	}
	untilSigns(ring)
	bob := ts.login(t, "bob")
	if idptest.KID(t, bob.Access) != ring.Next {
		t.Errorf("login after signs_from got kid %s, want %s", idptest.KID(t, bob.Access), ring.Next)
	}
	pub := ts.connectTCP(t, bob.Access)
	pub.Send(stomp.SEND, "after rotation", "destination:/topic/keys")
	if m := sub.Expect(stomp.MESSAGE); string(m.Body) != "after rotation" {
		t.Errorf("session of the old key got %q", m.Body)
	}
	fresh := ts.refresh(t, tok.Refresh) // a later exp, after the wait for signs_from
	if idptest.KID(t, fresh.Access) != ring.Next {
		t.Errorf("refresh after signs_from got kid %s, want %s", idptest.KID(t, fresh.Access), ring.Next)
	}
	sub.Send(stomp.SEND, "", "destination:/sys/auth/refresh", "Authorization:Bearer "+fresh.Access, "receipt:refresh")
	sub.Expect(stomp.RECEIPT)
	idle.ExpectError("token-expired", "token expired")
	ts.connectTCP(t, ts.login(t, "bob").Access).Send(stomp.SEND, "after expiry", "destination:/topic/keys")
	if m := sub.Expect(stomp.MESSAGE); string(m.Body) != "after expiry" {
		t.Errorf("refreshed session got %q", m.Body)
	}
	text := metricsText(t, ts.url)
	for _, want := range []string{"stompd_signing_keys 2\n", "stompd_key_rotations_total 1\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	waitUntil(t, time.Until(ring.Keys[1].VerifyUntil)+2*auth.DefaultKeyReload, "old key leaving the JWKS", func() bool {
		_, still := publishedKeys(t, ts.url)[oldKID]
		return !still
	})
	if keys := publishedKeys(t, ts.url); len(keys) != 1 || keys[ring.Next] == "" {
		t.Errorf("JWKS once the old key's verify_until passed lists %v, want only %s", keys, ring.Next)
	}
}

// TestKeyEndpointsNeedAnAdmin: the key endpoints refuse a plain user
// (403) and a request without a token (401) and count both.
func TestKeyEndpointsNeedAnAdmin(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	for _, c := range []struct {
		name   string
		caller keyAdmin
		status int
		code   string
	}{
		{"admin", keyAdmin{ts.url, ts.login(t, "root").Access}, http.StatusOK, ""},
		{"plain user", keyAdmin{ts.url, ts.login(t, "ada").Access}, http.StatusForbidden, "forbidden"},
		{"no token", keyAdmin{ts.url, ""}, http.StatusUnauthorized, "unauthorized"},
	} {
		for _, path := range []string{"GET /admin/keys", "POST /admin/keys/rotate"} {
			method, p, _ := strings.Cut(path, " ")
			if status, _, code := c.caller.call(t, method, p); status != c.status || code != c.code {
				t.Errorf("%s as %s: %d %q, want %d %q", path, c.name, status, code, c.status, c.code)
			}
		}
	}
	text := metricsText(t, ts.url)
	for _, want := range []string{
		`stompd_admin_requests_total{action="keys.rotate",result="ok"} 1`,
		`stompd_admin_requests_total{action="refused",result="forbidden"} 2`,
		`stompd_admin_requests_total{action="refused",result="unauthorized"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestKeyRingOfAnEarlierDataDirSurvivesRestarts starts on a data dir that
// a stompd without rings wrote (only the seed): its tokens keep verifying,
// and the ring a rotation makes survives a restart.
func TestKeyRingOfAnEarlierDataDirSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	store, err := openStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 42
	if err := store.PutKey(auth.Ed25519KeyName, seed); err != nil {
		t.Fatal(err)
	}
	store.Close()
	first := startServer(t, "--data", dir)
	first.addAdmin(t, "root")
	pub := base64.RawURLEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	keys := publishedKeys(t, first.url)
	if len(keys) != 1 || !slices.Contains(slices.Collect(maps.Values(keys)), pub) {
		t.Fatalf("JWKS of an earlier data dir %v, want its seed's key %s", keys, pub)
	}
	f := newForger(t, first)
	first.connectTCP(t, f.sign(t, f.claims(first.users["ada"]), nil))
	ring := keyAdmin{first.url, first.login(t, "root").Access}.rotate(t)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	startAgain(t, first)
	untilSigns(ring)
	if kid := idptest.KID(t, login(t, first.url, first.users["ada"]).Access); kid != ring.Next {
		t.Errorf("after a restart, tokens have kid %s, want the rotated %s", kid, ring.Next)
	}
	if keys := publishedKeys(t, first.url); len(keys) != 2 || keys[ring.Keys[1].KID] != pub {
		t.Errorf("JWKS after a restart %v, want the rotated key and the seed's", keys)
	}
}

// TestConcurrentRotationsOnOneDataDir rotates six times at once through
// the admin API: one rotation lands in the bbolt file, and the others are
// refused 409 rotation_pending, counted, while its key waits to sign.
func TestConcurrentRotationsOnOneDataDir(t *testing.T) {
	ts := startServer(t)
	ts.addAdmin(t, "root")
	admin := keyAdmin{ts.url, ts.login(t, "root").Access}
	nexts := make([]string, 6)
	var wg sync.WaitGroup
	for i := range nexts {
		wg.Go(func() {
			status, ring, code := admin.call(t, "POST", "/admin/keys/rotate")
			if status != http.StatusOK && (status != http.StatusConflict || code != "rotation_pending") {
				t.Errorf("concurrent rotation: %d %s, want 200 or 409 rotation_pending", status, code)
			}
			nexts[i] = ring.Next
		})
	}
	wg.Wait()
	status, ring, _ := admin.call(t, "GET", "/admin/keys")
	if status != http.StatusOK || len(ring.Keys) != 2 || ring.Next == "" {
		t.Fatalf("GET /admin/keys after %d concurrent rotations: %d %+v, want 2 keys, one next", len(nexts), status, ring)
	}
	if landed := slices.DeleteFunc(nexts, func(kid string) bool { return kid == "" }); len(landed) != 1 || landed[0] != ring.Next {
		t.Errorf("rotations that landed made %v, want one, the ring's next key %s", landed, ring.Next)
	}
	text := metricsText(t, ts.url)
	for _, want := range []string{
		`stompd_admin_requests_total{action="keys.rotate",result="ok"} 1`,
		`stompd_admin_requests_total{action="keys.rotate",result="rotation_pending"} 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestKeyRotationIsPublishedOnEveryNodeFirst rotates the signing key
// through node A's admin API with a publication delay longer than a
// node's ring reload: node B, in another process, lists the new key in
// its JWKS while both nodes still sign with the old one, and from its
// signs_from both sign with the new key.
func TestKeyRotationIsPublishedOnEveryNodeFirst(t *testing.T) {
	keyPublishDelay = auth.DefaultKeyReload + 3*time.Second // of node A, which rotates
	t.Cleanup(func() { keyPublishDelay = testKeyPublishDelay })
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess})
	a, b := c.nodes[0], c.nodes[1]
	hash, err := bcrypt.GenerateFromPassword([]byte("root password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	root := &testUser{email: "root@example.com", password: "root password"}
	root.id = a.srv.addClusterUser(t, auth.User{Email: root.email, Roles: []string{"admin"}, PasswordHash: hash})
	oldKID := idptest.KID(t, a.login(t, c.users["ada"]).Access)
	ring := keyAdmin{a.url, a.login(t, root).Access}.rotate(t)

	if keys := publishedKeys(t, a.url); keys[ring.Next] == "" {
		t.Errorf("node A's JWKS right after its rotation lists %v, want %s", keys, ring.Next)
	}
	waitUntil(t, 2*auth.DefaultKeyReload, "node B publishing the new key", func() bool {
		return publishedKeys(t, b.url)[ring.Next] != ""
	})
	for _, n := range c.nodes {
		if kid := idptest.KID(t, n.login(t, c.users["bob"]).Access); kid != oldKID || time.Now().After(ring.Keys[0].SignsFrom) {
			t.Errorf("node %s signs with %s once every node lists the new key (signs_from %s), want still %s", n.name, kid, ring.Keys[0].SignsFrom, oldKID)
		}
	}
	untilSigns(ring)
	for _, n := range c.nodes {
		tok := n.login(t, c.users["ada"])
		if kid := idptest.KID(t, tok.Access); kid != ring.Next {
			t.Errorf("node %s signs with %s after signs_from, want %s", n.name, kid, ring.Next)
		}
		c.nodes[1-slices.Index(c.nodes, n)].connectTCP(t, tok.Access)
	}
	if keys := publishedKeys(t, b.url); len(keys) != 2 {
		t.Errorf("node B's JWKS lists %v, want the old key and %s", keys, ring.Next)
	}
}
