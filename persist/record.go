package persist

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Records are stored as a version byte followed by fields appended in a fixed
// order: strings and byte slices with a uvarint length, times as 8 bytes of
// big-endian Unix nanoseconds (0 for the zero time).

const recordVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(nanos(t)))
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// reader decodes a record. The first malformed field sets bad; later reads
// return zero values, and done reports the failure once.
type reader struct {
	b   []byte
	bad bool
}

func newReader(b []byte) *reader {
	r := &reader{b: b}
	if r.byte() != recordVersion {
		r.bad = true
	}
	return r
}

func (r *reader) take(n uint64) []byte {
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) length() uint64 {
	if r.bad {
		return 0
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return n
}

// bytes returns a copy, so it outlives the transaction.
func (r *reader) bytes() []byte {
	return append([]byte(nil), r.take(r.length())...)
}

func (r *reader) string() string {
	return string(r.take(r.length()))
}

func (r *reader) time() time.Time {
	v := r.take(8)
	if v == nil {
		return time.Time{}
	}
	return fromNanos(int64(binary.BigEndian.Uint64(v)))
}

// done reports a malformed or over-long record as ErrCorrupt.
func (r *reader) done(kind string) error {
	if r.bad || len(r.b) != 0 {
		return corruptRecord(kind)
	}
	return nil
}

func corruptRecord(kind string) error {
	return fmt.Errorf("%w: malformed %s record", ErrCorrupt, kind)
}
