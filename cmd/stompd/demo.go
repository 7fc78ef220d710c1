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

// demoHandler serves the demo chat page and its scripts.
func demoHandler() http.Handler {
	sub, err := fs.Sub(demoFiles, "demo")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}
