package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestEd25519KeyIsKept(t *testing.T) {
	ks := &memKeys{m: map[string][]byte{}}
	k1, err := LoadEd25519Keys(ks)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadEd25519Keys(ks)
	if err != nil {
		t.Fatal(err)
	}
	if k1.signing(time.Now()).signKID != k2.signing(time.Now()).signKID || string(k1.JWKS()) != string(k2.JWKS()) {
		t.Fatal("second start made a new key")
	}
	ks.m[Ed25519KeyName] = []byte("short")
	if _, err := LoadEd25519Keys(ks); err == nil || !strings.Contains(err.Error(), "Ed25519 seed") {
		t.Fatalf("damaged key: %v", err)
	}
}

func TestJWKSEndpointVerifiesIssuedTokens(t *testing.T) {
	fx := newFixture(t, nil)
	resp := fx.do(t, "GET", "/.well-known/jwks.json", "")
	var set jwkSet
	decode(t, resp, &set)
	if resp.StatusCode != 200 || len(set.Keys) != 1 {
		t.Fatalf("jwks: %d %+v", resp.StatusCode, set)
	}
	j := set.Keys[0]
	if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Alg != "EdDSA" || j.Use != "sig" || j.Kid != fx.keys.signing(fx.clock.Now()).signKID || j.Kid != j.thumbprint() {
		t.Fatalf("jwk %+v", j)
	}
	// Another service verifies stompd's tokens with this document.
	b, _ := json.Marshal(set)
	other := verifyOnly(t, b, fx.clock.Now)
	if c, err := other.VerifyAccess(fx.login(t, "alice@example.com").AccessToken); err != nil || c.Subject != "u-alice" {
		t.Fatalf("verify with published JWKS: %+v %v", c, err)
	}
}

// verifyOnly returns a Service verifying tokens with the keys of a JWKS
// document.
func verifyOnly(t *testing.T, jwks []byte, now func() time.Time) *Service {
	t.Helper()
	keys, err := ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Keys: keys, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHS256Mode(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t-", 6) + "\n")
	fx := newFixture(t, func(o *Options) {
		k, err := NewHS256Keys(secret)
		if err != nil {
			t.Fatal(err)
		}
		o.Keys = k
	})
	tr := fx.login(t, "alice@example.com")
	tok, _, err := jwt.NewParser().ParseUnverified(tr.AccessToken, jwt.MapClaims{})
	if err != nil || tok.Method.Alg() != "HS256" || tok.Header["kid"] != fx.svc.keys.signing(fx.clock.Now()).signKID {
		t.Fatalf("token header %v (%v)", tok.Header, err)
	}
	if c, err := fx.svc.Connect(bearerHeader(tr.AccessToken), ""); err != nil || c.Subject != "u-alice" {
		t.Fatalf("connect: %v", err)
	}
	// An app holding the same secret (without the file's newline) signs tokens stompd accepts.
	c := fx.claims("u-app")
	if _, err := fx.svc.VerifyAccess(signWith(t, jwt.SigningMethodHS256, []byte(strings.TrimSpace(string(secret))), c)); err != nil {
		t.Fatalf("app token: %v", err)
	}
	if _, err := fx.svc.VerifyAccess(signWith(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), c)); err == nil {
		t.Fatal("token of another secret accepted")
	}
	if string(fx.svc.keys.JWKS()) != `{"keys":[]}` {
		t.Fatalf("secret published: %s", fx.svc.keys.JWKS())
	}
	if _, err := NewHS256Keys([]byte("too short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestVerifyOnlyWithJWKSFile(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := encodeJWK(pub)
	ed.Kid = "app-ed"
	rs, _ := encodeJWK(&rsaKey.PublicKey)
	rs.Kid = "app-rsa"
	doc, _ := json.Marshal(map[string]any{"keys": []any{ed, rs, map[string]string{"kty": "oct", "k": "c2VjcmV0"}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	keys, err := ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, func(o *Options) { o.Keys, o.Store, o.Now = keys, nil, clk.Now })
	fx.clock = clk
	appToken := func(m jwt.SigningMethod, key any, kid string) string {
		c := fx.claims("u-ext")
		delete(c, "sid")
		delete(c, "jti")
		return signWith(t, m, key, c, map[string]any{"kid": kid})
	}
	edTok := appToken(jwt.SigningMethodEdDSA, priv, "app-ed")
	for name, tok := range map[string]string{"EdDSA": edTok, "RS256": appToken(jwt.SigningMethodRS256, rsaKey, "app-rsa")} {
		if c, err := fx.svc.Connect(bearerHeader(tok), ""); err != nil || c.Subject != "u-ext" {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
	// A key named by the kid of another algorithm is refused.
	if _, err := fx.svc.VerifyAccess(appToken(jwt.SigningMethodRS256, rsaKey, "app-ed")); err == nil {
		t.Fatal("RS256 token verified with an Ed25519 kid")
	}
	tk := fx.ticket(t, edTok)
	if sub, err := fx.svc.AuthenticateUpgrade(upgradeRequest("?ticket=" + tk)); err != nil || sub != "u-ext" {
		t.Fatalf("ticket of an external token: %q %v", sub, err)
	}
	for _, path := range []string{"/auth/login", "/auth/refresh"} {
		o := httpOutcome(t, fx.do(t, "POST", path, `{"email":"a@b.c","password":"x","refresh_token":"y"}`))
		(outcome{status: 403, name: "login_disabled"}).check(t, o)
	}
	resp := fx.do(t, "POST", "/auth/logout", "", "Authorization", "Bearer "+edTok)
	if resp.StatusCode != 204 {
		t.Fatalf("logout of an external token: %d", resp.StatusCode)
	}
	if _, err := fx.svc.VerifyAccess(edTok); err != ErrSessionRevoked {
		t.Fatalf("external token after logout: %v", err)
	}
}

func TestVerifyOnlyWithPEM(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	keys, err := ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s, err := New(Options{Keys: keys, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{clock: clk}
	tok := signWith(t, jwt.SigningMethodES256, ec, fx.claims("u-pem"))
	if c, err := s.VerifyAccess(tok); err != nil || c.Subject != "u-pem" {
		t.Fatalf("ES256 via PEM: %+v %v", c, err)
	}
	if _, err := s.VerifyAccess(signWith(t, jwt.SigningMethodES384, mustEC(t, elliptic.P384()), fx.claims("u-pem"))); err == nil {
		t.Fatal("ES384 accepted with a P-256 key")
	}
	if _, err := ParsePublicKeyPEM([]byte("not pem")); err == nil {
		t.Fatal("garbage PEM accepted")
	}
}

func mustEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseJWKSErrors(t *testing.T) {
	for _, doc := range []string{
		`not json`,
		`{"keys":[]}`,
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"short"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"HS256"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		fmt.Sprintf(`{"keys":[%s{"kty":"oct"}]}`, strings.Repeat(`{"kty":"oct"},`, maxJWKSKeys)),
	} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("accepted %.60s", doc)
		}
	}
}
