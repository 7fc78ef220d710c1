package main

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stompd/stompd/auth"
)

// forger signs access tokens with the server's own Ed25519 key, so each bad
// token of a test differs from a good one in exactly the way it names.
type forger struct {
	key ed25519.PrivateKey
	kid string
}

func newForger(t testing.TB, ts *testServer) *forger {
	t.Helper()
	seed, err := ts.store.Key(auth.Ed25519KeyName)
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if resp := httpJSON(t, "GET", ts.url+"/.well-known/jwks.json", nil, &jwks); resp.StatusCode != 200 || len(jwks.Keys) != 1 {
		t.Fatalf("jwks: %d, %d keys", resp.StatusCode, len(jwks.Keys))
	}
	return &forger{key: ed25519.NewKeyFromSeed(seed), kid: jwks.Keys[0].Kid}
}

// claims returns the claims of a valid access token of user u.
func (f *forger) claims(u *testUser) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": u.id, "iss": "stompd", "aud": "stompd", "jti": "forged-" + now.Format(time.RFC3339Nano),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "roles": []string{}, "token_use": "access",
	}
}

// sign signs claims, after edit changes them and the token's header.
func (f *forger) sign(t testing.TB, claims jwt.MapClaims, edit func(*jwt.Token)) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = f.kid
	var key any = f.key
	if edit != nil {
		edit(tok)
		switch tok.Method {
		case jwt.SigningMethodNone:
			key = jwt.UnsafeAllowNoneSignatureType
		case jwt.SigningMethodHS256:
			key = []byte(f.key.Public().(ed25519.PublicKey))
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
