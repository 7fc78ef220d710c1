package persist

import (
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

var errNoDenyID = errors.New("persist: denied id is empty")

// Deny records that id (an access token's jti or a login's sid) is denied
// until the given time. Denying an id again keeps the later of the two
// times; a time that is not after now changes nothing.
func (s *Store) Deny(id string, until time.Time) error {
	if id == "" {
		return errNoDenyID
	}
	if !until.After(s.now()) {
		return nil
	}
	return s.update(func(tx *bolt.Tx) error {
		return deny(tx, id, until)
	})
}

// Denied returns every denial still in force, id to the time it ends.
func (s *Store) Denied() (map[string]time.Time, error) {
	now := s.now()
	denied := make(map[string]time.Time)
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bDenied).ForEach(func(id, v []byte) error {
			until, err := denyUntil(v)
			if until.After(now) {
				denied[string(id)] = until
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return denied, nil
}

func deny(tx *bolt.Tx, id string, until time.Time) error {
	b := tx.Bucket(bDenied)
	var prev time.Time
	if v := b.Get([]byte(id)); v != nil {
		var err error
		if prev, err = denyUntil(v); err != nil {
			return err
		}
		if !until.After(prev) {
			return nil
		}
	}
	if err := b.Put([]byte(id), appendTime(nil, until)); err != nil {
		return err
	}
	return moveExpiry(tx.Bucket(bDeniedExp), []byte(id), prev, until)
}

func denyUntil(v []byte) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, corruptRecord("denial")
	}
	return fromNanos(int64(binary.BigEndian.Uint64(v))), nil
}
