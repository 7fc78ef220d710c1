package broker

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/stompd/stompd/stomp"
)

// message is one published message. It is immutable once built and shared by
// every delivery: the body and the encoded common headers exist once, however
// many subscribers receive it; a delivery adds only its own subscription,
// message-id, ack and redelivered lines.
//
// It keeps the frame once, in the form most subscribers read: that of a
// STOMP 1.2 MESSAGE, so that a 1.2 delivery of a message without a place in
// a history copies it as it is; a subscriber of another version, or a
// numbered message, has its common part encoded on first use.
type message struct {
	id       uint64
	dest     string
	kind     destKind
	frame    []byte                              // the STOMP 1.2 MESSAGE from its destination line to the body's NUL, owned
	body     []byte                              // the end of frame: the body followed by the NUL that ends the frame
	destEnd  int                                 // where the destination line ends in frame
	head     int                                 // where the sender's own headers, passed on, start in frame
	accepted time.Time                           // when the SEND was accepted (monotonic), for latency
	wireSize int                                 // see size
	heap     int                                 // what it holds in the heap, see messageCost
	enc      [stomp.V12 - stomp.V10 + 1]encoding // by version, from V10
	text     atomic.Int32                        // 0 not known yet, 1 valid UTF-8, 2 not
	ref      string                              // a shared queue's name for it (see QueueReader.Settle); "" for any other
	journal  *journaled                          // a persistent message's place in the Journal; nil for any other
	offset   uint64                              // its place in its topic's history, 0 when not numbered
	epoch    string                              // the history's epoch, with offset
	at       int64                               // when the history took it, Unix nanoseconds (Options.Now)
}

// number gives m, not yet shared, its place in a topic's history: its
// MESSAGE then carries x-stream-offset and x-stream-epoch.
func (m *message) number(epoch string, offset uint64, at time.Time) {
	m.epoch, m.offset, m.at = epoch, offset, at.UnixNano()
	m.wireSize += len(streamOffsetHeader) + len(streamEpochHeader) + len(epoch) + 24
}

// encoding is the common part of the MESSAGE frame for one protocol version,
// from the destination header to the blank line before the body. A user
// destination's MESSAGE names the destination as its subscriber subscribed
// to it (/user/<dest>, as Spring does), so that header is the
// subscription's, not common.
type encoding struct {
	once sync.Once
	b    []byte
}

// newMessage copies what a MESSAGE needs of the SEND frame f, which the
// decoder will reuse, into one owned buffer, as a STOMP 1.2 MESSAGE.
func newMessage(f *stomp.Frame, dest string, kind destKind, id uint64, now time.Time) *message {
	b := make([]byte, 0, frameLen(f, dest))
	b = stomp.AppendHeaderString(b, stomp.MESSAGE, "destination", dest, stomp.V12)
	m := &message{id: id, dest: dest, kind: kind, destEnd: len(b), accepted: now}
	b = stomp.AppendContentLength(b, len(f.Body))
	m.head = len(b)
	for _, h := range f.Headers {
		if passHeader(h.Key) {
			b = stomp.AppendHeader(b, stomp.MESSAGE, h.Key, h.Value, stomp.V12)
		}
	}
	b = slices.Grow(b, len(f.Body)+2) // escaped headers may have taken the room
	b = stomp.AppendBody(b, f.Body)
	m.frame, m.body = b, b[len(b)-len(f.Body)-1:]
	m.wireSize = 96 + len(m.dest) + m.headersSize() + len(m.body)
	m.heap = messageCost(m)
	return m
}

// frameLen is the length of the frame newMessage keeps of f to dest when
// no header needs escaping.
func frameLen(f *stomp.Frame, dest string) int {
	var digits [20]byte
	n := len("destination:\ncontent-length:\n\n") + len(dest) + len(strconv.AppendInt(digits[:0], int64(len(f.Body)), 10)) + len(f.Body) + 1
	for _, h := range f.Headers {
		if passHeader(h.Key) {
			n += len(h.Key) + len(h.Value) + 2
		}
	}
	return n
}

// passHeader reports whether a SEND header is passed on to the MESSAGE.
// Credentials, receipt and transaction never are; the headers the broker
// sets itself (x-stream-* among them) are replaced, and x-recovered, which
// only a RECEIPT carries, is dropped, so that a sender cannot forge them.
func passHeader(key []byte) bool {
	switch string(key) {
	case "destination", "content-length", "receipt", "transaction",
		"message-id", "subscription", "ack", "redelivered", recoveredHeader:
		return false
	}
	if bytes.HasPrefix(key, []byte(streamHeaderPrefix)) {
		return false
	}
	for _, secret := range [...]string{headerAuthorizationLower, headerLogin, headerPasscode} {
		if len(key) == len(secret) && bytes.EqualFold(key, []byte(secret)) {
			return false
		}
	}
	return true
}

// common returns the common part of the MESSAGE frame under version v:
// that of frame for STOMP 1.2, unless m is numbered; otherwise encoded on
// first use.
func (m *message) common(v stomp.Version) []byte {
	if v == stomp.V12 && m.offset == 0 {
		return m.frame[m.commonStart() : len(m.frame)-len(m.body)]
	}
	e := &m.enc[v-stomp.V10]
	e.once.Do(func() { e.b = m.encode(v) })
	return e.b
}

// commonStart is where the common part starts in frame: after the
// destination line for a user destination, whose subscription names it.
func (m *message) commonStart() int {
	if m.kind == kindUser {
		return m.destEnd
	}
	return 0
}

func (m *message) encode(v stomp.Version) []byte {
	b := make([]byte, 0, 64+len(m.epoch)+len(m.frame)-len(m.body))
	b = stomp.AppendHeaderLines(b, stomp.MESSAGE, m.frame[m.commonStart():m.head], v)
	if m.offset != 0 {
		b = appendStreamHeaders(b, m.epoch, m.offset)
	}
	b = stomp.AppendHeaderLines(b, stomp.MESSAGE, m.lines(), v)
	return append(b, '\n')
}

// lines returns the sender's own headers passed on, as STOMP 1.2 header
// lines.
func (m *message) lines() []byte { return m.frame[m.head : len(m.frame)-len(m.body)-1] }

// headersSize is the length of the sender's own headers on the wire.
func (m *message) headersSize() int { return len(m.lines()) }

// size estimates the bytes one delivery of m puts on the wire. A message
// does not change once made, so the estimate is made once, in newMessage:
// it is asked for several times per delivery.
func (m *message) size() int { return m.wireSize }

// isText reports whether the frame under version v is valid UTF-8 apart from
// its per-delivery lines, so that it can go out as a WebSocket text message.
func (m *message) isText(v stomp.Version) bool {
	switch m.text.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	ok := utf8.Valid(m.common(v)) && utf8.Valid(m.body[:len(m.body)-1])
	state := int32(2)
	if ok {
		state = 1
	}
	m.text.Store(state)
	return ok
}
