package auth

import (
	"net/http/httptest"
	"testing"
)

func TestOriginsCheck(t *testing.T) {
	list, err := ParseOrigins([]string{"https://app.example.com:3000", " http://dev.local:80 ", "HTTPS://Upper.Example.com", ""})
	if err != nil {
		t.Fatal(err)
	}
	anyOrigin, _ := ParseOrigins([]string{"*"})
	tests := []struct {
		o      *Origins
		origin string
		host   string
		want   bool
	}{
		{list, "", "stompd.example.com", true},
		{list, "https://stompd.example.com", "stompd.example.com", true},
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
		r := httptest.NewRequest("GET", "http://"+tt.host+"/ws", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := tt.o.Check(r); got != tt.want {
			t.Errorf("Origin %q to %s: %v, want %v", tt.origin, tt.host, got, tt.want)
		}
	}
	if !anyOrigin.AllowsAny() || list.AllowsAny() {
		t.Error("AllowsAny")
	}
	for _, bad := range []string{"app.example.com", "ftp://x.example", "https://x.example/path", "https://u@x.example"} {
		if _, err := ParseOrigins([]string{bad}); err == nil {
			t.Errorf("ParseOrigins accepted %q", bad)
		}
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
