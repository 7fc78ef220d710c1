package persist

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Family is one login: the chain of refresh tokens rotated from the token
// that login issued. Its ID is the access tokens' sid.
type Family struct {
	ID      string
	UserID  string
	Revoked bool
	Created time.Time
	// AccessUntil is the expiry of the last access token issued for this
	// family (recorded by CreateRefresh and RotateRefresh): a denial of its
	// sid can end then.
	AccessUntil time.Time
}

// family is the stored record: the public part plus what the store needs to
// keep the family consistent.
type family struct {
	Family
	// end is when nothing of the family can be used any more: the latest of
	// its tokens' expiries and AccessUntil. The sweeper deletes it then.
	end time.Time
	// live is the hash of the family's one live token, if hasLive.
	live    [32]byte
	hasLive bool
}

// Family returns the family with this id.
func (s *Store) Family(id string) (f Family, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		rec, err := getFamily(tx, id)
		f = rec.Family
		return err
	})
	return f, err
}

// FamilyRevoked reports whether the family has been revoked. An unknown
// family (never created, or swept after everything in it expired) gives
// ErrNotFound.
func (s *Store) FamilyRevoked(id string) (bool, error) {
	f, err := s.Family(id)
	return f.Revoked, err
}

// RevokeFamily revokes the family: none of its refresh tokens can be used or
// rotated any more. If access tokens of the family are still valid (see
// Family.AccessUntil), its id is also denied until the last of them expires, so
// a store opened later lists it in Denied. Revoking twice is not an error.
func (s *Store) RevokeFamily(id string) error {
	now := s.now()
	return s.update(func(tx *bolt.Tx) error {
		f, err := getFamily(tx, id)
		if err != nil {
			return err
		}
		return revoke(tx, f, now)
	})
}

// noteAccess records that an access token of the family expires at
// expires, so the family is kept, and a revocation denies its id, at least
// until then.
func (f *family) noteAccess(expires time.Time) {
	if expires.After(f.AccessUntil) {
		f.AccessUntil = expires
	}
	f.extend(expires)
}

// extend makes the family last at least until t.
func (f *family) extend(t time.Time) {
	if t.After(f.end) {
		f.end = t
	}
}

// revoke marks f and its live token revoked and denies f's id while its
// access tokens may still be valid.
func revoke(tx *bolt.Tx, f family, now time.Time) error {
	if f.Revoked {
		return nil
	}
	f.Revoked = true
	if err := revokeLiveToken(tx, f); err != nil {
		return err
	}
	if err := putFamily(tx, f, f.end); err != nil {
		return err
	}
	if f.AccessUntil.After(now) {
		return deny(tx, f.ID, f.AccessUntil)
	}
	return nil
}

// revokeUserFamilies revokes every family of the user and returns the ids
// it denied, each until when.
func revokeUserFamilies(tx *bolt.Tx, userID string, now time.Time) (map[string]time.Time, error) {
	prefix := []byte(userID + ":")
	var ids []string
	c := tx.Bucket(bUserFams).Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	denied := make(map[string]time.Time)
	for _, id := range ids {
		f, err := getFamily(tx, id)
		if err != nil {
			return nil, err
		}
		if !f.Revoked && f.AccessUntil.After(now) {
			denied[f.ID] = f.AccessUntil
		}
		if err := revoke(tx, f, now); err != nil {
			return nil, err
		}
	}
	return denied, nil
}

func userFamilyKey(userID, familyID string) []byte {
	return []byte(userID + ":" + familyID)
}

func getFamily(tx *bolt.Tx, id string) (family, error) {
	v := tx.Bucket(bFamilies).Get([]byte(id))
	if v == nil {
		return family{}, fmt.Errorf("family %s: %w", id, ErrNotFound)
	}
	r := newReader(v)
	f := family{Family: Family{ID: id, Revoked: r.byte() == 1, UserID: r.string()}}
	f.Created = r.time()
	f.AccessUntil = r.time()
	f.end = r.time()
	switch live := r.take(uint64(r.byte())); len(live) {
	case len(f.live):
		f.hasLive = true
		copy(f.live[:], live)
	case 0: // no live token
	default:
		r.bad = true
	}
	return f, r.done("family")
}

// putFamily stores f and moves its expiry index entry from prevEnd to f.end.
// A new family passes the zero time as prevEnd.
func putFamily(tx *bolt.Tx, f family, prevEnd time.Time) error {
	b := []byte{recordVersion, 0}
	if f.Revoked {
		b[1] = 1
	}
	b = appendString(b, f.UserID)
	b = appendTime(b, f.Created)
	b = appendTime(b, f.AccessUntil)
	b = appendTime(b, f.end)
	if f.hasLive {
		b = append(b, byte(len(f.live)))
		b = append(b, f.live[:]...)
	} else {
		b = append(b, 0)
	}
	if err := tx.Bucket(bFamilies).Put([]byte(f.ID), b); err != nil {
		return err
	}
	return moveExpiry(tx.Bucket(bFamiliesExp), []byte(f.ID), prevEnd, f.end)
}
