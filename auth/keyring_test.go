package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/auth/idptest"
)

// jwksKIDs returns the kids /.well-known/jwks.json lists, sorted.
func (fx *fixture) jwksKIDs(t testing.TB) []string {
	t.Helper()
	var set jwkSet
	decode(t, fx.do(t, "GET", "/.well-known/jwks.json", ""), &set)
	var kids []string
	for _, j := range set.Keys {
		kids = append(kids, j.Kid)
	}
	return kids
}

// storedRing decodes the ring the fixture's key store holds.
func (fx *fixture) storedRing(t testing.TB) *ringState {
	t.Helper()
	fx.ks.mu.Lock()
	defer fx.ks.mu.Unlock()
	st, err := parseRing(fx.ks.m[Ed25519RingName])
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRotationSignsWithTheNewKeyAndVerifiesTheOldUntilItsTokensExpire(t *testing.T) {
	fx := newFixture(t, nil)
	old := fx.login(t, "alice@example.com").AccessToken
	oldKID := idptest.KID(t, old)
	rotatedAt := fx.clock.Now()
	ring, err := fx.svc.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	verifyUntil := rotatedAt.Add(DefaultAccessTTL + DefaultLeeway + DefaultKeyReload)
	want := KeyRing{KID: ring.KID, Keys: []KeyInfo{{KID: ring.KID, Created: rotatedAt}, {KID: oldKID, Created: ring.Keys[1].Created, VerifyUntil: verifyUntil}}}
	if ring.KID == oldKID || !slices.Equal(ring.Keys, want.Keys) {
		t.Fatalf("RotateKey = %+v, want a new current key before %s verifying until %s", ring, oldKID, verifyUntil)
	}
	fresh := fx.login(t, "bob@example.com").AccessToken
	if idptest.KID(t, fresh) != ring.KID {
		t.Errorf("token issued after the rotation has kid %q, want the new %q", idptest.KID(t, fresh), ring.KID)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := fx.svc.VerifyAccess(tok); err != nil {
			t.Errorf("token of kid %s after the rotation: %v", idptest.KID(t, tok), err)
		}
	}
	if got, want := fx.jwksKIDs(t), slices.Sorted(slices.Values([]string{oldKID, ring.KID})); !slices.Equal(got, want) {
		t.Errorf("JWKS after the rotation lists %v, want both keys %v", got, want)
	}
	m := fx.svc.opts.Metrics
	if n, r := testutil.ToFloat64(m.SigningKeys), testutil.ToFloat64(m.KeyRotations); n != 2 || r != 1 {
		t.Errorf("signing_keys %v, key_rotations_total %v; want 2 and 1", n, r)
	}

	fx.clock.Advance(DefaultAccessTTL)
	if _, err := fx.svc.VerifyAccess(old); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("old token at its expiry: %v, want token expired", err)
	}
	fx.clock.Advance(verifyUntil.Sub(fx.clock.Now()))
	if err := fx.svc.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if got := fx.jwksKIDs(t); !slices.Equal(got, []string{ring.KID}) {
		t.Errorf("JWKS once the old key's verify_until passed lists %v, want only %s", got, ring.KID)
	}
	if st := fx.storedRing(t); !slices.Equal(st.kids, []string{ring.KID}) {
		t.Errorf("store holds keys %v, want only %s", st.kids, ring.KID)
	}
	forged := fx.sign(t, fx.claims("u-alice"), map[string]any{"kid": oldKID})
	if _, err := fx.svc.VerifyAccess(forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("fresh token of the dropped key: %v, want invalid token", err)
	}
	if n := testutil.ToFloat64(m.SigningKeys); n != 1 {
		t.Errorf("signing_keys %v after the old key left, want 1", n)
	}
	if _, err := fx.svc.VerifyAccess(fx.login(t, "alice@example.com").AccessToken); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
}

// TestConcurrentRotationsLeaveOneRing rotates from two services on one
// store at once: every rotation lands, one after the other.
func TestConcurrentRotationsLeaveOneRing(t *testing.T) {
	fx := newFixture(t, nil)
	other, err := LoadEd25519Keys(fx.ks)
	if err != nil {
		t.Fatal(err)
	}
	svc2, err := New(Options{Keys: other, Store: newMemStore(t, fx.clock.Now), Now: fx.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	kids := make(chan string, maxRingKeys)
	for _, s := range []*Service{fx.svc, svc2, fx.svc, svc2, fx.svc, svc2} {
		wg.Go(func() {
			ring, err := s.RotateKey()
			if err != nil {
				t.Error(err)
			}
			kids <- ring.KID
		})
	}
	wg.Wait()
	close(kids)
	st := fx.storedRing(t)
	if st.doc.Gen != 7 || len(st.kids) != 7 {
		t.Fatalf("ring after 6 rotations: generation %d, %d keys %v; want 7 and 7", st.doc.Gen, len(st.kids), st.kids)
	}
	for kid := range kids {
		if !slices.Contains(st.kids, kid) {
			t.Errorf("rotation to %s was lost: ring %v", kid, st.kids)
		}
	}
	for i, m := range st.doc.Keys {
		if current := m.VerifyUntil.IsZero(); current != (i == 0) {
			t.Errorf("key %d of the ring: current %v", i, current)
		}
	}
}

func TestRotationRefusals(t *testing.T) {
	t.Run("ring full until its oldest key stops verifying", func(t *testing.T) {
		fx := newFixture(t, nil)
		for range maxRingKeys - 1 {
			if _, err := fx.svc.RotateKey(); err != nil {
				t.Fatal(err)
			}
			fx.clock.Advance(time.Minute)
		}
		_, err := fx.svc.RotateKey()
		var e *Error
		if !errors.As(err, &e) || e.Name() != "too_many_keys" || e.Status() != 409 || !strings.Contains(e.Error(), "rotate again after") {
			t.Fatalf("rotation with %d keys verifying: %v, want 409 too_many_keys", maxRingKeys, err)
		}
		fx.clock.Advance(DefaultAccessTTL - 5*time.Minute)
		if _, err := fx.svc.RotateKey(); err != nil {
			t.Errorf("rotation once the oldest key stopped verifying: %v", err)
		}
	})
	for _, mode := range []struct {
		name, says string
		keys       func() (*Keys, error)
	}{
		{"HS256", "HS256 secret", func() (*Keys, error) { return NewHS256Keys([]byte(strings.Repeat("k", 40))) }},
		{"verify-only", "issued elsewhere", func() (*Keys, error) {
			return ParseJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			keys, err := mode.keys()
			if err != nil {
				t.Fatal(err)
			}
			fx := newFixture(t, func(o *Options) { o.Keys = keys })
			for _, call := range []func() (KeyRing, error){fx.svc.RotateKey, fx.svc.SigningKeys} {
				_, err := call()
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrNoKeyRing) || e.Status() != 409 || !strings.Contains(e.Error(), mode.says) {
					t.Errorf("%s mode: %v, want 409 no_key_rotation saying %q", mode.name, err, mode.says)
				}
			}
		})
	}
}

// TestSeedOfEarlierVersionsBecomesTheRingsFirstKey loads a store written
// by a stompd without rings: tokens it issued keep verifying.
func TestSeedOfEarlierVersionsBecomesTheRingsFirstKey(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 7
	ks := &memKeys{m: map[string][]byte{Ed25519KeyName: seed}}
	keys, err := LoadEd25519Keys(ks)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := encodeJWK(ed25519.NewKeyFromSeed(seed).Public())
	if kid := keys.signing().signKID; kid != j.thumbprint() {
		t.Errorf("ring signs with kid %s, want the stored seed's %s", kid, j.thumbprint())
	}
	var doc ringDoc
	if err := json.Unmarshal(ks.m[Ed25519RingName], &doc); err != nil || len(doc.Keys) != 1 || string(doc.Keys[0].Seed) != string(seed) {
		t.Errorf("stored ring %s (%v), want the seed as its only key", ks.m[Ed25519RingName], err)
	}
	for _, damaged := range []string{"{", `{"gen":1,"keys":[]}`, `{"gen":1,"keys":[{"seed":"AAAA"}]}`} {
		ks.m[Ed25519RingName] = []byte(damaged)
		if _, err := LoadEd25519Keys(ks); err == nil || !strings.Contains(err.Error(), "signing key") {
			t.Errorf("damaged ring %s: %v, want an error naming the signing keys", damaged, err)
		}
	}
}

// TestRingsMadeWhileTheStoreLostOneConverge: a store loses the ring (a
// Redis restarted without persistence) and a service starting then makes
// another; the newer ring wins on every service, and its tokens verify
// everywhere.
func TestRingsMadeWhileTheStoreLostOneConverge(t *testing.T) {
	fx := newFixture(t, nil)
	if _, err := fx.svc.RotateKey(); err != nil {
		t.Fatal(err)
	}
	fx.ks.mu.Lock()
	clear(fx.ks.m)
	fx.ks.mu.Unlock()
	late, err := LoadEd25519Keys(fx.ks)
	if err != nil {
		t.Fatal(err)
	}
	svc2, err := New(Options{Keys: late, Store: newMemStore(t, fx.clock.Now), Now: fx.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.svc.ReloadKeys(); !errors.Is(err, ErrKeyDiverged) {
		t.Fatalf("reload over a ring made while the store had lost this one: %v, want ErrKeyDiverged", err)
	}
	if err := svc2.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if a, b := fx.keys.signing().signKID, late.signing().signKID; a != b || string(fx.keys.JWKS()) != string(late.JWKS()) {
		t.Errorf("after the reloads the services sign with %s and %s, want one key and one JWKS", a, b)
	}
	if _, err := svc2.VerifyAccess(fx.login(t, "alice@example.com").AccessToken); err != nil {
		t.Errorf("token of the surviving ring on the late service: %v", err)
	}
}
