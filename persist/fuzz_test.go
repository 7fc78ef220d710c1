package persist

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpen feeds damaged store files to Open: each is refused with ErrCorrupt
// or, if it opens, serves reads, a sweep and a write without panicking.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for _, email := range []string{"a@x", "b@x", "c@x"} {
		u, err := s.AddUser(User{Email: email, Roles: []string{"r"}, PasswordHash: []byte("h")})
		if err != nil {
			f.Fatal(err)
		}
		if _, err := s.CreateRefresh(hashOf(email), u.ID, time.Now().Add(time.Hour), time.Time{}); err != nil {
			f.Fatal(err)
		}
	}
	if err := errors.Join(s.Deny("jti", time.Now().Add(time.Hour)), s.PutKey("k", []byte("v")), s.Close()); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:100])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "stompd.db")
		writeFile(t, path, data)
		s, err := Open(path, Options{Timeout: 50 * time.Millisecond})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v; want ErrCorrupt or success", err)
			}
			return
		}
		defer s.Close()
		s.Users()
		s.Denied()
		s.RefreshCount()
		s.LookupRefresh(hashOf("a@x"))
		s.Sweep(time.Now().Add(24*time.Hour), 2)
		s.AddUser(User{Email: "new@x"})
	})
}
