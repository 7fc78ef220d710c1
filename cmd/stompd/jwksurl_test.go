package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stompd/stompd/auth/idptest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// idpToken is an access token as an identity provider issues it, signed
// under kid.
func idpToken(t *testing.T, idp *idptest.IdP, kid, sub string) string {
	now := time.Now()
	return idp.Sign(t, kid, jwt.MapClaims{
		"sub": sub, "iss": "stompd", "aud": "stompd", "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "roles": []string{}, "token_use": "access",
	})
}

// TestJWKSURLFollowsRotatingIdP runs stompd on the JWKS of a local identity
// provider that rotates its key: tokens of the first key connect, then,
// after the rotation, tokens of the new kid (one fetch more); tokens whose
// kid the IdP never published are refused, and a flood of them fetches
// nothing more.
func TestJWKSURLFollowsRotatingIdP(t *testing.T) {
	idp := idptest.New(t, "k1")
	ts := startServer(t, "--jwks-url", idp.URL())
	first := ts.connectTCP(t, idpToken(t, idp, "k1", "ext-1"))
	first.Send(stomp.SEND, "", "destination:/topic/x", "receipt:r1")
	first.Expect(stomp.RECEIPT)

	idp.Rotate("k2")
	ts.connectTCP(t, idpToken(t, idp, "k2", "ext-2"))
	if n := idp.Fetches(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want the first and one for the new kid", n)
	}

	for i := range 20 {
		c := stomptest.Dial(t, ts.stompAddr)
		c.Send(stomp.CONNECT, "", "accept-version:1.2", "host:x", "Authorization:Bearer "+idpToken(t, idp, fmt.Sprint("forged-", i), "mallory"))
		c.ExpectError("unauthorized", "kid")
	}
	if n := idp.Fetches(); n != 2 {
		t.Fatalf("20 forged kids: %d fetches, want still 2", n)
	}
	if v := metricValue(t, ts, `stompd_jwks_refreshes_total{result="ok"}`); v != "2" {
		t.Errorf("refreshes ok: %q, want 2", v)
	}
	if v := metricValue(t, ts, "stompd_jwks_keys"); v != "1" {
		t.Errorf("keys held: %q, want 1", v)
	}
	if v := metricValue(t, ts, `stompd_auth_failures_total{reason="unknown_key",stage="connect"}`); v != "20" {
		t.Errorf("unknown_key failures at connect: %q, want 20", v)
	}
}
