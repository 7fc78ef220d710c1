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
