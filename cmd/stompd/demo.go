package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base32"
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

// demoUsers are the accounts --demo creates. Their passwords are derived
// from a secret kept in the store (demoSecretKey), so they are the same at
// every start, and a restart ends nobody's login; they are printed each
// time.
var demoUsers = []persist.User{
	{Email: "alice@example.com", Name: "Alice"},
	{Email: "bob@example.com", Name: "Bob"},
}

// demoSecretKey names the demo passwords' secret in the store.
const demoSecretKey = "demo-passwords"

// addDemoUsers creates the demo accounts, or gives them back their demo
// password if it was changed, and logs the credentials.
func addDemoUsers(s *persist.Store, log *slog.Logger) error {
	secret, err := demoSecret(s)
	if err != nil {
		return fmt.Errorf("demo passwords: %w", err)
	}
	for _, u := range demoUsers {
		password := demoPassword(secret, u.Email)
		if err := ensureDemoUser(s, u, password); err != nil {
			return fmt.Errorf("demo user %s: %w", u.Email, err)
		}
		log.Info("demo user", "email", u.Email, "password", password)
	}
	return nil
}

// ensureDemoUser adds u with password, or sets its password when it is
// another one (which ends its logins).
func ensureDemoUser(s *persist.Store, u persist.User, password string) error {
	old, err := s.UserByEmail(u.Email)
	exists := err == nil
	switch {
	case exists && bcrypt.CompareHashAndPassword(old.PasswordHash, []byte(password)) == nil:
		return nil
	case !exists && !errors.Is(err, persist.ErrNotFound):
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	switch {
	case err != nil:
		return err
	case exists:
		return s.SetPassword(u.Email, hash)
	}
	u.PasswordHash = hash
	_, err = s.AddUser(u)
	return err
}

// demoSecret returns the demo passwords' secret, made on first use.
func demoSecret(s *persist.Store) ([]byte, error) {
	b, err := s.Key(demoSecretKey)
	if errors.Is(err, persist.ErrNotFound) {
		b = make([]byte, 32)
		rand.Read(b)
		err = s.PutKey(demoSecretKey, b)
	}
	return b, err
}

// demoPassword is the demo password of email: 12 base32 characters of an
// HMAC of the email under the secret.
func demoPassword(secret []byte, email string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(email))
	return base32.StdEncoding.EncodeToString(m.Sum(nil))[:12]
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
