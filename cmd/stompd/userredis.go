package main

import (
	"fmt"
	"io"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/persist"
)

// redisUserCommand runs a user subcommand on the users that the nodes of
// a cluster share in the Redis at redisURL, while they run: what it
// changes is what every node reads next, and passwd and del end the
// user's logins on every node through the denials the store publishes.
func redisUserCommand(redisURL string, a userArgs, stdout io.Writer) error {
	c, err := newRedisClient(redisURL)
	if err != nil {
		return err
	}
	defer c.Close()
	s := redisstore.New(c, redisstore.Options{})
	return map[string]func() error{
		"add":  func() error { return addRedisUser(s, stdout, a) },
		"list": func() error { return listRedisUsers(s, stdout) },
		"del": func() error {
			return need(a.email, "--email", func() error { return s.DeleteUser(a.email) })
		},
		"passwd": func() error {
			hash, err := a.password.hash()
			if err != nil {
				return err
			}
			return s.SetPassword(a.email, hash)
		},
		"unlock": func() error {
			return need(a.email, "--email", func() error { return unlockRedisUser(s, stdout, a.email) })
		},
	}[a.sub]()
}

func addRedisUser(s *redisstore.Store, out io.Writer, a userArgs) error {
	hash, err := a.password.hash()
	if err != nil {
		return err
	}
	u, err := s.AddUser(auth.User{Email: a.email, Name: a.name, Roles: a.roles, PasswordHash: hash})
	if err != nil {
		return fmt.Errorf("user add %s: %w", a.email, err)
	}
	fmt.Fprintf(out, "added %s (id %s)\n", u.Email, u.ID)
	return nil
}

func listRedisUsers(s *redisstore.Store, out io.Writer) error {
	users, err := s.Users()
	if err != nil {
		return err
	}
	rows := make([]persist.User, len(users))
	for i, u := range users {
		rows[i] = persist.User{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Created: u.Created}
	}
	return printUsers(out, rows)
}

// unlockRedisUser clears the failed logins of email that every node
// counts. The number reported is of those within the default window.
func unlockRedisUser(s *redisstore.Store, out io.Writer, email string) error {
	n, err := s.Unlock(auth.AccountKey(email), auth.ThrottleLimits{Window: auth.DefaultThrottleWindow}, time.Now())
	if err != nil {
		return fmt.Errorf("user unlock: %w", err)
	}
	reportUnlock(out, email, n)
	return nil
}
