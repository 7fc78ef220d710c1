package persist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// This file reads the bbolt file format (version 2) directly, with ReadAt and
// bounds checks, so that a damaged file is refused before bbolt, which
// follows offsets in mapped memory without checking them, can be led outside
// the file and crash the process (a fault, which no recover can catch).
//
// All integers are in native byte order. Every page starts with a 16-byte
// header: page id (8), flags (2), element count (2), overflow page count (4).
// A meta page holds, after the header: magic, version, page size, flags (4
// each), root bucket page and sequence, freelist page, high-water page,
// transaction id (8 each) and an FNV-64a checksum of the fields before it.
// Branch pages hold 16-byte elements (key offset and size, 4 each; child page,
// 8), leaf pages 16-byte elements (flags, key offset, key size, value size, 4
// each); offsets count from the element. A leaf element flagged as a bucket
// has a value of root page and sequence (8 each), and a root page of 0 means
// the bucket's own leaf page follows inline in the value. A freelist page
// holds page ids (8 each); a count of 0xFFFF means the real count is the
// first id slot.
const (
	pageHeaderSize = 16
	metaSize       = 64
	elementSize    = 16
	bucketHeader   = 16
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)

	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01

	maxDepth = 64 // of branch pages and nested buckets; real stores stay below 10
)

var ne = binary.NativeEndian

type meta struct {
	pageSize                   int64
	root, freelist, pgid, txid uint64
}

// layout returns the meta page of f that bbolt would use, after checking
// that f is long enough to hold meta pages and that the meta page fits f.
func layout(f *os.File) (meta, error) {
	st, err := f.Stat()
	switch {
	case err != nil:
		return meta{}, err
	case st.Size() == 0:
		return meta{}, errors.New("the file is empty (0 bytes)")
	case st.Size() < pageHeaderSize+metaSize:
		return meta{}, fmt.Errorf("the file is only %d bytes long", st.Size())
	}
	m, err := newestMeta(f)
	if err != nil {
		return meta{}, err
	}
	return m, m.check(st.Size())
}

// newestMeta returns the meta page bbolt would use: the valid one with the
// higher transaction id. The second page sits one page size in; when the
// first page is bad its size is unknown and the likely sizes are tried.
func newestMeta(f *os.File) (meta, error) {
	m0, err0 := readMeta(f, 0)
	offsets := []int64{m0.pageSize}
	if err0 != nil {
		offsets = offsets[:0]
		for i := range 15 {
			offsets = append(offsets, 1024<<i)
		}
	}
	for _, off := range offsets {
		m1, err := readMeta(f, off)
		if err == nil && m1.pageSize == off && (err0 != nil || m1.txid > m0.txid) {
			return m1, nil
		}
	}
	if err0 != nil {
		return meta{}, fmt.Errorf("not a bbolt database (%w)", err0)
	}
	return m0, nil
}

func readMeta(f *os.File, off int64) (meta, error) {
	var p [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(p[:], off); err != nil {
		return meta{}, errors.New("meta page unreadable")
	}
	b := p[pageHeaderSize:]
	sum := fnv.New64a()
	sum.Write(b[:56])
	switch {
	case ne.Uint32(b[0:]) != boltMagic:
		return meta{}, errors.New("no bbolt magic number")
	case ne.Uint32(b[4:]) != boltVersion:
		return meta{}, fmt.Errorf("bbolt file format %d, not %d", ne.Uint32(b[4:]), boltVersion)
	case sum.Sum64() != ne.Uint64(b[56:]):
		return meta{}, errors.New("meta page checksum mismatch")
	}
	return meta{
		pageSize: int64(ne.Uint32(b[8:])),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		pgid:     ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}, nil
}

// check says why the meta page cannot describe a stompd store in a file of
// this size, if it cannot.
func (m meta) check(size int64) error {
	switch {
	case m.pageSize < 1024 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0:
		return fmt.Errorf("implausible page size %d", m.pageSize)
	case m.freelist == noFreelist:
		return errors.New("a bbolt file written without a freelist (not by stompd)")
	case m.pgid < 4 || m.root < 2 || m.root >= m.pgid || m.freelist < 2 || m.freelist >= m.pgid:
		return errors.New("meta page points outside the file")
	case m.pgid > uint64(size/m.pageSize):
		return fmt.Errorf("truncated: %d bytes long, the store needs %d", size, m.pgid*uint64(m.pageSize))
	}
	return nil
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
