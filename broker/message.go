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
// ack and redelivered lines.
//
// It keeps its frame once, in one buffer, in the form a STOMP 1.2
// subscriber reads, which is every version's when no header needed
// escaping: the destination, message-id and content-length lines, the
// sender's own headers, the stream headers of a numbered message, the
// blank line and the body. The message-id line is the same for every
// subscriber, so it is formatted once per message rather than once per
// delivery; between nodes it is left out (see appendFrame). A delivery sends that part of it as it is; only a version whose
// form differs, or stream headers that did not fit the room kept for them,
// make a copy (see common).
type message struct {
	id       uint64
	dest     string
	kind     destKind
	plain    bool                      // no header needed escaping: frame's common part is every version's
	shared   bool                      // frame holds the common part: m is not numbered or its stream headers fit
	text     atomic.Int32              // 0 not known yet, 1 valid UTF-8, 2 not
	destEnd  int32                     // where the destination line ends in frame; the message-id line follows
	head     int32                     // where the sender's own headers, passed on, start in frame
	linesEnd int32                     // and where they end
	end      int32                     // where the common part ends in frame, after the blank line
	frame    []byte                    // see above; from end to body, room for stream headers
	body     []byte                    // the end of frame: the body followed by the NUL that ends the frame
	accepted time.Time                 // when the SEND was accepted (monotonic), for latency
	heap     int                       // what it holds in the heap, see messageCost
	enc      atomic.Pointer[encodings] // made on first use, where frame's common part does not serve
	ref      string                    // a shared queue's name for it (see QueueReader.Settle); "" for any other
	journal  *journaled                // a persistent message's place in the Journal; nil for any other
	offset   uint64                    // its place in its topic's history, 0 when not numbered
	epoch    string                    // the history's epoch, with offset
	at       int64                     // when the history took it, Unix nanoseconds (Options.Now)
}

// streamRoom is the room newMessage keeps for the stream headers of a
// message a history will number: enough for an epoch of 16 characters, as
// newEpoch and the cluster's streams make them, and a 20-digit offset.
const streamRoom = len(streamOffsetHeader+":\n"+streamEpochHeader+":\n") + 16 + 20

// number gives m, not yet shared, its place in a topic's history: its
// MESSAGE then carries x-stream-offset and x-stream-epoch, after the
// sender's headers, written into frame when they fit the room there.
func (m *message) number(epoch string, offset uint64, at time.Time) {
	m.epoch, m.offset, m.at = epoch, offset, at.UnixNano()
	room := m.frame[m.linesEnd : len(m.frame)-len(m.body)] // the blank line, then the room
	n := streamHeadersLen(epoch, offset)
	if m.shared = n < len(room); m.shared {
		appendStreamHeaders(room[:0], epoch, offset)
		room[n] = '\n'
		m.end = m.linesEnd + int32(n) + 1
	}
}

// streamHeadersLen is the length of what appendStreamHeaders appends.
func streamHeadersLen(epoch string, offset uint64) int {
	var digits [20]byte
	return len(streamOffsetHeader+":\n"+streamEpochHeader+":\n") + len(epoch) + len(strconv.AppendUint(digits[:0], offset, 10))
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

// encodings are a message's encodings by version, from V10.
type encodings [stomp.V12 - stomp.V10 + 1]encoding

// newMessage copies what a MESSAGE needs of the SEND frame f, which the
// decoder will reuse, into one owned buffer, with no room for stream
// headers: a history that numbers it makes a copy of its common part.
func newMessage(f *stomp.Frame, dest string, kind destKind, id uint64, now time.Time) *message {
	return newMessageFor(f, dest, kind, id, now, false)
}

// newMessageFor is newMessage keeping room for stream headers when a
// history will number the message.
func newMessageFor(f *stomp.Frame, dest string, kind destKind, id uint64, now time.Time, numbered bool) *message {
	m := &message{id: id, dest: dest, kind: kind, shared: true, accepted: now}
	room := 0
	if numbered {
		room = streamRoom
	}
	m.keep(f, room)
	m.heap = messageCost(m)
	return m
}

// keep makes frame, with room bytes for stream headers before the body.
func (m *message) keep(f *stomp.Frame, room int) {
	b := make([]byte, 0, frameLen(f, m.dest, m.id)+room)
	b = stomp.AppendHeaderString(b, stomp.MESSAGE, "destination", m.dest, stomp.V12)
	m.destEnd = int32(len(b))
	b = append(b, "message-id:"...)
	b = appendUint(b, m.id)
	b = append(b, '\n')
	b = stomp.AppendContentLength(b, len(f.Body))
	m.head = int32(len(b))
	for _, h := range f.Headers {
		if passHeader(h.Key) {
			b = stomp.AppendHeader(b, stomp.MESSAGE, h.Key, h.Value, stomp.V12)
		}
	}
	m.linesEnd, m.end = int32(len(b)), int32(len(b)+1)
	m.plain = bytes.IndexByte(b, '\\') < 0
	b = slices.Grow(b, 1+room+len(f.Body)+1) // escaped headers may have taken the room
	b = append(b[:len(b)+1+room], f.Body...)
	b = append(b, 0)
	b[m.linesEnd] = '\n'
	m.frame, m.body = b, b[len(b)-len(f.Body)-1:]
}

// frameLen is the length of the frame newMessage keeps of f to dest as
// message id, with no room, when no header needs escaping.
func frameLen(f *stomp.Frame, dest string, id uint64) int {
	var digits [20]byte
	n := len("destination:\ncontent-length:\n\n") + len(dest) + len(strconv.AppendInt(digits[:0], int64(len(f.Body)), 10)) + len(f.Body) + 1 + idLineLen(id)
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
// frame's, when it holds it and v reads it so; otherwise encoded on first
// use.
func (m *message) common(v stomp.Version) []byte {
	if m.shared && (v == stomp.V12 || m.plain) {
		return m.frame[m.commonStart():m.end]
	}
	e := &m.encodings()[v-stomp.V10]
	e.once.Do(func() { e.b = m.encode(v) })
	return e.b
}

// encodings returns m's encodings, making them on first use.
func (m *message) encodings() *encodings {
	if e := m.enc.Load(); e != nil {
		return e
	}
	m.enc.CompareAndSwap(nil, new(encodings))
	return m.enc.Load()
}

// encodes reports whether a delivery may encode m's common part anew: for
// some version, frame's does not serve.
func (m *message) encodes() bool { return !m.shared || !m.plain }

// commonStart is where the common part starts in frame: after the
// destination line for a user destination, whose subscription names it.
func (m *message) commonStart() int32 {
	if m.kind == kindUser {
		return m.destEnd
	}
	return 0
}

func (m *message) encode(v stomp.Version) []byte {
	b := make([]byte, 0, m.encodingSize())
	b = stomp.AppendHeaderLines(b, stomp.MESSAGE, m.frame[m.commonStart():m.linesEnd], v)
	if m.offset != 0 {
		b = appendStreamHeaders(b, m.epoch, m.offset)
	}
	return append(b, '\n')
}

// encodingSize bounds the length of m's common part under any version:
// 1.0 and 1.1 write no more than 1.2, and stream headers take less than 64
// bytes besides the epoch.
func (m *message) encodingSize() int { return 64 + len(m.epoch) + int(m.linesEnd) }

// appendFrame appends m as a frame of command c in STOMP 1.2, without
// message-id and stream headers: a message between nodes, where the
// receiving node gives it its own message-id.
func (m *message) appendFrame(dst []byte, c stomp.Command) []byte {
	dst = stomp.AppendCommand(dst, c)
	dst = append(dst, m.frame[:m.destEnd]...)
	dst = append(dst, m.frame[m.idEnd():m.linesEnd]...)
	return stomp.AppendBody(dst, m.body[:len(m.body)-1])
}

// frameSize is the length of what appendFrame appends, but for the
// command line.
func (m *message) frameSize() int {
	return int(m.destEnd+m.linesEnd-m.idEnd()) + 1 + len(m.body)
}

// idEnd is where the message-id line ends in frame. It is computed rather
// than kept: a field would take every message a size class more.
func (m *message) idEnd() int32 { return m.destEnd + int32(idLineLen(m.id)) }

// idLineLen is the length of the message-id line of message id.
func idLineLen(id uint64) int {
	n := len("message-id:\n") + 1
	for ; id >= 10; id /= 10 {
		n++
	}
	return n
}

// headersSize is the length of the sender's own headers on the wire.
func (m *message) headersSize() int { return int(m.linesEnd - m.head) }

// size estimates the bytes one delivery of m puts on the wire. It is asked
// for several times per delivery, and takes a few additions: a field to
// keep it would take a size class more of every message.
func (m *message) size() int {
	n := 96 + len(m.dest) + m.headersSize() + len(m.body)
	if m.offset != 0 {
		n += len(streamOffsetHeader) + len(streamEpochHeader) + len(m.epoch) + 24
	}
	return n
}

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
