package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const ps = 4096 // the page size the test files are written with

// sample is a sound bbolt file, as bbolt reports its pages.
type sample struct {
	b                             []byte
	pages, freelist, branch, leaf int // page count; ids of the freelist, a branch and a leaf page
}

// soundFile writes, in one transaction, a bucket of 500 keys (leaf pages
// under a branch page) and a small bucket of two keys (inline), and reads
// back the file and its page list.
func soundFile(t *testing.T) sample {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sound.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 500 {
			if err := big.Put(fmt.Appendf(nil, "k%04d", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		small, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		return errors.Join(small.Put([]byte("key-a"), []byte("1")), small.Put([]byte("key-b"), []byte("2")))
	})
	if err != nil {
		t.Fatal(err)
	}
	s := sample{}
	err = db.View(func(tx *bolt.Tx) error {
		s.pages = int(tx.Size() / ps)
		for id := 2; id < s.pages; id++ {
			p, err := tx.Page(id)
			if p == nil || err != nil {
				return fmt.Errorf("page %d: %v, %v", id, p, err)
			}
			switch p.Type {
			case "freelist":
				s.freelist = id
			case "branch":
				s.branch = id
			case "leaf":
				s.leaf = id
			}
			id += p.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.freelist == 0 || s.branch == 0 || s.leaf == 0 {
		t.Fatalf("the sample lacks a freelist, branch or leaf page: %+v", s)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s.b, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return s
}

// check runs the checks as persist does: Preflight, then Walk.
func check(t *testing.T, path string) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Preflight(f); err != nil {
		return err
	}
	return Walk(f)
}

// editMeta changes both meta pages of b and seals them with a valid
// checksum, so that only the change itself is wrong.
func editMeta(b []byte, edit func(m []byte)) []byte {
	b = bytes.Clone(b)
	for _, off := range []int{0, ps} {
		m := b[off+pageHeaderSize : off+pageHeaderSize+metaSize]
		edit(m)
		sum := fnv.New64a()
		sum.Write(m[:56])
		ne.PutUint64(m[56:], sum.Sum64())
	}
	return b
}

// editPage changes page id of b.
func editPage(b []byte, id int, edit func(p []byte)) []byte {
	b = bytes.Clone(b)
	edit(b[id*ps : (id+1)*ps])
	return b
}

func TestChecks(t *testing.T) {
	s := soundFile(t)
	swapKeys := func() []byte {
		b := bytes.Clone(s.b)
		a, z := bytes.Index(b, []byte("key-a")), bytes.Index(b, []byte("key-b"))
		if a < 0 || z < 0 || bytes.Count(b, []byte("key-a")) != 1 {
			t.Fatal("the inline bucket's keys are not found once in the file")
		}
		copy(b[a:], "key-b")
		copy(b[z:], "key-a")
		return b
	}
	tests := []struct {
		name string
		file []byte
		want string // in the error; "" for a file both checks pass
	}{
		{"sound", s.b, ""},
		{"first meta page damaged: the second serves", editPage(s.b, 0, func(p []byte) { p[pageHeaderSize+20] ^= 0xff }), ""},

		{"0-byte", nil, "the file is empty (0 bytes)"},
		{"truncated inside the first meta page", s.b[:50], "the file is only 50 bytes long"},
		{"truncated after the meta pages", s.b[:2*ps], "truncated: 8192 bytes long, the store needs"},
		{"truncated by one page", s.b[:(s.pages-1)*ps], "truncated: "},

		{"foreign: text", []byte(strings.Repeat("data_dir = \"./data\"\n", 10)), "not a bbolt database (no bbolt magic number)"},
		{"foreign: zeros", make([]byte, 8*ps), "not a bbolt database (no bbolt magic number)"},
		{"foreign: another bbolt format", editMeta(s.b, func(m []byte) { ne.PutUint32(m[4:], 3) }), "not a bbolt database (bbolt file format 3, not 2)"},
		{"foreign: written without a freelist", editMeta(s.b, func(m []byte) { ne.PutUint64(m[32:], noFreelist) }), "a bbolt file written without a freelist"},

		{"corrupt: both meta checksums", editPage(editPage(s.b, 0, func(p []byte) { p[pageHeaderSize+20] ^= 0xff }), 1, func(p []byte) { p[pageHeaderSize+20] ^= 0xff }), "not a bbolt database (meta page checksum mismatch)"},
		{"corrupt: implausible page size", editMeta(s.b, func(m []byte) { ne.PutUint32(m[8:], 1000) }), "implausible page size 1000"},
		{"corrupt: root past the high-water mark", editMeta(s.b, func(m []byte) { ne.PutUint64(m[16:], uint64(s.pages)) }), "meta page points outside the file"},
		{"corrupt: freelist page zeroed", editPage(s.b, s.freelist, func(p []byte) { clear(p) }), fmt.Sprintf("page %d says it is page 0", s.freelist)},
		{"corrupt: freelist names a page out of range", editPage(s.b, s.freelist, func(p []byte) {
			ne.PutUint16(p[10:], 1)
			ne.PutUint64(p[pageHeaderSize:], uint64(s.pages+7))
		}), fmt.Sprintf("freelist names page %d, out of range", s.pages+7)},
		{"corrupt: leaf page with meta flags", editPage(s.b, s.leaf, func(p []byte) { ne.PutUint16(p[8:], 0x04) }), fmt.Sprintf("page %d has flags 0x4 where a branch or leaf page belongs", s.leaf)},
		{"corrupt: overflow past the end", editPage(s.b, s.leaf, func(p []byte) { ne.PutUint32(p[12:], uint32(s.pages)) }), fmt.Sprintf("page %d runs past the end of the data", s.leaf)},
		{"corrupt: key outside its page", editPage(s.b, s.leaf, func(p []byte) { ne.PutUint32(p[pageHeaderSize+8:], 1<<20) }), fmt.Sprintf("element 0 of page %d points outside the page", s.leaf)},
		{"corrupt: a page referenced twice", editPage(s.b, s.branch, func(p []byte) {
			copy(p[pageHeaderSize+elementSize+8:pageHeaderSize+elementSize+16], p[pageHeaderSize+8:pageHeaderSize+16])
		}), "which is out of range or already in use"},
		{"corrupt: keys out of order in an inline bucket", swapKeys(), "is out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stompd.db")
			if err := os.WriteFile(path, tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			err := check(t, path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused a sound file: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestPreflightRefusesADirectory(t *testing.T) {
	f, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Preflight(f); err == nil || err.Error() != "not a regular file" {
		t.Fatalf("Preflight of a directory: %v, want not a regular file", err)
	}
}

// The meta page of the sample says what bbolt says of the file.
func TestNewestMetaAgreesWithBbolt(t *testing.T) {
	s := soundFile(t)
	path := filepath.Join(t.TempDir(), "stompd.db")
	if err := os.WriteFile(path, s.b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := newestMeta(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.pageSize != ps || m.pgid != uint64(s.pages) || m.freelist != uint64(s.freelist) {
		t.Fatalf("meta %+v; bbolt: page size %d, %d pages, freelist page %d", m, ps, s.pages, s.freelist)
	}
}
