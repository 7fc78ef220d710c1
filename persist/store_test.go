package persist

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// openTest opens a new store in a fresh directory, closed at cleanup.
func openTest(t *testing.T) (*Store, *stomptest.Clock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stompd.db")
	c := stomptest.NewClock()
	return openAt(t, path, c), c, path
}

func openAt(t *testing.T, path string, c *stomptest.Clock) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: c.Now, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hashOf(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func mustAddUser(t *testing.T, s *Store, email string) User {
	t.Helper()
	u, err := s.AddUser(User{Email: email, Name: "N " + email, Roles: []string{"user"}, PasswordHash: []byte("hash-" + email)})
	if err != nil {
		t.Fatalf("AddUser(%s): %v", email, err)
	}
	return u
}

// mustCreate starts a login with token, expiring at expires, whose access
// token expires at access (the zero time: none issued).
func mustCreate(t *testing.T, s *Store, token, userID string, expires time.Time, access ...time.Time) RefreshToken {
	t.Helper()
	rt, err := s.CreateRefresh(hashOf(token), userID, expires, accessUntil(access))
	if err != nil {
		t.Fatalf("CreateRefresh(%s): %v", token, err)
	}
	return rt
}

// mustRotate rotates old into next, expiring at expires, with an access
// token expiring at access (the zero time: none issued).
func mustRotate(t *testing.T, s *Store, old, next string, expires time.Time, access ...time.Time) RefreshToken {
	t.Helper()
	rt, err := s.RotateRefresh(hashOf(old), hashOf(next), expires, accessUntil(access))
	if err != nil {
		t.Fatalf("RotateRefresh(%s -> %s): %v", old, next, err)
	}
	return rt
}

func accessUntil(access []time.Time) time.Time {
	if len(access) == 0 {
		return time.Time{}
	}
	return access[0]
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func wantCount(t *testing.T, s *Store, want int) {
	t.Helper()
	n, err := s.RefreshCount()
	if err != nil || n != want {
		t.Fatalf("RefreshCount = %d, %v; want %d", n, err, want)
	}
}

func TestClosedStore(t *testing.T) {
	s, _, _ := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Users()
	wantErr(t, "Users after Close", err, ErrClosed)
	wantErr(t, "PutKey after Close", s.PutKey("k", []byte("v")), ErrClosed)
}
