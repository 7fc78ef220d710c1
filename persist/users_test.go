package persist

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAddUser(t *testing.T) {
	s, c, _ := openTest(t)
	in := User{ID: "ignored", Email: "Ann@Example.com", Name: "Ann", Roles: []string{"admin", "user"}, PasswordHash: []byte("h1")}
	u, err := s.AddUser(in)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.ID == "ignored" || strings.ContainsAny(u.ID, ":/?#&=+ ") {
		t.Fatalf("ID %q: want a new URL-safe id without ':'", u.ID)
	}
	if !u.Created.Equal(c.Now()) {
		t.Fatalf("Created %v, want %v", u.Created, c.Now())
	}
	in.Roles[0] = "changed"
	in.PasswordHash[0] = 'X'
	for _, lookup := range []struct {
		name string
		get  func() (User, error)
	}{
		{"by id", func() (User, error) { return s.User(u.ID) }},
		{"by email", func() (User, error) { return s.UserByEmail("Ann@Example.com") }},
		{"by email other case", func() (User, error) { return s.UserByEmail("ann@EXAMPLE.com") }},
	} {
		t.Run(lookup.name, func(t *testing.T) {
			got, err := lookup.get()
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != u.ID || got.Email != "Ann@Example.com" || got.Name != "Ann" ||
				!slices.Equal(got.Roles, []string{"admin", "user"}) || !bytes.Equal(got.PasswordHash, []byte("h1")) ||
				!got.Created.Equal(u.Created) {
				t.Fatalf("got %+v, want %+v", got, u)
			}
		})
	}
}

func TestAddUserRejects(t *testing.T) {
	s, _, _ := openTest(t)
	mustAddUser(t, s, "bob@example.com")
	for _, tc := range []struct {
		name  string
		email string
		want  error
	}{
		{"same email", "bob@example.com", ErrExists},
		{"email in other case", "BOB@example.COM", ErrExists},
		{"empty email", "", errNoEmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddUser(User{Email: tc.email})
			wantErr(t, "AddUser", err, tc.want)
		})
	}
	users, err := s.Users()
	if err != nil || len(users) != 1 {
		t.Fatalf("Users = %d users, %v; want the one", len(users), err)
	}
}

func TestUsersOrderedByEmail(t *testing.T) {
	s, _, _ := openTest(t)
	for _, e := range []string{"carol@x", "Alice@x", "bob@x"} {
		mustAddUser(t, s, e)
	}
	users, err := s.Users()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.Email)
	}
	if want := []string{"Alice@x", "bob@x", "carol@x"}; !slices.Equal(got, want) {
		t.Fatalf("Users order %v, want %v", got, want)
	}
}

func TestSetPassword(t *testing.T) {
	s, _, _ := openTest(t)
	u := mustAddUser(t, s, "dan@x")
	if err := s.SetPassword("DAN@x", []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(u.ID)
	if err != nil || string(got.PasswordHash) != "new" || got.Email != "dan@x" {
		t.Fatalf("after SetPassword: %+v, %v", got, err)
	}
	wantErr(t, "SetPassword unknown", s.SetPassword("nobody@x", []byte("x")), ErrNotFound)
}

func TestDeleteUser(t *testing.T) {
	s, c, _ := openTest(t)
	gone := mustAddUser(t, s, "gone@x")
	kept := mustAddUser(t, s, "kept@x")
	exp := c.Now().Add(time.Hour)
	f1 := mustCreate(t, s, "g1", gone.ID, exp, c.Now().Add(15*time.Minute))
	f2 := mustCreate(t, s, "g2", gone.ID, exp)
	k1 := mustCreate(t, s, "k1", kept.ID, exp)
	wantCount(t, s, 3)

	if err := s.DeleteUser("Gone@X"); err != nil {
		t.Fatal(err)
	}
	_, err := s.UserByEmail("gone@x")
	wantErr(t, "UserByEmail after delete", err, ErrNotFound)
	_, err = s.User(gone.ID)
	wantErr(t, "User after delete", err, ErrNotFound)
	for _, tok := range []string{"g1", "g2"} {
		_, err := s.LookupRefresh(hashOf(tok))
		wantErr(t, "token of deleted user "+tok, err, ErrRevoked)
	}
	if _, err := s.LookupRefresh(hashOf("k1")); err != nil {
		t.Fatalf("other user's token: %v", err)
	}
	wantCount(t, s, 1)
	denied, err := s.Denied()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := denied[f1.Family]; !ok {
		t.Fatalf("Denied %v lacks the sid %s with a live access token", denied, f1.Family)
	}
	if _, ok := denied[f2.Family]; ok || len(denied) != 1 {
		t.Fatalf("Denied %v: want only %s (no access token noted for %s)", denied, f1.Family, f2.Family)
	}
	_, err = s.CreateRefresh(hashOf("g3"), gone.ID, exp, time.Time{})
	wantErr(t, "CreateRefresh for deleted user", err, ErrNotFound)
	wantErr(t, "DeleteUser again", s.DeleteUser("gone@x"), ErrNotFound)
	again := mustAddUser(t, s, "gone@x")
	if again.ID == gone.ID {
		t.Fatal("re-added user got the old id")
	}
	if revoked, err := s.FamilyRevoked(k1.Family); err != nil || revoked {
		t.Fatalf("kept user's family revoked=%v, %v", revoked, err)
	}
}

func TestAddUserConcurrentSameEmail(t *testing.T) {
	s, _, _ := openTest(t)
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.AddUser(User{Email: []string{"same@x", "SAME@x"}[i%2]})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var ok int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExists):
			t.Fatalf("AddUser: %v", err)
		}
	}
	if users, _ := s.Users(); ok != 1 || len(users) != 1 {
		t.Fatalf("%d of %d concurrent AddUser calls for one email succeeded, %d users stored; want 1", ok, n, len(users))
	}
}

// TestSetPasswordEndsLogins changes a password: the user's refresh tokens
// are refused from then on, the sid of a login with a live access token is
// denied, and another user's login is untouched.
func TestSetPasswordEndsLogins(t *testing.T) {
	s, c, _ := openTest(t)
	dan := mustAddUser(t, s, "dan@x")
	eve := mustAddUser(t, s, "eve@x")
	exp := c.Now().Add(time.Hour)
	login := mustCreate(t, s, "d1", dan.ID, exp, c.Now().Add(15*time.Minute))
	mustCreate(t, s, "e1", eve.ID, exp)
	if err := s.SetPassword("dan@x", []byte("new")); err != nil {
		t.Fatal(err)
	}
	_, err := s.RotateRefresh(hashOf("d1"), hashOf("d2"), exp, time.Time{})
	wantErr(t, "rotating a token of the login before the password change", err, ErrRevoked)
	denied, err := s.Denied()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := denied[login.Family]; !ok {
		t.Errorf("Denied %v lacks the sid %s of the login before the password change", denied, login.Family)
	}
	mustRotate(t, s, "e1", "e2", exp)
}
