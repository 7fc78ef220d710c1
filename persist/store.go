package persist

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors that callers branch on. Errors returned by Store methods wrap these
// (test with errors.Is); other errors are I/O failures of the file itself.
var (
	// ErrLocked means another process (or another Open in this process) holds
	// the store file.
	ErrLocked = errors.New("persist: the data dir is locked by another process (is a stompd server running on it?)")
	// ErrCorrupt means the file exists but is empty, truncated, damaged, not a
	// bbolt file, or a bbolt file that is not a stompd store. The file is left
	// untouched.
	ErrCorrupt = errors.New("persist: the store file is damaged or is not a stompd store")
	// ErrNotFound means the user, token, family or key does not exist.
	ErrNotFound = errors.New("persist: not found")
	// ErrExists means the email (or token hash) is already taken.
	ErrExists = errors.New("persist: already exists")
	// ErrExpired means the refresh token is past its expiry.
	ErrExpired = errors.New("persist: refresh token expired")
	// ErrRevoked means the refresh token's family has been revoked.
	ErrRevoked = errors.New("persist: refresh token family revoked")
	// ErrReused means a refresh token that was already rotated was presented
	// again; RotateRefresh has revoked its family by the time it returns this.
	ErrReused = errors.New("persist: refresh token already rotated (reuse)")
	// ErrClosed means the Store has been closed.
	ErrClosed = errors.New("persist: store closed")
	// ErrWrite means a change was complete but its commit could not write
	// the file: the disk or the quota is full, the file may not grow, or
	// the device failed. The error wraps the cause too (syscall.ENOSPC,
	// say). The transaction was rolled back and the store stays usable:
	// reads go on, and writes succeed again once the cause is gone.
	ErrWrite = errors.New("persist: the store file could not be written")
	// ErrUnsynced means a commit wrote its meta page, so that the store
	// reads its change from then on, but the sync after it failed, so that
	// the change and what was written with it may not be on disk. Every
	// later change would build on them and could not be known durable:
	// the store refuses all changes, with an error wrapping ErrWrite and
	// ErrUnsynced, until it is opened again. Reads go on.
	ErrUnsynced = errors.New("persist: a commit took effect but could not be synced to disk; the store takes no more changes until it is opened again")
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for the file lock before it returns
	// ErrLocked. Zero or negative means 1s.
	Timeout time.Duration
	// Now is the clock for issue, expiry and creation times. Nil means time.Now.
	Now func() time.Time
	// OnWrite, when set, is called after every commit of a change with
	// its outcome: nil, or an error wrapping ErrWrite. A caller can report
	// a failing disk once, and its recovery, rather than once per request.
	// It runs on the writing goroutine, after the transaction ended.
	OnWrite func(error)
}

// Store is an open stompd store. It is safe for concurrent use; bbolt runs
// one writing transaction at a time and any number of readers beside it.
type Store struct {
	db      *bolt.DB
	now     func() time.Time
	onWrite func(error)
	// writing serializes update (bbolt runs one writer at a time anyway),
	// so that after a failed commit the latest transaction's id tells
	// whether its meta page was written; unsynced, under it, is set once
	// one was (ErrUnsynced).
	writing  sync.Mutex
	unsynced bool
}

// Bucket names. Every bucket is created with the file, so a transaction on a
// verified store finds them all.
var (
	bMeta        = []byte("stompd")          // format marker and counters
	bUsers       = []byte("users")           // user id -> user record
	bEmails      = []byte("users.email")     // lower-cased email -> user id
	bRefresh     = []byte("refresh")         // token hash -> token record
	bRefreshExp  = []byte("refresh.expiry")  // expiry + token hash -> nil
	bFamilies    = []byte("families")        // family id -> family record
	bFamiliesExp = []byte("families.expiry") // end + family id -> nil
	bUserFams    = []byte("families.user")   // user id ":" family id -> nil
	bDenied      = []byte("denied")          // denied id -> until
	bDeniedExp   = []byte("denied.expiry")   // until + denied id -> nil
	bKeys        = []byte("keys")            // name -> blob
	allBuckets   = [][]byte{bMeta, bUsers, bEmails, bRefresh, bRefreshExp, bFamilies, bFamiliesExp, bUserFams, bDenied, bDeniedExp, bKeys}
	kFormat      = []byte("format")       // in bMeta: format version, 4 bytes big-endian
	kLiveRefresh = []byte("refresh.live") // in bMeta: count of live refresh tokens, 8 bytes big-endian
)

// Close releases the file and its lock. Transactions in progress finish first.
func (s *Store) Close() error {
	return s.db.Close()
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return closedErr(s.db.View(fn))
}

// update runs fn in a read-write transaction, which has been committed and
// synced to disk when update returns nil. An error from fn rolls it back;
// a commit that fails after fn succeeded returns an error wrapping
// ErrWrite, and ErrUnsynced too when it failed once it had taken effect,
// after which every change is refused so. Options.OnWrite is told how
// every commit went.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	if s.unsynced {
		return s.wrote(fmt.Errorf("%w: %w", ErrWrite, ErrUnsynced))
	}
	changed, id := false, 0
	err := closedErr(s.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		changed, id = true, tx.ID()
		return nil
	}))
	switch {
	case !changed:
		return err
	case err != nil && s.latestTx() == id:
		// bbolt writes the meta page, which makes the commit the store's
		// latest, then syncs it: only that sync failed.
		s.unsynced = true
		err = fmt.Errorf("%w: %w: %w", ErrWrite, ErrUnsynced, err)
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return s.wrote(err)
}

// latestTx returns the id of the store's latest committed transaction, or
// -1 when the store cannot be read.
func (s *Store) latestTx() int {
	id := -1
	s.db.View(func(tx *bolt.Tx) error {
		id = tx.ID()
		return nil
	})
	return id
}

// wrote tells Options.OnWrite how a commit went and returns err.
func (s *Store) wrote(err error) error {
	if s.onWrite != nil {
		s.onWrite(err)
	}
	return err
}

func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// stamp reads the clock and drops what storage would drop (monotonic reading,
// location), so a returned time equals the one read back later.
func (s *Store) stamp() time.Time {
	return fromNanos(s.now().UnixNano())
}

// newID returns a random, URL-safe identifier without ':' (base32, 128 bits).
func newID() string {
	return rand.Text()
}
