package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
)

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

// Preflight checks f before bbolt sees it, because bbolt would initialise
// an empty file and can panic on a short one: f must be a regular file long
// enough to hold the meta pages, with a valid meta page that fits in it.
func Preflight(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	_, err = layout(f)
	return err
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
