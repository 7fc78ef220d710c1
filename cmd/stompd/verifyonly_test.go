package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
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
	tok, other := issueExternal(t, priv, "external-user", "external-1"), issueExternal(t, priv, "external-user", "external-2")
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

// issueExternal returns an access token of sub with roles, as another
// application signs it with priv.
func issueExternal(t *testing.T, priv ed25519.PrivateKey, sub, jti string, roles ...string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": sub, "iss": "stompd", "aud": "stompd", "jti": jti,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "roles": append([]string{}, roles...), "token_use": "access",
	}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyOnlyAddsNoUsers checks that a server verifying tokens issued
// elsewhere refuses to add a local user, who could never log in (409
// verify_only), while it still lists its users.
func TestVerifyOnlyAddsNoUsers(t *testing.T) {
	priv, keyFile := issuerKey(t)
	ts := startServer(t, "--jwt-public-key", keyFile)
	root := issueExternal(t, priv, "ops-admin", "admin-1", "admin")
	status, body := ts.adminCall(t, "POST", "/admin/users", root, map[string]any{"email": "cy@example.com", "password": "cy password"})
	if status != http.StatusConflict || !strings.Contains(body, `"error":"verify_only"`) || !strings.Contains(body, "identity provider") {
		t.Errorf("POST /admin/users in verify-only mode: %d %s, want 409 verify_only", status, body)
	}
	if status, body := ts.adminCall(t, "GET", "/admin/users", root, nil); status != http.StatusOK || strings.Contains(body, "cy@") {
		t.Errorf("GET /admin/users in verify-only mode: %d %s, want 200 without cy", status, body)
	}
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
