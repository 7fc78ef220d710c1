package redisstore

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/persist/redistest"
)

// TestNodesStartingTogetherServeOneJWKS starts eight nodes' keys at once on
// an empty Redis, each with its own client and fresh key: they all end up
// with the key stored first, so every node serves the same JWKS.
func TestNodesStartingTogetherServeOneJWKS(t *testing.T) {
	r := redistest.Start(t)
	jwks := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range jwks {
		s := New(redistest.Client(t, r.URL()), Options{})
		wg.Go(func() {
			k, err := auth.LoadEd25519Keys(s)
			if err != nil {
				t.Error(err)
				return
			}
			jwks[i] = k.JWKS()
		})
	}
	wg.Wait()
	for i, j := range jwks {
		if !bytes.Equal(j, jwks[0]) {
			t.Errorf("node %d serves JWKS %s, node 0 %s", i, j, jwks[0])
		}
	}
}

// TestRotationOnOneNodeReachesTheOther rotates the signing key on node A:
// node B verifies the new key's tokens at once, and signs with it once it
// reloads the ring, which RunKeyRing does every auth.DefaultKeyReload.
func TestRotationOnOneNodeReachesTheOther(t *testing.T) {
	r := redistest.Start(t)
	a, b := newNode(t, r.URL(), nil), newNode(t, r.URL(), nil)
	mustAddUser(t, a.store, "alice@example.com")
	old := b.login(t, "alice@example.com").AccessToken
	ring, err := a.svc.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	fresh := a.login(t, "alice@example.com").AccessToken
	if idptest.KID(t, fresh) != ring.KID || idptest.KID(t, old) == ring.KID {
		t.Fatalf("kids: before the rotation %s, after %s; want the new %s after only", idptest.KID(t, old), idptest.KID(t, fresh), ring.KID)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := b.svc.VerifyAccess(tok); err != nil {
			t.Errorf("node B verifying a token of kid %s: %v", idptest.KID(t, tok), err)
		}
	}
	if err := b.svc.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if kid := idptest.KID(t, b.login(t, "alice@example.com").AccessToken); kid != ring.KID {
		t.Errorf("node B signs with %s after reloading, want the new %s", kid, ring.KID)
	}
	if listed, err := b.svc.SigningKeys(); err != nil || len(listed.Keys) != 2 || listed.KID != ring.KID {
		t.Errorf("node B lists %+v (%v), want the ring of node A's rotation", listed, err)
	}
}

// TestConcurrentRotationsOnRedis rotates on four nodes at once: every
// rotation lands, and the ring has one current key.
func TestConcurrentRotationsOnRedis(t *testing.T) {
	r := redistest.Start(t)
	nodes := make([]*node, 4)
	for i := range nodes {
		nodes[i] = newNode(t, r.URL(), nil)
	}
	kids := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			ring, err := n.svc.RotateKey()
			if err != nil {
				t.Error(err)
			}
			kids[i] = ring.KID
		})
	}
	wg.Wait()
	ring, err := nodes[0].svc.SigningKeys()
	if err != nil || len(ring.Keys) != len(nodes)+1 {
		t.Fatalf("ring after %d rotations: %+v (%v), want %d keys", len(nodes), ring, err, len(nodes)+1)
	}
	listed := map[string]bool{}
	for i, k := range ring.Keys {
		listed[k.KID] = true
		if current := k.VerifyUntil.IsZero(); current != (i == 0) {
			t.Errorf("key %d (%s): current %v", i, k.KID, current)
		}
	}
	for _, kid := range kids {
		if !listed[kid] {
			t.Errorf("rotation to %s lost: ring %+v", kid, ring)
		}
	}
}

// TestSeedWrittenByEarlierVersionsIsKept starts on a Redis holding only
// the seed that stompd stored before it kept a ring.
func TestSeedWrittenByEarlierVersionsIsKept(t *testing.T) {
	r := redistest.Start(t)
	seed := bytes.Repeat([]byte{9}, ed25519.SeedSize)
	if _, err := r.Do("SET", keyPrefix+auth.Ed25519KeyName, string(seed)); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, r.URL(), nil)
	var set struct {
		Keys []struct{ X, Kid string } `json:"keys"`
	}
	if err := json.Unmarshal(n.svc.Keys().JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", n.svc.Keys().JWKS(), err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if set.Keys[0].X != base64.RawURLEncoding.EncodeToString(pub) {
		t.Errorf("JWKS serves key %s, want the stored seed's", set.Keys[0].X)
	}
	if ring, err := n.svc.SigningKeys(); err != nil || ring.KID != set.Keys[0].Kid || len(ring.Keys) != 1 {
		t.Errorf("ring %+v (%v), want the stored seed as its only key", ring, err)
	}
}
