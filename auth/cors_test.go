package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stompd/stompd/auth/edge"
)

func TestOriginsCheck(t *testing.T) {
	list, err := edge.ParseOrigins([]string{"https://app.example.com:3000", " http://dev.local:80 ", "HTTPS://Upper.Example.com", ""})
	if err != nil {
		t.Fatal(err)
	}
	anyOrigin, _ := edge.ParseOrigins([]string{"*"})
	tests := []struct {
		o      *edge.Origins
		origin string
		host   string
		want   bool
	}{
		{list, "", "stompd.example.com", true},
		{list, "http://stompd.example.com", "stompd.example.com", true},
		{list, "http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{list, "https://app.example.com:3000", "stompd.example.com", true},
		{list, "https://app.example.com", "stompd.example.com", false},
		{list, "http://app.example.com:3000", "stompd.example.com", false},
		{list, "http://dev.local", "stompd.example.com", true},
		{list, "https://upper.example.com:443", "stompd.example.com", true},
		{list, "https://evil.example", "stompd.example.com", false},
		{list, "null", "stompd.example.com", false},
		{list, "https://app.example.com:3000.evil.example", "stompd.example.com", false},
		{nil, "https://evil.example", "stompd.example.com", false},
		{nil, "http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{anyOrigin, "https://evil.example", "stompd.example.com", true},
	}
	for _, tt := range tests {
		fx := newFixture(t, func(o *Options) { o.Origins = tt.o })
		r := httptest.NewRequest("GET", "http://"+tt.host+"/ws", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := fx.svc.CheckOrigin(r); got != tt.want {
			t.Errorf("Origin %q to %s: %v, want %v", tt.origin, tt.host, got, tt.want)
		}
	}
}

// TestSameOriginIsSchemeHostAndPort checks that a request's own origin is
// its scheme (from Options.Scheme: TLS by default), host and port, with
// default ports dropped on both sides.
func TestSameOriginIsSchemeHostAndPort(t *testing.T) {
	tests := []struct {
		scheme, host, origin string
		want                 bool
	}{
		{"http", "stompd.example.com", "http://stompd.example.com", true},
		{"http", "stompd.example.com", "https://stompd.example.com", false},
		{"https", "stompd.example.com", "http://stompd.example.com", false},
		{"https", "stompd.example.com", "https://stompd.example.com", true},
		{"http", "stompd.example.com:80", "http://stompd.example.com", true},
		{"http", "stompd.example.com", "http://stompd.example.com:80", true},
		{"https", "stompd.example.com:443", "https://stompd.example.com", true},
		{"https", "stompd.example.com", "https://stompd.example.com:443", true},
		{"http", "stompd.example.com:8080", "http://stompd.example.com", false},
		{"http", "stompd.example.com:443", "https://stompd.example.com", false},
		{"http", "STOMPD.example.com:8080", "http://stompd.EXAMPLE.com:8080", true},
		{"http", "[::1]:8080", "http://[::1]:8080", true},
	}
	for _, tt := range tests {
		fx := newFixture(t, func(o *Options) { o.Scheme = func(*http.Request) string { return tt.scheme } })
		r := httptest.NewRequest("GET", "http://example.invalid/ws", nil)
		r.Host = tt.host
		r.Header.Set("Origin", tt.origin)
		if got := fx.svc.CheckOrigin(r); got != tt.want {
			t.Errorf("Origin %s to %s://%s: %v, want %v", tt.origin, tt.scheme, tt.host, got, tt.want)
		}
	}
	fx := newFixture(t, nil)
	r := httptest.NewRequest("GET", "https://stompd.example.com/ws", nil) // with r.TLS set
	r.Header.Set("Origin", "https://stompd.example.com")
	if !fx.svc.CheckOrigin(r) {
		t.Error("a TLS request is not same-origin with https:// of its host")
	}
	if fx.failures("upgrade", "origin") != 0 {
		t.Error("an allowed origin was counted as refused")
	}
	r.Header.Set("Origin", "http://stompd.example.com")
	if fx.svc.CheckOrigin(r) || fx.failures("upgrade", "origin") != 1 {
		t.Error("a TLS request from http:// of its host was allowed or not counted")
	}
}

func TestCORSPreflightAndRequests(t *testing.T) {
	fx := newFixture(t, nil)
	const app = "https://app.example.com:3000"
	resp := fx.do(t, "OPTIONS", "/auth/login", "", "Origin", app, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" || h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" ||
		h.Values("Vary")[0] != "Origin" {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, h)
	}
	resp = fx.do(t, "OPTIONS", "/auth/ticket", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp = fx.do(t, "POST", "/auth/login", `{"email":"alice@example.com","password":"`+password+`"}`, "Origin", app)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != app || resp.Header.Get("Vary") != "Origin" {
		t.Fatalf("allowed request: %d %v", resp.StatusCode, resp.Header)
	}
	resp = fx.do(t, "POST", "/auth/login", `{"email":"alice@example.com","password":"`+password+`"}`, "Origin", fx.srv.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("same-origin request: %d", resp.StatusCode)
	}
	resp = fx.do(t, "GET", "/.well-known/jwks.json", "", "Origin", app)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("jwks from an allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
}
