package broker

import (
	"bytes"
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
type message struct {
	id       uint64
	dest     string
	kind     destKind
	headers  []stomp.Header                      // the sender's own headers passed on, owned
	body     []byte                              // the body followed by the NUL that ends the frame
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
// decoder will reuse, into one owned buffer.
func newMessage(f *stomp.Frame, dest string, kind destKind, id uint64, now time.Time) *message {
	n := len(f.Body) + 1
	kept := 0
	for _, h := range f.Headers {
		if passHeader(h.Key) {
			n += len(h.Key) + len(h.Value)
			kept++
		}
	}
	buf := make([]byte, 0, n)
	m := &message{id: id, dest: dest, kind: kind, headers: make([]stomp.Header, 0, kept), accepted: now}
	for _, h := range f.Headers {
		if passHeader(h.Key) {
			buf = append(buf, h.Key...)
			k := buf[len(buf)-len(h.Key):]
			buf = append(buf, h.Value...)
			m.headers = append(m.headers, stomp.Header{Key: k, Value: buf[len(buf)-len(h.Value):]})
		}
	}
	start := len(buf)
	buf = append(buf, f.Body...)
	m.body = append(buf, 0)[start:]
	m.wireSize = 96 + len(m.dest) + m.headersSize() + len(m.body)
	m.heap = messageCost(m, n)
	return m
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

// common returns the common part of the MESSAGE frame under version v,
// encoding it on first use.
func (m *message) common(v stomp.Version) []byte {
	e := &m.enc[v-stomp.V10]
	e.once.Do(func() { e.b = m.encode(v) })
	return e.b
}

func (m *message) encode(v stomp.Version) []byte {
	b := make([]byte, 0, 96+len(m.dest)+len(m.epoch)+m.headersSize())
	if m.kind != kindUser {
		b = stomp.AppendHeaderString(b, stomp.MESSAGE, "destination", m.dest, v)
	}
	b = append(b, "content-length:"...)
	b = strconv.AppendInt(b, int64(len(m.body)-1), 10)
	b = append(b, '\n')
	if m.offset != 0 {
		b = appendStreamHeaders(b, m.epoch, m.offset)
	}
	for _, h := range m.headers {
		b = stomp.AppendHeader(b, stomp.MESSAGE, h.Key, h.Value, v)
	}
	return append(b, '\n')
}

func (m *message) headersSize() int {
	n := 0
	for _, h := range m.headers {
		n += len(h.Key) + len(h.Value) + 2
	}
	return n
}

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
