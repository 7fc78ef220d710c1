package persist

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/disktest"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestDiskFull fills the disk under a store and logs in until a commit
// fails: the failure wraps ErrWrite, OnWrite hears of it, nothing of it is
// stored, reads go on, and once the disk has room again writes succeed,
// without reopening, and the file checks sound and reopens with every
// login that was reported stored.
func TestDiskFull(t *testing.T) {
	disk := disktest.New(t, 256<<10)
	path := filepath.Join(disk.Dir, "stompd.db")
	s, c, outcomes := openObserved(t, path)
	u := mustAddUser(t, s, "a@x")
	disk.Fill(t, 0)
	stored, failed := loginUntilFull(t, s, u.ID, c.Now().Add(time.Hour))
	if last := (*outcomes)[len(*outcomes)-1]; !errors.Is(last, ErrWrite) {
		t.Fatalf("OnWrite last told %v, want ErrWrite", last)
	}
	if _, err := s.LookupRefresh(hashOf(failed)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the login whose commit failed: LookupRefresh = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByEmail("a@x"); err != nil {
		t.Fatalf("a read on a full disk: %v", err)
	}
	disk.Free(t)
	stored = append(stored, mustCreate(t, s, "after", u.ID, c.Now().Add(time.Hour)).Hash)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Fatalf("Check after the disk was full: %v", err)
	}
	s = openAt(t, path, c)
	for _, h := range stored {
		if _, err := s.LookupRefresh(h); err != nil {
			t.Fatalf("a login reported stored, after reopening: %v", err)
		}
	}
	t.Logf("%d logins stored before the disk was full (tmpfs %v)", len(stored)-1, disk.Tmpfs)
}

// openObserved opens the store at path with a test clock, keeping what
// OnWrite is told in the slice it returns.
func openObserved(t *testing.T, path string) (*Store, *stomptest.Clock, *[]error) {
	t.Helper()
	c := stomptest.NewClock()
	var outcomes []error
	s, err := Open(path, Options{Now: c.Now, OnWrite: func(err error) { outcomes = append(outcomes, err) }})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, &outcomes
}

// loginUntilFull starts logins of user until one fails, which must be
// with ErrWrite, and returns the hashes of those stored and the token of
// the one that failed.
func loginUntilFull(t *testing.T, s *Store, user string, expires time.Time) ([][32]byte, string) {
	t.Helper()
	var stored [][32]byte
	for i := range 10000 {
		tok := fmt.Sprintf("login-%d", i)
		rt, err := s.CreateRefresh(hashOf(tok), user, expires, time.Time{})
		switch {
		case err == nil:
			stored = append(stored, rt.Hash)
		case errors.Is(err, ErrWrite):
			return stored, tok
		default:
			t.Fatalf("CreateRefresh on a full disk: %v, want ErrWrite", err)
		}
	}
	t.Fatal("10000 logins stored on a full disk")
	return nil, ""
}

// TestDiskFullJournal fills the disk under a journal: appends fail with
// ErrWrite and are not stored, and once the disk has room again they
// succeed.
func TestDiskFullJournal(t *testing.T) {
	disk := disktest.New(t, 256<<10)
	s := openAt(t, filepath.Join(disk.Dir, "stompd.db"), stomptest.NewClock())
	j, _ := runJournal(t, s, JournalOptions{})
	disk.Fill(t, 0)
	msg := string(make([]byte, 2048))
	for n := 0; ; n++ {
		if _, err := appendWait(j, msg); errors.Is(err, ErrWrite) {
			break
		} else if err != nil || n > 10000 {
			t.Fatalf("append %d on a full disk: %v", n, err)
		}
	}
	disk.Free(t)
	if _, err := appendWait(j, msg); err != nil {
		t.Fatalf("append once the disk has room: %v", err)
	}
}
