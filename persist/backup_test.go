package persist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBackupIsAConsistentStoreWhileWritesGoOn backs the store up while
// another goroutine keeps adding users, and opens the copy: it is a store
// holding a prefix of the users added, every one of them whole.
func TestBackupIsAConsistentStoreWhileWritesGoOn(t *testing.T) {
	s, _, _ := openTest(t)
	if _, err := s.AddUser(User{Email: "first@example.com"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.AddUser(User{Email: fmt.Sprintf("u%d@example.com", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	close(stop)
	wg.Wait()
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes reported, %d written, %v", n, buf.Len(), err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Fatalf("Check of the backup: %v", err)
	}
	copied, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if _, err := copied.UserByEmail("first@example.com"); err != nil {
		t.Errorf("the backup lacks the user added before it: %v", err)
	}
	if _, err := copied.Users(); err != nil {
		t.Errorf("the backup's users do not read back: %v", err)
	}
}

// TestCheckRefusesATruncatedBackup: a copy cut short, as a failed
// transfer leaves it, is refused as corrupt and left as it was.
func TestCheckRefusesATruncatedBackup(t *testing.T) {
	s, _, _ := openTest(t)
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.db")
	cut := buf.Bytes()[:buf.Len()-4096]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a truncated backup: %v, want ErrCorrupt", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, cut) {
		t.Error("Check changed the file")
	}
}
