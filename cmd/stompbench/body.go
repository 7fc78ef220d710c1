package main

import "hash/crc32"

// A message body is fixed-width lowercase hex text, so that it survives any
// broker and any WebSocket frame type:
//
//	[0,8)   stream id (the publishing stream)
//	[8,24)  sequence number within the stream, from 0
//	[24,40) send time, nanoseconds since the run's start (monotonic clock)
//	[40,48) CRC-32C of the padding followed by bytes [0,40)
//	[48,)   padding up to -size bytes
//
// The checksum covers the padding first so that a publisher computes the
// padding's part once and only the 40 header bytes per message.
const (
	offStream     = 0
	offSeq        = 8
	offTime       = 24
	offSum        = 40
	bodyHeaderLen = 48
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const hexDigits = "0123456789abcdef"

// stamp identifies one message.
type stamp struct {
	stream uint32
	seq    uint64
	sent   int64 // ns since the run's start
}

// bodyWriter fills message bodies of one size.
type bodyWriter struct {
	padSum uint32
}

// newBody returns a body of size bytes with its padding filled in, and the
// writer that stamps it. size must be at least bodyHeaderLen.
func newBody(size int) ([]byte, bodyWriter) {
	b := make([]byte, size)
	for i := bodyHeaderLen; i < size; i++ {
		b[i] = 'a' + byte(i%26)
	}
	return b, bodyWriter{padSum: crc32.Checksum(b[bodyHeaderLen:], castagnoli)}
}

// write stamps s into body, whose padding must be the one newBody made.
func (w bodyWriter) write(body []byte, s stamp) {
	putHex(body[offStream:offSeq], uint64(s.stream))
	putHex(body[offSeq:offTime], s.seq)
	putHex(body[offTime:offSum], uint64(s.sent))
	sum := crc32.Update(w.padSum, castagnoli, body[:offSum])
	putHex(body[offSum:bodyHeaderLen], uint64(sum))
}

// readBody checks a received body of the expected size and returns its
// stamp; ok is false when the body is corrupt.
func readBody(body []byte, size int) (s stamp, ok bool) {
	if len(body) != size {
		return s, false
	}
	sum := crc32.Update(crc32.Checksum(body[bodyHeaderLen:], castagnoli), castagnoli, body[:offSum])
	want, ok1 := parseHex(body[offSum:bodyHeaderLen])
	stream, ok2 := parseHex(body[offStream:offSeq])
	seq, ok3 := parseHex(body[offSeq:offTime])
	sent, ok4 := parseHex(body[offTime:offSum])
	if !ok1 || !ok2 || !ok3 || !ok4 || uint64(sum) != want {
		return s, false
	}
	return stamp{stream: uint32(stream), seq: seq, sent: int64(sent)}, true
}

// putHex writes v into dst as len(dst) hex digits, most significant first.
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&15]
		v >>= 4
	}
}

// hexValues maps a lowercase hex digit to its value, anything else to 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(hexDigits) {
		t[hexDigits[i]] = byte(i)
	}
	return t
}()

// parseHex reads lowercase hex digits; ok is false on any other byte.
func parseHex(src []byte) (v uint64, ok bool) {
	for _, c := range src {
		d := hexValues[c]
		if d == 0xff {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}
