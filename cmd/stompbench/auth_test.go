package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// With several -auth-url, a login goes to the first that answers, past
// one that does not and one that answers 503, and later requests stay
// there; a refusal (4xx) is an answer, not passed on.
func TestAuthFailover(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	var mu sync.Mutex
	var asked []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/auth/refresh" {
			http.Error(w, `{"error":"refused"}`, http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"a1","refresh_token":"r1"}`)
	}))
	defer good.Close()

	a := newAuthClient([]string{dead.URL, busy.URL + "/", good.URL})
	if err := a.login(t.Context(), "a@b.c", "p"); err != nil {
		t.Fatal(err)
	}
	if a.access() != "a1" || a.base() != good.URL || a.failovers.Load() != 2 {
		t.Fatalf("token %q from %s after %d failovers; want a1 from %s after 2", a.access(), a.base(), a.failovers.Load(), good.URL)
	}
	_, err := a.renewToken(t.Context())
	if err == nil || !strings.Contains(err.Error(), "401") || a.base() != good.URL || a.failovers.Load() != 2 {
		t.Errorf("refused refresh: %v, then at %s after %d failovers; want a 401 from %s", err, a.base(), a.failovers.Load(), good.URL)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, " ") != "/auth/login /auth/refresh" {
		t.Errorf("the good node was asked %q", asked)
	}
}

// With one -auth-url, a node that does not answer is an error at once.
func TestAuthOneURL(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	a := newAuthClient([]string{dead.URL})
	if err := a.login(t.Context(), "a@b.c", "p"); err == nil || a.failovers.Load() != 0 {
		t.Errorf("login at a dead node: %v after %d failovers; want an error and none", err, a.failovers.Load())
	}
}
