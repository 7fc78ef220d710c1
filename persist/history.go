package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// History is a topic's history as a broker hands it over at a graceful
// shutdown: its destination, epoch, latest offset and the messages it
// keeps, oldest first. The store keeps the bytes as they are.
type History struct {
	Dest, Epoch string
	Last        uint64
	Entries     []HistoryEntry
}

// HistoryEntry is one message of a History.
type HistoryEntry struct {
	Offset uint64
	At     time.Time
	Msg    []byte
}

// bHistories holds the histories saved at shutdown until the next start
// takes them: destination -> encoded History. It is created by the first
// SaveHistories, so that stores made before it existed open unchanged.
var bHistories = []byte("histories")

// errBadHistory says that a saved history does not decode.
var errBadHistory = errors.New("persist: malformed saved history")

// SaveHistories replaces the saved histories with hs, in one transaction.
func (s *Store) SaveHistories(hs []History) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bHistories) != nil {
			if err := tx.DeleteBucket(bHistories); err != nil {
				return err
			}
		}
		b, err := tx.CreateBucket(bHistories)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if err := b.Put([]byte(h.Dest), h.encode()); err != nil {
				return fmt.Errorf("persist: save the history of %q: %w", h.Dest, err)
			}
		}
		return nil
	})
}

// TakeHistories returns the saved histories, ordered by destination, and
// deletes them in the same transaction: a start takes them once, and a
// process killed afterwards leaves none for the next.
func (s *Store) TakeHistories() (hs []History, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHistories)
		if b == nil {
			return nil
		}
		err := b.ForEach(func(k, v []byte) error {
			h, err := decodeHistory(string(k), v)
			if err != nil {
				return fmt.Errorf("%w of %q", err, k)
			}
			hs = append(hs, h)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.DeleteBucket(bHistories)
	})
	return hs, err
}

// encode lays h out as: epoch, last, then per entry offset, at and message;
// strings and messages are prefixed with their length, numbers are
// varints. The destination is the key.
func (h *History) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(h.Epoch)))
	b = append(b, h.Epoch...)
	b = binary.AppendUvarint(b, h.Last)
	b = binary.AppendUvarint(b, uint64(len(h.Entries)))
	for _, e := range h.Entries {
		b = binary.AppendUvarint(b, e.Offset)
		b = binary.AppendVarint(b, e.At.UnixNano())
		b = binary.AppendUvarint(b, uint64(len(e.Msg)))
		b = append(b, e.Msg...)
	}
	return b
}

func decodeHistory(dest string, v []byte) (History, error) {
	d := historyDecoder{b: v}
	h := History{Dest: dest, Epoch: string(d.bytes()), Last: d.uvarint()}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := HistoryEntry{Offset: d.uvarint(), At: fromNanos(d.varint())}
		e.Msg = d.bytes()
		h.Entries = append(h.Entries, e)
	}
	if d.err != nil || len(d.b) != 0 {
		return History{}, errBadHistory
	}
	return h, nil
}

// historyDecoder reads what encode wrote, remembering the first error.
type historyDecoder struct {
	b   []byte
	err error
}

func (d *historyDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errBadHistory, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads what binary.AppendVarint wrote: a zig-zag encoded uvarint.
func (d *historyDecoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// bytes returns a copy of the next length-prefixed bytes.
func (d *historyDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadHistory, nil
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}
