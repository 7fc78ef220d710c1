package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stompd/stompd/auth/idptest"
)

// refresh is what RemoteJWKSOptions.OnRefresh was called with.
type refresh struct {
	keys int
	err  error
}

// remoteService starts a verify-only Service on the JWKS of idp; edit may
// change the options. Its refreshes end with the test.
func remoteService(t *testing.T, idp *idptest.IdP, clk *clock, edit func(*RemoteJWKSOptions)) *Service {
	t.Helper()
	o := RemoteJWKSOptions{URL: idp.URL(), Refresh: time.Hour, Now: clk.Now}
	if edit != nil {
		edit(&o)
	}
	keys, err := NewRemoteJWKS(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Keys: keys, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idpClaims are access claims as an identity provider would issue them.
func idpClaims(clk *clock, sub string) jwt.MapClaims {
	now := clk.Now()
	return jwt.MapClaims{
		"iss": DefaultIssuer, "aud": DefaultAudience, "sub": sub, "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "roles": []string{"user"}, "token_use": "access",
	}
}

func TestRemoteJWKSFollowsRotation(t *testing.T) {
	clk, idp := newClock(), idptest.New(t, "k1")
	s := remoteService(t, idp, clk, nil)
	if c, err := s.VerifyAccess(idp.Sign(t, "k1", idpClaims(clk, "u1"))); err != nil || c.Subject != "u1" {
		t.Fatalf("first key: %+v %v", c, err)
	}
	idp.Rotate("k2")
	if c, err := s.VerifyAccess(idp.Sign(t, "k2", idpClaims(clk, "u2"))); err != nil || c.Subject != "u2" {
		t.Fatalf("after rotation: %+v %v", c, err)
	}
	if n := idp.Fetches(); n != 2 {
		t.Fatalf("%d fetches, want the first and one for the new kid", n)
	}
	// The first key is gone from the JWKS, and so from the keys held.
	if _, err := s.VerifyAccess(idp.Sign(t, "k1", idpClaims(clk, "u3"))); !isReason(err, reasonUnknownKey) {
		t.Fatalf("retired key: %v", err)
	}
}

func TestRemoteJWKSUnknownKIDIsRateLimited(t *testing.T) {
	clk, idp := newClock(), idptest.New(t, "k1")
	s := remoteService(t, idp, clk, func(o *RemoteJWKSOptions) { o.UnknownKID = time.Minute })
	var wg sync.WaitGroup
	for i := range 50 {
		tok := idp.Sign(t, "forged-"+strings.Repeat("x", i), idpClaims(clk, "u"))
		wg.Go(func() {
			if _, err := s.VerifyAccess(tok); !isReason(err, reasonUnknownKey) {
				t.Errorf("forged kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := idp.Fetches(); n != 2 {
		t.Fatalf("50 forged kids: %d fetches, want the first and one more", n)
	}
	clk.Advance(time.Minute)
	s.VerifyAccess(idp.Sign(t, "forged-again", idpClaims(clk, "u")))
	if n := idp.Fetches(); n != 3 {
		t.Fatalf("a minute later: %d fetches, want 3", n)
	}
}

// TestForgedKIDDoesNotKeepOutAKeyPublishedAhead: a forged kid makes stompd
// fetch the JWKS just before the issuer publishes a key it signs with
// 15 s later (as stompd's own rotation does); with the default limit the
// first token of that key is verified all the same.
func TestForgedKIDDoesNotKeepOutAKeyPublishedAhead(t *testing.T) {
	clk, idp := newClock(), idptest.New(t, "k1")
	s := remoteService(t, idp, clk, nil)
	if _, err := s.VerifyAccess(idp.Sign(t, "forged", idpClaims(clk, "u"))); !isReason(err, reasonUnknownKey) {
		t.Fatalf("forged kid: %v", err)
	}
	idp.Rotate("k2")
	clk.Advance(DefaultKeyPublishDelay)
	if c, err := s.VerifyAccess(idp.Sign(t, "k2", idpClaims(clk, "u2"))); err != nil || c.Subject != "u2" {
		t.Fatalf("the published key's first token, %v after a forged kid: %+v %v", DefaultKeyPublishDelay, c, err)
	}
}

func TestRemoteJWKSRefreshesPeriodically(t *testing.T) {
	clk, idp := newClock(), idptest.New(t, "k1")
	refreshes := make(chan refresh, 100)
	s := remoteService(t, idp, clk, func(o *RemoteJWKSOptions) {
		o.Refresh = 20 * time.Millisecond
		o.UnknownKID = time.Hour
		o.OnRefresh = func(keys int, err error) { refreshes <- refresh{keys, err} }
	})
	// Spend the one fetch an unknown kid may cause, so that only the
	// periodic refresh can bring the new key.
	s.VerifyAccess(idp.Sign(t, "forged", idpClaims(clk, "u")))

	idp.SetDown(true)
	if r := awaitRefresh(t, refreshes, func(r refresh) bool { return r.err != nil }); r.keys != 1 {
		t.Fatalf("failed refresh holds %d keys, want the previous one", r.keys)
	}
	if _, err := s.VerifyAccess(idp.Sign(t, "k1", idpClaims(clk, "u1"))); err != nil {
		t.Fatalf("key kept while the IdP is down: %v", err)
	}
	idp.Rotate("k2")
	idp.SetDown(false)
	awaitRefresh(t, refreshes, func(r refresh) bool { return r.err == nil })
	if _, err := s.VerifyAccess(idp.Sign(t, "k2", idpClaims(clk, "u2"))); err != nil {
		t.Fatalf("rotated key after a periodic refresh: %v", err)
	}
}

// awaitRefresh returns the first refresh that ok accepts.
func awaitRefresh(t *testing.T, c <-chan refresh, ok func(refresh) bool) refresh {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-c:
			if ok(r) {
				return r
			}
		case <-timeout:
			t.Fatal("no such refresh within 10 s")
		}
	}
}

func TestRemoteJWKSDownAtStart(t *testing.T) {
	idp := idptest.New(t, "k1")
	idp.SetDown(true)
	_, err := NewRemoteJWKS(t.Context(), RemoteJWKSOptions{URL: idp.URL()})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("IdP down at start: %v", err)
	}
}

func TestRemoteJWKSWithoutKeys(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}]}`))
	}))
	t.Cleanup(srv.Close)
	if _, err := NewRemoteJWKS(t.Context(), RemoteJWKSOptions{URL: srv.URL}); err == nil || !strings.Contains(err.Error(), "no usable key") {
		t.Fatalf("empty JWKS: %v", err)
	}
}

func TestCheckJWKSURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://idp.example.com/jwks": true, "http://127.0.0.1:8081/jwks": true,
		"http://localhost/jwks": true, "http://[::1]:80/jwks": true,
		"http://idp.example.com/jwks": false, "http://10.0.0.1/jwks": false,
		"ftp://idp.example.com/jwks": false, "": false, "idp.example.com/jwks": false,
	} {
		if err := CheckJWKSURL(u); (err == nil) != ok {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// isReason reports whether err is an *Error with metric reason r.
func isReason(err error, r reason) bool {
	var e *Error
	return errors.As(err, &e) && e.reason == r
}

// TestRemoteJWKSFetchIsBounded checks that a fetch follows no redirect to
// a clear-text URL elsewhere and reads no more than maxJWKSBytes.
func TestRemoteJWKSFetchIsBounded(t *testing.T) {
	for name, tc := range map[string]struct {
		handler http.HandlerFunc
		want    string
	}{
		"redirect to clear text": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://idp.example.com/jwks", http.StatusFound)
		}, "loopback"},
		"oversized": {func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
		}, "too large"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			if _, err := NewRemoteJWKS(t.Context(), RemoteJWKSOptions{URL: srv.URL}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
}
