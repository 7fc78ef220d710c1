package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/stompd/stompd/persist/internal/boltfile"
)

const (
	formatVersion  = 1 // of the stompd store, kept under kFormat
	defaultTimeout = time.Second
)

// Open opens the store at path, holding its lock until Close. If nothing
// exists at path a new store is created there (mode 0600; the directory must
// exist). Anything else at path must be a stompd store: an empty, truncated,
// damaged or foreign file gives ErrCorrupt and is left as it was. A file
// locked by another Store, in this process or another, gives ErrLocked after
// o.Timeout.
func Open(path string, o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := createIfMissing(path, o.Timeout); err != nil {
		return nil, err
	}
	if err := preflight(path); err != nil {
		return nil, err
	}
	if err := verify(path, o.Timeout); err != nil {
		return nil, err
	}
	db, err := openBolt(path, o.Timeout, false)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: o.Now, onWrite: o.OnWrite}, nil
}

func corrupt(path, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, reason)
}

// createIfMissing makes a new store at path if nothing is there. The store is
// built and synced under a temporary name and then linked into place, so path
// never names a half-made store and a store that appeared meanwhile (another
// process starting) is kept.
func createIfMissing(path string, timeout time.Duration) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there is something to open (or preflight reports why not)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("persist: create store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("persist: create store: %w", err)
	}
	if err := initStore(tmp.Name(), timeout); err != nil {
		return fmt.Errorf("persist: create store: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("persist: create store: %w", err)
	}
	return syncDir(dir)
}

// initStore writes the buckets and the format marker into the empty file.
func initStore(name string, timeout time.Duration) error {
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
	})
	return errors.Join(err, db.Close())
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("persist: sync data dir: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("persist: sync data dir: %w", err)
	}
	return nil
}

// openBolt opens an existing file with bbolt, read-only (under a shared lock)
// or not. Should bbolt panic on a damaged file the panic becomes ErrCorrupt;
// the file is closed, but its memory map, and with it the lock, stays until
// the process exits. Read-only opens read nothing beyond the meta pages that
// preflight checked, so this is a last resort.
func openBolt(path string, timeout time.Duration, readOnly bool) (db *bolt.DB, err error) {
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, corrupt(path, fmt.Sprint("reading it failed: ", r))
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  timeout,
		ReadOnly: readOnly,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag&^os.O_CREATE, mode)
			file = f
			return f, err
		},
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, corrupt(path, err.Error())
	case err != nil:
		return nil, fmt.Errorf("persist: open %s: %w", path, err)
	}
	return db, nil
}

// verify opens the file read-only and checks all of it before a read-write
// open would load the freelist: the structure of every page in use, then
// bbolt's consistency check, then the stompd format marker and buckets.
func verify(path string, timeout time.Duration) error {
	db, err := openBolt(path, timeout, true)
	if err != nil {
		return err
	}
	if err := check(path, db); err != nil {
		return errors.Join(corrupt(path, err.Error()), db.Close())
	}
	return db.Close()
}

// check runs the checks of verify: first the bounds-checked walk over every
// page in use (package boltfile), then, with bbolt's view known to stay inside
// the file, bbolt's own check in a read transaction. Panics become errors.
func check(path string, db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading it failed: %v", r)
		}
	}()
	if err := walkFile(path); err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker stops when all is read
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("consistency check failed: %w", first)
		}
		return checkFormat(tx)
	})
}

// walkFile walks the pages of the file as its newest meta page describes
// them; the caller holds the lock, so they do not change meanwhile.
func walkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return boltfile.Walk(f)
}

func checkFormat(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return errors.New("a bbolt file without the stompd format marker (another program's database)")
	}
	v := meta.Get(kFormat)
	if len(v) != 4 {
		return errors.New("malformed stompd format marker")
	}
	if n := binary.BigEndian.Uint32(v); n != formatVersion {
		return fmt.Errorf("store format version %d; this stompd reads version %d", n, formatVersion)
	}
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("bucket %q is missing", b)
		}
	}
	return nil
}

// preflight checks the file before bbolt sees it, because bbolt would
// initialise an empty file and can panic on a short one.
func preflight(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("persist: open store: %w", err)
	}
	defer f.Close()
	if err := boltfile.Preflight(f); err != nil {
		return corrupt(path, err.Error())
	}
	return nil
}
