package persist

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Key returns a copy of the blob stored under name, or ErrNotFound.
func (s *Store) Key(name string) (b []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bKeys).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("key %s: %w", name, ErrNotFound)
		}
		b = bytes.Clone(v)
		return nil
	})
	return b, err
}

// PutKey stores b under name, replacing what was there. The store keeps its
// own copy; name must not be empty.
func (s *Store) PutKey(name string, b []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bKeys).Put([]byte(name), b)
	})
}

// LoadOrStoreKey returns a copy of the blob stored under name, first
// storing fresh there when there is none (or an empty one), in one
// transaction: of two callers racing, both get the blob stored first.
func (s *Store) LoadOrStoreKey(name string, fresh []byte) (b []byte, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		keys := tx.Bucket(bKeys)
		if v := keys.Get([]byte(name)); len(v) > 0 {
			b = bytes.Clone(v)
			return nil
		}
		b = bytes.Clone(fresh)
		return keys.Put([]byte(name), b)
	})
	return b, err
}

// SwapKey stores a copy of next under name if the blob there equals old
// (none equals an empty old), in one transaction, and reports whether it
// did.
func (s *Store) SwapKey(name string, old, next []byte) (swapped bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		keys := tx.Bucket(bKeys)
		if !bytes.Equal(keys.Get([]byte(name)), old) {
			return nil
		}
		swapped = true
		return keys.Put([]byte(name), bytes.Clone(next))
	})
	return swapped, err
}
