package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestVerifyOnlyLogout runs stompd on tokens issued by another application,
// which carry no sid, and checks that logging one out ends its live session
// while a session of another token of the same user goes on.
func TestVerifyOnlyLogout(t *testing.T) {
	priv, keyFile := issuerKey(t)
	ts := startServer(t, "--jwt-public-key", keyFile)
	issue := func(jti string) string {
		now := time.Now()
		s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": "external-user", "iss": "stompd", "aud": "stompd", "jti": jti,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "roles": []string{}, "token_use": "access",
		}).SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok, other := issue("external-1"), issue("external-2")
	live, kept := ts.connectTCP(t, tok), ts.connectTCP(t, other)

	if resp := httpJSON(t, "POST", ts.url+"/auth/logout", nil, nil, "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	live.ExpectError("session-revoked", "session revoked")
	kept.Send(stomp.SEND, "", "destination:/topic/x", "receipt:k")
	kept.Expect(stomp.RECEIPT)
	again := stomptest.Dial(t, ts.stompAddr)
	again.Send(stomp.CONNECT, "", "accept-version:1.2", "host:x", "Authorization:Bearer "+tok)
	again.ExpectError("session-revoked", "session revoked")
}

// issuerKey makes the Ed25519 key of another application that issues
// tokens, and writes its public key to a PEM file for --jwt-public-key.
func issuerKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, writeFile(t, "issuer.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}
