package redisstore

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp/stomptest"
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

// TestRotationIsPublishedOnEveryNodeBeforeAnySignsWithIt rotates the
// signing key on node A of two on one Redis, with one clock: both nodes
// list the new key in their JWKS (B once it reads the ring, which
// RunKeyRing does every auth.DefaultKeyReload) while both still sign with
// the old key; from its signs_from both sign with the new one, B without
// reading the ring again, and tokens of the old key still verify.
func TestRotationIsPublishedOnEveryNodeBeforeAnySignsWithIt(t *testing.T) {
	r := redistest.Start(t)
	clock := stomptest.NewClock()
	clock.Advance(time.Since(clock.Now())) // the Redis expiries follow the real clock
	withClock := func(o *auth.Options) { o.Now = clock.Now }
	a, b := newNode(t, r.URL(), withClock), newNode(t, r.URL(), withClock)
	mustAddUser(t, a.store, "alice@example.com")
	old := b.login(t, "alice@example.com").AccessToken
	oldKID := idptest.KID(t, old)
	ring, err := a.svc.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	next := ring.Next
	if next == "" || next == oldKID || ring.KID != oldKID {
		t.Fatalf("rotation answered %+v, want the old %s signing and a new key next", ring, oldKID)
	}
	if err := b.svc.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		if jwks := n.jwks(t); !strings.Contains(jwks, next) || !strings.Contains(jwks, oldKID) {
			t.Errorf("a node's JWKS right after the rotation %s, want %s and %s", jwks, oldKID, next)
		}
		if kid := idptest.KID(t, n.login(t, "alice@example.com").AccessToken); kid != oldKID {
			t.Errorf("a node signs with %s before signs_from, want the old %s", kid, oldKID)
		}
	}
	clock.Advance(ring.Keys[0].SignsFrom.Sub(clock.Now()))
	for _, n := range []*node{a, b} {
		fresh := n.login(t, "alice@example.com").AccessToken
		if kid := idptest.KID(t, fresh); kid != next {
			t.Errorf("a node signs with %s at signs_from, want the new %s", kid, next)
		}
		for _, tok := range []string{old, fresh} {
			if _, err := n.svc.VerifyAccess(tok); err != nil {
				t.Errorf("a node verifying a token of kid %s: %v", idptest.KID(t, tok), err)
			}
		}
	}
	if listed, err := b.svc.SigningKeys(); err != nil || len(listed.Keys) != 2 || listed.KID != next || listed.Next != "" {
		t.Errorf("node B lists %+v (%v), want %s signing", listed, err, next)
	}
}

// TestConcurrentRotationsOnRedis rotates on four nodes at once: one
// rotation lands, the others are refused while its key waits to sign.
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
			if err != nil && !errors.Is(err, auth.ErrRotationPending) {
				t.Errorf("concurrent rotation: %v, want success or rotation_pending", err)
			}
			kids[i] = ring.Next
		})
	}
	wg.Wait()
	ring, err := nodes[0].svc.SigningKeys()
	if err != nil || len(ring.Keys) != 2 {
		t.Fatalf("ring after %d concurrent rotations: %+v (%v), want 2 keys", len(nodes), ring, err)
	}
	landed := slices.DeleteFunc(kids, func(kid string) bool { return kid == "" })
	if len(landed) != 1 || landed[0] != ring.Next {
		t.Errorf("rotations that landed made %v, want one, the ring's next key %s", landed, ring.Next)
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
