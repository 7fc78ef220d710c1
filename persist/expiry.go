package persist

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// An expiry index is a bucket whose keys are 8 bytes of big-endian Unix
// nanoseconds followed by the id of the record that expires then, so what has
// expired is always a prefix of the bucket and the sweeper reads only that.

func expiryKey(t time.Time, id []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(nanos(t)))
	return append(k, id...)
}

// moveExpiry re-files id from prev (zero: not filed yet) to next.
func moveExpiry(b *bolt.Bucket, id []byte, prev, next time.Time) error {
	if !prev.IsZero() && !prev.Equal(next) {
		if err := b.Delete(expiryKey(prev, id)); err != nil {
			return err
		}
	}
	return b.Put(expiryKey(next, id), nil)
}

// expired returns copies of up to limit index keys filed at or before now,
// oldest first. The id in a key k is k[8:].
func expired(b *bolt.Bucket, now time.Time, limit int) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	return keys
}
