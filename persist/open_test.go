package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	_, _, path := openTest(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("new store mode %v, want 0600", st.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("data dir holds %v (%v); want only the store, no temporary files", entries, err)
	}
}

func TestOpenMissingDir(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "no", "such", "stompd.db"), Options{})
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open in a missing directory: %v; want a plain error", err)
	}
}

func TestOpenLocked(t *testing.T) {
	_, c, path := openTest(t)
	const timeout = 100 * time.Millisecond
	start := time.Now()
	second, err := Open(path, Options{Now: c.Now, Timeout: timeout})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a store in use succeeded")
	}
	wantErr(t, "second Open", err, ErrLocked)
	if !strings.Contains(err.Error(), "data dir is locked by another process") {
		t.Fatalf("message %q does not say the data dir is locked by another process", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("second Open waited %v with a %v timeout", waited, timeout)
	}
}

func TestOpenAfterClose(t *testing.T) {
	first, c, path := openTest(t)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, c)
}

// storeFile is a store written by realStore, as bbolt reports its pages.
type storeFile struct {
	path     string
	used     []int // the pages in use (not free), overflow pages left out
	freelist int   // the freelist's page
	pages    int   // the high-water mark: pages the file must hold
}

// realStore writes a store with enough data to span many pages and closes
// it.
func realStore(t *testing.T) storeFile {
	t.Helper()
	s, c, path := openTest(t)
	for i := range 60 {
		u := mustAddUser(t, s, fmt.Sprintf("user%02d@example.com", i))
		for j := range 4 {
			mustCreate(t, s, fmt.Sprint(u.ID, j), u.ID, c.Now().Add(time.Hour))
		}
		if err := s.Deny(fmt.Sprint("jti", i), c.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"key-a", "key-b"} { // a small bucket: inline
		if err := s.PutKey(name, bytes.Repeat([]byte{7}, 64)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return pagesOf(t, path)
}

// pagesOf reads the page list of the store at path with bbolt.
func pagesOf(t *testing.T, path string) storeFile {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sf := storeFile{path: path}
	err = db.View(func(tx *bolt.Tx) error {
		sf.pages = int(tx.Size()) / db.Info().PageSize
		for id := 2; id < sf.pages; id++ {
			p, err := tx.Page(id)
			if p == nil || err != nil {
				return fmt.Errorf("page %d: %v, %v", id, p, err)
			}
			if p.Type == "freelist" {
				sf.freelist = id
			}
			if p.Type != "free" {
				sf.used = append(sf.used, id)
				id += p.OverflowCount
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// editBolt changes a copy of a store with bbolt itself.
func editBolt(t *testing.T, src, dst string, edit func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Update(edit), db.Close()); err != nil {
		t.Fatal(err)
	}
}

// badFile is a test case: make writes a file at path that Open must refuse.
type badFile struct {
	name string
	make func(t *testing.T, path string)
}

func TestOpenRefusesBadFiles(t *testing.T) {
	sf := realStore(t)
	real := sf.path
	orig, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	// damage overwrites the given pages with noise from byte from of each on
	// (0: the whole page; 16: all but the page header, so that bbolt takes it
	// for a valid page and follows the garbage in it).
	damage := func(from int, pages ...int) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			b := bytes.Clone(orig)
			for _, id := range pages {
				copy(b[id*ps+from:(id+1)*ps], noise(ps-from))
			}
			writeFile(t, path, b)
		}
	}
	content := func(b []byte) func(t *testing.T, path string) {
		return func(t *testing.T, path string) { writeFile(t, path, b) }
	}
	cases := []badFile{
		{"empty", content(nil)},
		{"first 100 bytes of a store", content(orig[:100])},
		{"first three pages of a store", content(orig[:3*ps])},
		{"last page cut off", content(orig[:(sf.pages-1)*ps])},
		{"random bytes", content(noise(8 * ps))},
		{"a few random bytes", content(noise(50))},
		{"text", content([]byte("data_dir = \"./data\"\n"))},
		{"both meta pages damaged", damage(0, 0, 1)},
		{"every page after the meta pages damaged", func(t *testing.T, path string) {
			b := bytes.Clone(orig)
			copy(b[2*ps:], noise(len(b)-2*ps))
			writeFile(t, path, b)
		}},
		{"freelist page zeroed", func(t *testing.T, path string) {
			b := bytes.Clone(orig)
			clear(b[sf.freelist*ps : (sf.freelist+1)*ps])
			writeFile(t, path, b)
		}},
		{"keys out of order in an inline bucket", func(t *testing.T, path string) {
			a, b := bytes.Index(orig, []byte("key-a")), bytes.Index(orig, []byte("key-b"))
			if a < 0 || b < 0 {
				t.Fatal("key names not found in the file")
			}
			damaged := bytes.Clone(orig)
			copy(damaged[a:], "key-b")
			copy(damaged[b:], "key-a")
			writeFile(t, path, damaged)
		}},
		{"foreign bbolt file", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("app"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			})
			if err := errors.Join(err, db.Close()); err != nil {
				t.Fatal(err)
			}
		}},
		{"foreign bbolt file without a freelist", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("app"))
				return err
			}), db.Close()); err != nil {
				t.Fatal(err)
			}
		}},
		{"newer store format", func(t *testing.T, path string) {
			editBolt(t, real, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bMeta).Put(kFormat, binary.BigEndian.AppendUint32(nil, formatVersion+1))
			})
		}},
		{"a bucket missing", func(t *testing.T, path string) {
			editBolt(t, real, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bRefreshExp) })
		}},
	}
	for _, id := range sf.used {
		cases = append(cases,
			badFile{fmt.Sprintf("page %d of %d damaged", id, sf.pages), damage(0, id)},
			badFile{fmt.Sprintf("page %d of %d damaged after its header", id, sf.pages), damage(16, id)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stompd.db")
			tc.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // twice: a refused file must not stay locked
				s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
				if err == nil {
					s.Close()
					t.Fatal("Open accepted the file")
				}
				wantErr(t, "Open", err, ErrCorrupt)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(before, after) {
				t.Fatalf("Open changed the refused file (%d bytes before, %d after, %v)", len(before), len(after), err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Fatalf("data dir holds %d entries after a refused Open, want 1", len(entries))
			}
		})
	}
	if s, err := Open(real, Options{}); err != nil { // the undamaged original
		t.Fatalf("Open of the intact store: %v", err)
	} else {
		s.Close()
	}
}

func TestCorruptMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stompd.db")
	writeFile(t, path, nil)
	_, err := Open(path, Options{})
	if msg := fmt.Sprint(err); !strings.Contains(msg, path) || !strings.Contains(msg, "empty") {
		t.Fatalf("message %q should name the file and say it is empty", msg)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedRecords covers damage bbolt's check cannot see (bbolt keeps no
// checksums of values): a record that does not decode is reported as
// ErrCorrupt when it is read, never as a panic or a half-filled value.
func TestMalformedRecords(t *testing.T) {
	s, c, path := openTest(t)
	u := mustAddUser(t, s, "a@x")
	rt := mustCreate(t, s, "t1", u.ID, c.Now().Add(time.Hour))
	if err := s.Deny("d", c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "stompd.db")
	editBolt(t, path, damaged, func(tx *bolt.Tx) error {
		for _, kv := range []struct{ bucket, key, value []byte }{
			{bUsers, []byte(u.ID), []byte{recordVersion, 200}},
			{bRefresh, rt.Hash[:], []byte{recordVersion + 1}},
			{bFamilies, []byte(rt.Family), append([]byte{recordVersion, 0, 0}, make([]byte, 30)...)},
			{bDenied, []byte("d"), []byte{1}},
		} {
			if err := tx.Bucket(kv.bucket).Put(kv.key, kv.value); err != nil {
				return err
			}
		}
		return nil
	})
	s = openAt(t, damaged, c)
	reads := []struct {
		name string
		read func() error
	}{
		{"User", func() error { _, err := s.User(u.ID); return err }},
		{"Users", func() error { _, err := s.Users(); return err }},
		{"LookupRefresh", func() error { _, err := s.LookupRefresh(rt.Hash); return err }},
		{"Family", func() error { _, err := s.Family(rt.Family); return err }},
		{"Denied", func() error { _, err := s.Denied(); return err }},
		{"Deny", func() error { return s.Deny("d", c.Now().Add(2*time.Hour)) }},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			wantErr(t, r.name, r.read(), ErrCorrupt)
		})
	}
}
