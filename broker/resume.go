package broker

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/stompd/stompd/stomp"
)

// Headers of topic history and resume.
const (
	streamHeaderPrefix = "x-stream-"
	streamOffsetHeader = "x-stream-offset"
	streamEpochHeader  = "x-stream-epoch"
	recoveredHeader    = "x-recovered"
)

// maxEpochLen bounds the x-stream-epoch a SUBSCRIBE may carry.
const maxEpochLen = 128

// fromKind is where a resuming subscription starts (x-stream-offset).
type fromKind uint8

const (
	fromNext      fromKind = iota // only new messages, the default
	fromFirst                     // the whole history
	fromLast                      // the latest message
	fromOffset                    // every message after an offset
	fromTimestamp                 // every message since a time
)

// resume is a SUBSCRIBE's x-stream-offset and x-stream-epoch.
type resume struct {
	from   fromKind
	offset uint64 // fromOffset
	since  int64  // fromTimestamp, Unix ns
	epoch  string // "" when not given
}

// parseResume reads a SUBSCRIBE's x-stream-offset and x-stream-epoch; it
// returns nil when the frame carries neither.
func parseResume(f *stomp.Frame) (*resume, error) {
	off, hasOff := f.Get(streamOffsetHeader)
	epoch, hasEpoch := f.Get(streamEpochHeader)
	if !hasOff && !hasEpoch {
		return nil, nil
	}
	// An empty epoch is none: what a RECEIPT says of a topic that has
	// given no offset yet, on a cluster whose streams make the epoch with
	// the first message.
	r := &resume{epoch: string(epoch)}
	if len(epoch) > maxEpochLen {
		return nil, protocolErrorf("invalid %s: want at most %d characters", streamEpochHeader, maxEpochLen)
	}
	if !hasOff {
		return r, nil
	}
	if err := r.parseFrom(off); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *resume) parseFrom(v []byte) error {
	switch s := string(v); {
	case s == "next":
		r.from = fromNext
	case s == "first":
		r.from = fromFirst
	case s == "last":
		r.from = fromLast
	case bytes.HasPrefix(v, []byte("offset=")):
		n, err := strconv.ParseUint(s[len("offset="):], 10, 64)
		if err != nil {
			return badFrom(v)
		}
		r.from, r.offset = fromOffset, n
	case bytes.HasPrefix(v, []byte("timestamp=")):
		n, err := strconv.ParseUint(s[len("timestamp="):], 10, 64)
		if err != nil {
			return badFrom(v)
		}
		// A time past what Unix nanoseconds hold is simply in the future.
		r.from, r.since = fromTimestamp, math.MaxInt64
		if n <= math.MaxInt64/uint64(time.Second) {
			r.since = int64(n) * int64(time.Second)
		}
	default:
		return badFrom(v)
	}
	return nil
}

func badFrom(v []byte) error {
	return protocolErrorf("invalid %s %q: want first, last, next, offset=<n> or timestamp=<unix seconds>", streamOffsetHeader, v)
}

// histView is what a topic's history holds when a subscriber joins it.
type histView struct {
	epoch   string
	last    uint64     // the latest offset given, 0 when none was
	entries []*message // the messages kept, oldest first
	dropped int64      // when the newest message that may be lost was taken (Unix ns); math.MinInt64 for none
}

// resolve says whether r can be met in full from v, and what to replay
// then: nothing at all when it cannot. Without r (no x-stream headers) the
// subscription starts with the next message.
func (v *histView) resolve(r *resume) (recovered bool, replay []*message) {
	if r == nil {
		return true, nil
	}
	if r.epoch != "" && r.epoch != v.epoch {
		return false, nil
	}
	switch r.from {
	case fromFirst:
		return true, v.entries
	case fromLast:
		return true, v.entries[max(0, len(v.entries)-1):]
	case fromOffset:
		return v.after(r.offset)
	case fromTimestamp:
		return v.since(r.since)
	}
	return true, nil
}

// after resolves offset=n: it recovers when every message after n is kept.
func (v *histView) after(n uint64) (bool, []*message) {
	switch {
	case n == v.last:
		return true, nil
	case n > v.last || len(v.entries) == 0 || n+1 < v.entries[0].offset:
		return false, nil
	}
	return true, v.entries[n+1-v.entries[0].offset:]
}

// since resolves timestamp=t: it recovers when no message taken at or
// after t may have been lost.
func (v *histView) since(t int64) (bool, []*message) {
	if v.dropped >= t {
		return false, nil
	}
	for i, m := range v.entries {
		if m.at >= t {
			return true, v.entries[i:]
		}
	}
	return true, nil
}

// streamReceipt encodes a resuming SUBSCRIBE's RECEIPT: whether it was
// recovered, and the history's epoch and latest offset when it has one.
func (c *conn) streamReceipt(id []byte, recovered bool, epoch string, last uint64, numbered bool) []byte {
	b := make([]byte, 0, 96+len(id)+len(epoch))
	b = stomp.AppendCommand(b, stomp.RECEIPT)
	b = stomp.AppendHeader(b, stomp.RECEIPT, []byte("receipt-id"), id, c.version)
	b = append(b, recoveredHeader+":"...)
	b = strconv.AppendBool(b, recovered)
	b = append(b, '\n')
	if numbered {
		b = appendStreamHeaders(b, epoch, last)
	}
	return stomp.AppendBody(b, nil)
}

// appendStreamHeaders appends x-stream-offset and x-stream-epoch; an
// epoch holds no character that needs escaping.
func appendStreamHeaders(b []byte, epoch string, offset uint64) []byte {
	b = append(b, streamOffsetHeader+":"...)
	b = strconv.AppendUint(b, offset, 10)
	b = append(b, "\n"+streamEpochHeader+":"...)
	b = append(b, epoch...)
	return append(b, '\n')
}
