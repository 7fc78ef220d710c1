package main

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/persist"
)

// demoAccessTTL caps access token lifetimes in demo mode, so that the demo
// page shows a refresh within its first minute.
const demoAccessTTL = time.Minute

// demoUsers are the accounts --demo creates; their passwords are made anew
// and printed at every start.
var demoUsers = []persist.User{
	{Email: "alice@example.com", Name: "Alice"},
	{Email: "bob@example.com", Name: "Bob"},
}

// addDemoUsers creates the demo accounts, or resets their passwords, and
// logs the credentials.
func addDemoUsers(s *persist.Store, log *slog.Logger) error {
	for _, u := range demoUsers {
		password := rand.Text()[:12]
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if _, err = s.AddUser(u); errors.Is(err, persist.ErrExists) {
			err = s.SetPassword(u.Email, hash)
		}
		if err != nil {
			return fmt.Errorf("demo user %s: %w", u.Email, err)
		}
		log.Info("demo user", "email", u.Email, "password", password)
	}
	return nil
}

//go:embed demo
var demoFiles embed.FS

// demoPolicy is the demo page's Content-Security-Policy: its own scripts,
// styles and connections only (WebSocket included), nothing inline, nothing
// from elsewhere, and no framing.
const demoPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// demoHandler serves the demo chat page and its scripts to GET and HEAD,
// with a strict Content-Security-Policy. It can be mounted at "/" next to
// the API: other methods are answered 405. The page is revalidated on every
// load, so a new binary's page is never mixed with an old script.
func demoHandler() http.Handler {
	sub, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", demoPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
