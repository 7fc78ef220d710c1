package persist

import (
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a copy of the whole store to w as of one read transaction:
// a complete store file that Open accepts, holding everything committed
// before Backup began and nothing after. The store stays in use
// meanwhile; bbolt's writer is not held up by a reader. It returns the
// bytes written.
func (s *Store) Backup(w io.Writer) (n int64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Check checks the store file at path as Open does, without opening it for
// writing or changing it: a backup before it is put in place. It returns
// ErrCorrupt for anything that is not a whole stompd store.
func Check(path string) error {
	if err := preflight(path); err != nil {
		return err
	}
	return verify(path, defaultTimeout)
}
