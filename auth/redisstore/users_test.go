package redisstore

import (
	"errors"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestUsersOnRedis adds, finds, lists and deletes users: emails are
// unique regardless of case, and found by id and by email.
func TestUsersOnRedis(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	bob := mustAddUser(t, s, "bob@example.com")
	alice := mustAddUser(t, s, "Alice@Example.com")
	if _, err := s.AddUser(auth.User{Email: "ALICE@example.com"}); !errors.Is(err, ErrExists) {
		t.Errorf("a second user with alice's email: %v, want ErrExists", err)
	}
	if u, err := s.UserByEmail(" alice@example.COM "); err != nil || u.ID != alice.ID || u.Email != "Alice@Example.com" || u.Roles[0] != "chat" || string(u.PasswordHash) != string(alice.PasswordHash) {
		t.Errorf("by email: %+v, %v", u, err)
	}
	if u, err := s.UserByID(bob.ID); err != nil || u.Email != "bob@example.com" {
		t.Errorf("by id: %+v, %v", u, err)
	}
	users, err := s.Users()
	if err != nil || len(users) != 2 || users[0].ID != alice.ID || users[1].ID != bob.ID || users[0].Created.IsZero() {
		t.Errorf("list: %+v, %v", users, err)
	}
	if err := s.DeleteUser("alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{lookupErr(s.UserByEmail("alice@example.com")), lookupErr(s.UserByID(alice.ID)), s.DeleteUser("alice@example.com"), s.SetPassword("alice@example.com", nil)} {
		if !errors.Is(err, auth.ErrUserNotFound) {
			t.Errorf("a deleted user: %v, want ErrUserNotFound", err)
		}
	}
}

func lookupErr(_ auth.User, err error) error { return err }
