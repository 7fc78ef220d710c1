package admin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/metrics"
)

// issuer signs access tokens that a verify-only auth.Service accepts.
type issuer struct {
	priv ed25519.PrivateKey
	svc  *auth.Service
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{priv: priv, svc: svc}
}

// token returns an access token of sub with roles.
func (i *issuer) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": sub, "iss": auth.DefaultIssuer, "aud": auth.DefaultAudience, "jti": sub + "-jti",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "roles": roles, "token_use": "access",
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(i.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve does GET path on h with authorization, and returns the answer.
func serve(h http.Handler, path, authorization string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func get(t *testing.T, h http.Handler, path, authorization string) (int, Error) {
	t.Helper()
	w := serve(h, path, authorization)
	var e Error
	json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e
}

func TestCallersNeedAnAdminTokenOverHTTPAndNothingOnTheSocket(t *testing.T) {
	iss := newIssuer(t)
	m := metrics.New(prometheus.NewRegistry())
	api := New(Options{Verifier: iss.svc, Metrics: m})
	cases := []struct {
		name, authorization string
		h                   http.Handler
		status              int
		code                string
	}{
		{"no token", "", api.Handler(), http.StatusUnauthorized, "unauthorized"},
		{"not bearer", "Basic YTpi", api.Handler(), http.StatusUnauthorized, "unauthorized"},
		{"forged token", "Bearer " + iss.token(t, "u1", Role)[:40] + "x.y.z", api.Handler(), http.StatusUnauthorized, "invalid_token"},
		{"plain user", "Bearer " + iss.token(t, "u1", "user"), api.Handler(), http.StatusForbidden, "forbidden"},
		{"admin", "Bearer " + iss.token(t, "a1", Role), api.Handler(), http.StatusNotFound, "not_found"},
		{"socket", "", api.Local(), http.StatusNotFound, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, e := get(t, c.h, "/admin/nothing", c.authorization)
			if status != c.status || e.Code != c.code || e.Message == "" {
				t.Errorf("GET /admin/nothing: %d %+v, want %d %s with a message", status, e, c.status, c.code)
			}
		})
	}
	for _, want := range []struct {
		action, result string
		n              float64
	}{
		{"refused", "unauthorized", 2}, {"refused", "invalid_token", 1}, {"refused", "forbidden", 1}, {"unknown", "not_found", 2},
	} {
		if got := testutil.ToFloat64(m.AdminRequests.WithLabelValues(want.action, want.result)); got != want.n {
			t.Errorf("admin_requests_total{action=%q,result=%q} = %v, want %v", want.action, want.result, got, want.n)
		}
	}
}
