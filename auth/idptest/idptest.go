// Package idptest is an identity provider for tests: an HTTP server on
// 127.0.0.1 that publishes a JWKS of Ed25519 keys, rotates them, goes down
// on demand, counts the fetches, and signs tokens. It is safe for
// concurrent use.
package idptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// IdP is a JWKS endpoint with the keys that sign its tokens.
type IdP struct {
	srv     *httptest.Server
	fetches atomic.Int64
	down    atomic.Bool

	mu        sync.Mutex
	published string                        // kid of the key in the JWKS
	keys      map[string]ed25519.PrivateKey // every key by kid, published or not
}

// New starts an IdP publishing one key, kid, and stops it at the end of t.
func New(t testing.TB, kid string) *IdP {
	p := &IdP{keys: map[string]ed25519.PrivateKey{}}
	p.Rotate(kid)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the JWKS endpoint.
func (p *IdP) URL() string { return p.srv.URL + "/.well-known/jwks.json" }

// Fetches is the number of JWKS requests answered or refused so far.
func (p *IdP) Fetches() int { return int(p.fetches.Load()) }

// SetDown makes the endpoint answer 503 (down) or the JWKS again.
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// Rotate publishes a new key named kid in place of the previous one.
func (p *IdP) Rotate(kid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.key(kid)
	p.published = kid
}

// Sign signs claims with EdDSA under kid: the key published under it now
// or before, or else a key the IdP never publishes.
func (p *IdP) Sign(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	p.mu.Lock()
	key := p.key(kid)
	p.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// key returns the key named kid, made on first use. p.mu is held.
func (p *IdP) key(kid string) ed25519.PrivateKey {
	if k, ok := p.keys[kid]; ok {
		return k
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	p.keys[kid] = k
	return k
}

func (p *IdP) serve(w http.ResponseWriter, _ *http.Request) {
	p.fetches.Add(1)
	if p.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	kid := p.published
	pub := p.keys[kid].Public().(ed25519.PublicKey)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub),
		"kid": kid, "alg": "EdDSA", "use": "sig",
	}}})
}

// KID returns the kid in the header of token, which is not verified; a
// token that does not parse fails t.
func KID(t testing.TB, token string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("token %.20s...: %v", token, err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}
