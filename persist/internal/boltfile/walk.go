package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Walk checks the structure of every page reachable from the newest meta
// page of f: the freelist and the tree of buckets. The caller holds the
// file's lock, so that the pages do not change meanwhile.
func Walk(f *os.File) error {
	m, err := layout(f)
	if err != nil {
		return err
	}
	return walk(f, m)
}

// walk checks the structure of every page reachable from m: the freelist and
// the tree of buckets. It reads each page once.
func walk(f io.ReaderAt, m meta) error {
	w := &walker{f: f, m: m, seen: make(map[uint64]bool)}
	if err := w.freelist(); err != nil {
		return err
	}
	return w.tree(m.root, 0)
}

type walker struct {
	f    io.ReaderAt
	m    meta
	seen map[uint64]bool
}

// page reads page id with its overflow pages, after checking that they lie
// below the high-water mark and were not met before.
func (w *walker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.m.pgid || w.seen[id] {
		return nil, fmt.Errorf("a reference to page %d, which is out of range or already in use", id)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*w.m.pageSize); err != nil {
		return nil, fmt.Errorf("page %d unreadable", id)
	}
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if overflow >= w.m.pgid-id {
		return nil, fmt.Errorf("page %d runs past the end of the data", id)
	}
	for i := range overflow + 1 {
		w.seen[id+i] = true
	}
	p := make([]byte, int64(overflow+1)*w.m.pageSize)
	if _, err := w.f.ReadAt(p, int64(id)*w.m.pageSize); err != nil {
		return nil, fmt.Errorf("page %d unreadable", id)
	}
	return p, nil
}

func (w *walker) freelist() error {
	p, err := w.page(w.m.freelist)
	if err != nil {
		return err
	}
	if flags(p) != freelistPage {
		return fmt.Errorf("freelist page %d has flags %#x", w.m.freelist, flags(p))
	}
	ids := p[pageHeaderSize:]
	n := uint64(count(p))
	if n == 0xFFFF && len(ids) >= 8 {
		n, ids = ne.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids)/8) {
		return fmt.Errorf("freelist page %d lists more ids than it holds", w.m.freelist)
	}
	for i := range n {
		if id := ne.Uint64(ids[8*i:]); id < 2 || id >= w.m.pgid {
			return fmt.Errorf("freelist names page %d, out of range", id)
		}
	}
	return nil
}

// tree checks the branch or leaf page id and everything below it.
func (w *walker) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d nested too deep", id)
	}
	p, err := w.page(id)
	if err != nil {
		return err
	}
	switch flags(p) {
	case branchPage:
		return w.branch(p, depth)
	case leafPage:
		return w.leaf(p, depth)
	}
	return fmt.Errorf("page %d has flags %#x where a branch or leaf page belongs", id, flags(p))
}

func (w *walker) branch(p []byte, depth int) error {
	if count(p) == 0 {
		return fmt.Errorf("branch page %d is empty", ne.Uint64(p))
	}
	var prev []byte
	for i := range count(p) {
		key, child, err := branchElement(p, i)
		if err != nil {
			return err
		}
		if err := ascending(p, i, prev, key); err != nil {
			return err
		}
		if err := w.tree(child, depth+1); err != nil {
			return err
		}
		prev = key
	}
	return nil
}

// leaf checks the elements of a leaf page (or inline bucket page) p and the
// buckets they hold.
func (w *walker) leaf(p []byte, depth int) error {
	var prev []byte
	for i := range count(p) {
		key, value, isBucket, err := leafElement(p, i)
		if err != nil {
			return err
		}
		if err := ascending(p, i, prev, key); err != nil {
			return err
		}
		if isBucket {
			if err := w.bucket(value, depth+1); err != nil {
				return err
			}
		}
		prev = key
	}
	return nil
}

// ascending checks that key i of page p sorts after key i-1, prev (bbolt
// finds keys by binary search, and would not find one out of order; its own
// check leaves inline buckets out).
func ascending(p []byte, i uint16, prev, key []byte) error {
	if i > 0 && bytes.Compare(prev, key) >= 0 {
		return fmt.Errorf("key %d of page %d is out of order", i, ne.Uint64(p))
	}
	return nil
}

// bucket checks a bucket value: a root page, or an inline leaf page.
func (w *walker) bucket(v []byte, depth int) error {
	if len(v) < bucketHeader {
		return errors.New("a bucket header is cut short")
	}
	if root := ne.Uint64(v); root != 0 {
		return w.tree(root, depth)
	}
	inline := v[bucketHeader:]
	if len(inline) < pageHeaderSize || flags(inline) != leafPage {
		return errors.New("an inline bucket is malformed")
	}
	return w.leaf(inline, depth)
}

func flags(p []byte) uint16 { return ne.Uint16(p[8:]) }
func count(p []byte) uint16 { return ne.Uint16(p[10:]) }

// branchElement returns the key and child page of branch element i of p,
// after checking that the key lies inside p.
func branchElement(p []byte, i uint16) (key []byte, child uint64, err error) {
	e, off, err := element(p, i)
	if err != nil {
		return nil, 0, err
	}
	key, err = span(p, i, off+uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:])))
	return key, ne.Uint64(e[8:]), err
}

// leafElement returns the key and value of leaf element i of p, and whether
// it is a bucket, after checking that key and value lie inside p.
func leafElement(p []byte, i uint16) (key, value []byte, isBucket bool, err error) {
	e, off, err := element(p, i)
	if err != nil {
		return nil, nil, false, err
	}
	kstart := off + uint64(ne.Uint32(e[4:]))
	if key, err = span(p, i, kstart, uint64(ne.Uint32(e[8:]))); err != nil {
		return nil, nil, false, err
	}
	value, err = span(p, i, kstart+uint64(len(key)), uint64(ne.Uint32(e[12:])))
	return key, value, ne.Uint32(e)&bucketLeaf != 0, err
}

// element returns element i of page p and its offset in p.
func element(p []byte, i uint16) ([]byte, uint64, error) {
	off := pageHeaderSize + uint64(i)*elementSize
	if off+elementSize > uint64(len(p)) {
		return nil, 0, fmt.Errorf("page %d has more elements than fit in it", ne.Uint64(p))
	}
	return p[off : off+elementSize], off, nil
}

// span returns p[start:start+n] if that lies inside p (element i's data).
func span(p []byte, i uint16, start, n uint64) ([]byte, error) {
	if start > uint64(len(p)) || n > uint64(len(p))-start {
		return nil, fmt.Errorf("element %d of page %d points outside the page", i, ne.Uint64(p))
	}
	return p[start : start+n], nil
}
