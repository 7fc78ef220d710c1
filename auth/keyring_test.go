package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
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

// TestRotationPublishesTheNewKeyBeforeItSigns: a rotation lists the new
// key in the JWKS at once while tokens keep the old kid; from its
// signs_from tokens carry the new kid, and the old key verifies until the
// last token it signed, just before the switch, expires.
func TestRotationPublishesTheNewKeyBeforeItSigns(t *testing.T) {
	fx := newFixture(t, nil)
	old := fx.login(t, "alice@example.com").AccessToken
	oldKID := idptest.KID(t, old)
	rotatedAt := fx.clock.Now()
	ring, err := fx.svc.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	signsFrom := rotatedAt.Add(DefaultKeyPublishDelay)
	verifyUntil := signsFrom.Add(DefaultAccessTTL + DefaultLeeway + switchMargin)
	newKID := ring.Keys[0].KID
	want := KeyRing{KID: oldKID, Next: newKID, Keys: []KeyInfo{{KID: newKID, Created: rotatedAt, SignsFrom: signsFrom}, {KID: oldKID, Created: ring.Keys[1].Created, VerifyUntil: verifyUntil}}}
	if newKID == oldKID || ring.KID != want.KID || ring.Next != want.Next || !slices.Equal(ring.Keys, want.Keys) {
		t.Fatalf("RotateKey = %+v, want %+v", ring, want)
	}
	if got, want := fx.jwksKIDs(t), slices.Sorted(slices.Values([]string{oldKID, newKID})); !slices.Equal(got, want) {
		t.Errorf("JWKS right after the rotation lists %v, want both keys %v", got, want)
	}
	m := fx.svc.opts.Metrics
	if n, r := testutil.ToFloat64(m.SigningKeys), testutil.ToFloat64(m.KeyRotations); n != 2 || r != 1 {
		t.Errorf("signing_keys %v, key_rotations_total %v; want 2 and 1", n, r)
	}

	fx.clock.Advance(DefaultKeyPublishDelay - time.Nanosecond)
	last := fx.login(t, "bob@example.com").AccessToken
	if kid := idptest.KID(t, last); kid != oldKID {
		t.Errorf("token issued before signs_from has kid %s, want the old %s", kid, oldKID)
	}
	fx.clock.Advance(time.Nanosecond)
	fresh := fx.login(t, "bob@example.com").AccessToken
	if kid := idptest.KID(t, fresh); kid != newKID {
		t.Errorf("token issued at signs_from has kid %s, want the new %s", kid, newKID)
	}
	if listed, err := fx.svc.SigningKeys(); err != nil || listed.KID != newKID || listed.Next != "" {
		t.Errorf("ring at signs_from %+v (%v), want %s signing and none next", listed, err, newKID)
	}
	for _, tok := range []string{old, last, fresh} {
		if _, err := fx.svc.VerifyAccess(tok); err != nil {
			t.Errorf("token of kid %s after the switch: %v", idptest.KID(t, tok), err)
		}
	}

	fx.clock.Advance(DefaultAccessTTL - 2*time.Second) // exp is whole seconds
	if err := fx.svc.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.VerifyAccess(last); err != nil {
		t.Errorf("last token of the old key just before its expiry: %v", err)
	}
	if _, err := fx.svc.VerifyAccess(old); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("token of the old key issued at the rotation, after its expiry: %v, want token expired", err)
	}
	fx.clock.Advance(verifyUntil.Sub(fx.clock.Now()))
	if err := fx.svc.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if got := fx.jwksKIDs(t); !slices.Equal(got, []string{newKID}) {
		t.Errorf("JWKS once the old key's verify_until passed lists %v, want only %s", got, newKID)
	}
	if st := fx.storedRing(t); !slices.Equal(st.kids, []string{newKID}) {
		t.Errorf("store holds keys %v, want only %s", st.kids, newKID)
	}
	forged := fx.sign(t, fx.claims("u-alice"), map[string]any{"kid": oldKID})
	if _, err := fx.svc.VerifyAccess(forged); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("fresh token of the dropped key: %v, want invalid token", err)
	}
	if n := testutil.ToFloat64(m.SigningKeys); n != 1 {
		t.Errorf("signing_keys %v after the old key left, want 1", n)
	}
	if kid := idptest.KID(t, fx.login(t, "alice@example.com").AccessToken); kid != newKID {
		t.Errorf("token once the old key left has kid %s, want %s", kid, newKID)
	}
}

// TestRingOfEarlierVersionsSignsWithItsFirstKey reads a ring stored
// before keys were published ahead (no signs_from): its first key signs.
func TestRingOfEarlierVersionsSignsWithItsFirstKey(t *testing.T) {
	seeds := [][]byte{make([]byte, ed25519.SeedSize), make([]byte, ed25519.SeedSize)}
	seeds[0][0], seeds[1][0] = 1, 2
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	doc := ringDoc{Gen: 2, Keys: []ringMember{{Seed: seeds[0], Created: at}, {Seed: seeds[1], Created: at.Add(-time.Hour), VerifyUntil: at.Add(2 * time.Hour)}}}
	raw, err := json.Marshal(doc)
	if err != nil || strings.Contains(string(raw), "signs_from") {
		t.Fatalf("ring of earlier versions %s (%v)", raw, err)
	}
	ks := &memKeys{m: map[string][]byte{Ed25519KeyName: seeds[1], Ed25519RingName: raw}}
	keys, err := LoadEd25519Keys(ks)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := encodeJWK(ed25519.NewKeyFromSeed(seeds[0]).Public())
	ring, err := keys.Ring(at)
	if err != nil || ring.KID != j.thumbprint() || ring.Next != "" || len(ring.Keys) != 2 {
		t.Errorf("ring of earlier versions %+v (%v), want %s signing and none next", ring, err, j.thumbprint())
	}
	if kid := keys.signing(at).signKID; kid != j.thumbprint() {
		t.Errorf("signs with %s, want the first key's %s", kid, j.thumbprint())
	}
}

// TestConcurrentRotationsLeaveOneRing rotates from two services on one
// store at once: one rotation lands, and the others are refused while
// its key waits to sign.
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
	services := []*Service{fx.svc, svc2, fx.svc, svc2, fx.svc, svc2}
	for _, s := range services {
		wg.Go(func() {
			ring, err := s.RotateKey()
			var e *Error
			switch {
			case err == nil:
				kids <- ring.Next
			case !errors.As(err, &e) || !errors.Is(err, ErrRotationPending) || e.Status() != 409 || !strings.Contains(e.Error(), "already pending until"):
				t.Errorf("concurrent rotation: %v, want success or 409 rotation_pending", err)
			}
		})
	}
	wg.Wait()
	close(kids)
	st := fx.storedRing(t)
	landed := slices.Collect(func(yield func(string) bool) {
		for kid := range kids {
			yield(kid)
		}
	})
	if st.doc.Gen != 2 || len(st.kids) != 2 || len(landed) != 1 || landed[0] != st.kids[0] {
		t.Fatalf("ring after %d concurrent rotations: generation %d, keys %v, landed %v; want generation 2 with the one landed key first", len(services), st.doc.Gen, st.kids, landed)
	}
	if st.doc.Keys[0].SignsFrom.IsZero() || !st.doc.Keys[0].VerifyUntil.IsZero() || st.doc.Keys[1].VerifyUntil.IsZero() {
		t.Errorf("ring after the rotation %+v: want the new key with signs_from and the old one with verify_until", st.doc.Keys)
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
	if kid := keys.signing(time.Now()).signKID; kid != j.thumbprint() {
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
	if a, b := fx.keys.signing(fx.clock.Now()).signKID, late.signing(fx.clock.Now()).signKID; a != b || string(fx.keys.JWKS()) != string(late.JWKS()) {
		t.Errorf("after the reloads the services sign with %s and %s, want one key and one JWKS", a, b)
	}
	if _, err := svc2.VerifyAccess(fx.login(t, "alice@example.com").AccessToken); err != nil {
		t.Errorf("token of the surviving ring on the late service: %v", err)
	}
}

// TestJWKSIsCachedForLessThanAKeyWaitsToSign: a verifier that honours the
// JWKS's Cache-Control and fetched it just before a rotation reached a
// node fetches it again before the new key signs.
func TestJWKSIsCachedForLessThanAKeyWaitsToSign(t *testing.T) {
	fx := newFixture(t, nil)
	resp := fx.do(t, "GET", "/.well-known/jwks.json", "")
	resp.Body.Close()
	maxAge, ok := strings.CutPrefix(resp.Header.Get("Cache-Control"), "public, max-age=")
	n, err := strconv.Atoi(maxAge)
	if !ok || err != nil || time.Duration(n)*time.Second > DefaultKeyPublishDelay-2*DefaultKeyReload {
		t.Errorf("Cache-Control %q: want a max-age of at most %v, the publication delay less two ring reloads",
			resp.Header.Get("Cache-Control"), DefaultKeyPublishDelay-2*DefaultKeyReload)
	}
}
