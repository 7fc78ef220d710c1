package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TokenState is where a refresh token is in its life.
type TokenState uint8

const (
	// TokenLive is the newest token of a family in good standing.
	TokenLive TokenState = iota
	// TokenRotated has been exchanged for a newer token; presenting it again
	// is reuse.
	TokenRotated
	// TokenRevoked was live when its family was revoked.
	TokenRevoked
)

// RefreshToken is the stored record of an opaque refresh token, known only
// by the SHA-256 hash of the token.
type RefreshToken struct {
	Hash    [32]byte
	Family  string
	UserID  string
	Issued  time.Time
	Expires time.Time
	State   TokenState
}

// CreateRefresh stores the first token of a new family (a login) for an
// existing user and returns it; its Family is the new family's id. In the
// same transaction it records accessUntil, the expiry of the access token
// issued with it (see Family.AccessUntil). A user that does not exist gives
// ErrNotFound, a hash already stored ErrExists.
func (s *Store) CreateRefresh(hash [32]byte, userID string, expires, accessUntil time.Time) (RefreshToken, error) {
	now := s.stamp()
	t := RefreshToken{Hash: hash, Family: newID(), UserID: userID, Issued: now, Expires: fromNanos(nanos(expires))}
	if err := checkNewExpiry(t.Expires, now); err != nil {
		return RefreshToken{}, err
	}
	err := s.update(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, userID); err != nil {
			return err
		}
		f := family{Family: Family{ID: t.Family, UserID: userID, Created: now}, end: t.Expires, live: hash, hasLive: true}
		f.noteAccess(accessUntil)
		if err := putFamily(tx, f, time.Time{}); err != nil {
			return err
		}
		if err := tx.Bucket(bUserFams).Put(userFamilyKey(userID, f.ID), nil); err != nil {
			return err
		}
		return addToken(tx, t)
	})
	if err != nil {
		return RefreshToken{}, err
	}
	return t, nil
}

// RotateRefresh marks the token old as rotated and stores next, expiring at
// expires, as the live token of the same family, and records accessUntil,
// the expiry of the access token issued with next (see
// Family.AccessUntil), all in one transaction, and returns the new record.
// An unknown old gives ErrNotFound, an expired one
// ErrExpired, one of a revoked family ErrRevoked. An old that was already
// rotated gives ErrReused, and its whole family has been revoked (and the
// revocation committed) by then. Of any number of concurrent rotations of the
// same token exactly one succeeds.
func (s *Store) RotateRefresh(old, next [32]byte, expires, accessUntil time.Time) (RefreshToken, error) {
	now := s.stamp()
	expires = fromNanos(nanos(expires))
	if err := checkNewExpiry(expires, now); err != nil {
		return RefreshToken{}, err
	}
	nt := RefreshToken{Hash: next, Issued: now, Expires: expires}
	var reused bool
	err := s.update(func(tx *bolt.Tx) error {
		t, f, err := loadToken(tx, old, now)
		if errors.Is(err, ErrReused) {
			reused = true
			return revoke(tx, f, now)
		}
		if err != nil {
			return err
		}
		nt.Family, nt.UserID = f.ID, t.UserID
		return rotate(tx, t, f, nt, accessUntil)
	})
	switch {
	case err != nil:
		return RefreshToken{}, err
	case reused:
		return RefreshToken{}, ErrReused
	}
	return nt, nil
}

// LookupRefresh returns the token with this hash, changing nothing. It
// answers like RotateRefresh (ErrNotFound, ErrExpired, ErrRevoked, and
// ErrReused for a rotated token, without revoking anything); with the last
// three the record is returned too, so a caller can still name its family.
func (s *Store) LookupRefresh(hash [32]byte) (t RefreshToken, err error) {
	now := s.now()
	verr := s.view(func(tx *bolt.Tx) error {
		t, _, err = loadToken(tx, hash, now)
		return nil
	})
	if verr != nil {
		return RefreshToken{}, verr
	}
	return t, err
}

// RefreshCount returns the number of live refresh tokens (the newest token of
// each family in good standing), counting expired ones until they are swept.
func (s *Store) RefreshCount() (n int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		n = int(liveCount(tx))
		return nil
	})
	return n, err
}

func checkNewExpiry(expires, now time.Time) error {
	if !expires.After(now) {
		return fmt.Errorf("persist: new refresh token expiry %s is not after now", expires)
	}
	return nil
}

// rotate marks t rotated and stores next as the live token of its family f,
// whose access tokens now last until accessUntil.
func rotate(tx *bolt.Tx, t RefreshToken, f family, next RefreshToken, accessUntil time.Time) error {
	t.State = TokenRotated
	if err := putToken(tx, t); err != nil {
		return err
	}
	if err := addLive(tx, -1); err != nil {
		return err
	}
	prevEnd := f.end
	f.live = next.Hash
	f.extend(next.Expires)
	f.noteAccess(accessUntil)
	if err := putFamily(tx, f, prevEnd); err != nil {
		return err
	}
	return addToken(tx, next)
}

// loadToken finds a token and its family and says whether it may be rotated:
// nil, ErrNotFound, ErrExpired, ErrRevoked or ErrReused, in that order of
// precedence. A token whose family is gone counts as revoked.
func loadToken(tx *bolt.Tx, hash [32]byte, now time.Time) (RefreshToken, family, error) {
	t, err := getToken(tx, hash)
	if err != nil {
		return RefreshToken{}, family{}, err
	}
	f, err := getFamily(tx, t.Family)
	switch {
	case errors.Is(err, ErrNotFound):
		f = family{Family: Family{ID: t.Family, UserID: t.UserID, Revoked: true}}
	case err != nil:
		return RefreshToken{}, family{}, err
	}
	switch {
	case !now.Before(t.Expires):
		return t, f, ErrExpired
	case f.Revoked || t.State == TokenRevoked:
		return t, f, ErrRevoked
	case t.State == TokenRotated:
		return t, f, ErrReused
	}
	return t, f, nil
}

func getToken(tx *bolt.Tx, hash [32]byte) (RefreshToken, error) {
	v := tx.Bucket(bRefresh).Get(hash[:])
	if v == nil {
		return RefreshToken{}, fmt.Errorf("refresh token: %w", ErrNotFound)
	}
	r := newReader(v)
	t := RefreshToken{Hash: hash, State: TokenState(r.byte()), Family: r.string(), UserID: r.string()}
	t.Issued = r.time()
	t.Expires = r.time()
	return t, r.done("refresh token")
}

func putToken(tx *bolt.Tx, t RefreshToken) error {
	b := []byte{recordVersion, byte(t.State)}
	b = appendString(b, t.Family)
	b = appendString(b, t.UserID)
	b = appendTime(b, t.Issued)
	b = appendTime(b, t.Expires)
	return tx.Bucket(bRefresh).Put(t.Hash[:], b)
}

// addToken stores a new live token and files it in the expiry index.
func addToken(tx *bolt.Tx, t RefreshToken) error {
	if tx.Bucket(bRefresh).Get(t.Hash[:]) != nil {
		return fmt.Errorf("refresh token: %w", ErrExists)
	}
	if err := putToken(tx, t); err != nil {
		return err
	}
	if err := addLive(tx, 1); err != nil {
		return err
	}
	return tx.Bucket(bRefreshExp).Put(expiryKey(t.Expires, t.Hash[:]), nil)
}

// revokeLiveToken marks the family's live token, if it is still stored and
// live, as revoked.
func revokeLiveToken(tx *bolt.Tx, f family) error {
	if !f.hasLive {
		return nil
	}
	t, err := getToken(tx, f.live)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case t.State != TokenLive:
		return nil
	}
	t.State = TokenRevoked
	if err := addLive(tx, -1); err != nil {
		return err
	}
	return putToken(tx, t)
}

func liveCount(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bMeta).Get(kLiveRefresh)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// addLive adjusts the count of live tokens, which never goes below zero.
func addLive(tx *bolt.Tx, delta int) error {
	n := int64(liveCount(tx)) + int64(delta)
	return tx.Bucket(bMeta).Put(kLiveRefresh, binary.BigEndian.AppendUint64(nil, uint64(max(n, 0))))
}
