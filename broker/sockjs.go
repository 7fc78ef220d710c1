package broker

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// SockJS framing (sockjs-protocol 0.3.3): the server opens with "o", sends
// frames as a JSON array of strings after "a", and ends with "c" and a JSON
// [code, reason] pair.
var (
	sockjsOpen  = []byte("o")
	sockjsClose = []byte(`c[3000,"Go away!"]`)
)

// sockjsChunk is how many bytes of a frame are JSON-escaped at a time, and
// how much escaped text is gathered before it is handed to the socket; the
// escape buffer so stays under a few times this size, whatever the frame.
const sockjsChunk = 4096

// SockJS returns a handler for the SockJS protocol's WebSocket transport,
// so that browser code using sockjs-client with @stomp/stompjs works
// unchanged. Mount it under the SockJS base URL with the prefix stripped,
// for example
//
//	mux.Handle("/ws/", http.StripPrefix("/ws", b.SockJS()))
//
// for new SockJS("https://host/ws?ticket=..."). It serves
//
//   - GET /info, the capabilities a client asks for first (WebSocket yes,
//     cookies no), never cached; OPTIONS /info answers 204. CORS headers are
//     the business of a wrapping middleware. No ticket is needed or
//     consumed here.
//   - GET /<server>/<session>/websocket, the WebSocket transport: the Origin
//     and the UpgradeAuthenticator are checked (the ticket stays in the
//     query string of every SockJS URL) and the connection counted against
//     the limits, exactly as ServeHTTP does, before the upgrade. Server and
//     session are any non-empty path segments without dots.
//
// The other SockJS transports (xhr-streaming, xhr-polling, eventsource,
// htmlfile, iframe, jsonp) and the raw /websocket endpoint are not served:
// they answer 404, so clients must be configured with
// transports: ['websocket']. Every SockJS session is one WebSocket, its
// messages the STOMP byte stream in SockJS framing; there are no SockJS "h"
// heart-beats, STOMP heart-beats keep the socket alive instead.
func (b *Broker) SockJS() http.Handler {
	return http.HandlerFunc(b.serveSockJS)
}

func (b *Broker) serveSockJS(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/info":
		serveSockJSInfo(w, r)
	case isSockJSWebSocketPath(r.URL.Path):
		b.serveSockJSWebSocket(w, r)
	default:
		refuse(w, http.StatusNotFound, "not_found", "not a SockJS endpoint stompd serves: use /info and the websocket transport")
	}
}

// isSockJSWebSocketPath reports whether p is /<server>/<session>/websocket
// with non-empty server and session segments free of dots.
func isSockJSWebSocketPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return false
	}
	server, rest, _ := strings.Cut(rest, "/")
	session, rest, _ := strings.Cut(rest, "/")
	return rest == "websocket" && sockjsSegment(server) && sockjsSegment(session)
}

func sockjsSegment(s string) bool {
	return s != "" && !strings.Contains(s, ".")
}

// serveSockJSInfo answers /info. The entropy seeds the client's random
// number generator (session ids); origins is fixed by the protocol and
// ignored by clients, the allow-list being enforced by the server.
func serveSockJSInfo(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Cache-Control", "public, max-age=31536000")
		h.Set("Expires", time.Now().Add(365*24*time.Hour).UTC().Format(http.TimeFormat))
		h.Set("Allow", "OPTIONS, GET")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "OPTIONS, GET")
		refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "/info answers GET and OPTIONS")
		return
	}
	var e [4]byte
	rand.Read(e[:])
	body := append([]byte(`{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":`),
		strconv.FormatUint(uint64(binary.LittleEndian.Uint32(e[:])), 10)...)
	body = append(body, '}')
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// serveSockJSWebSocket starts one SockJS session over a WebSocket, on a
// goroutine of its own, as ServeHTTP does, with the same checks and
// refusals.
func (b *Broker) serveSockJSWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "a WebSocket handshake is a GET")
		return
	}
	remote := b.o.ClientAddress(r)
	ws, out, subject, ok := b.acceptUpgrade(w, r, remote)
	if !ok {
		return
	}
	ws.SetWriteDeadline(time.Now().Add(b.o.WriteTimeout))
	if err := ws.WriteMessage(websocket.TextMessage, sockjsOpen); err != nil {
		b.release(remote)
		ws.Close()
		b.log.Debug("sockjs open frame failed", "remote", remote, "err", err)
		return
	}
	t := &sockjsTransport{wsTransport: wsTransport{ws: ws, out: out}}
	c := b.newConn(t, transportWebSocket, remote, subject)
	c.textOnly = true
	if !b.track(c) {
		ws.Close()
		return
	}
	go c.serve()
}

// sockjsTransport is STOMP over the SockJS WebSocket transport. In, each
// message is a JSON array of strings (or one JSON string) whose decoded
// bytes are one stream, as over a plain WebSocket; an empty message is
// ignored, a malformed one ends the connection. Messages are decoded in
// pieces as they are read, so their size needs no bound of its own: the
// STOMP decoder's limits apply to what they carry. Out, a batch is one "a"
// message with one JSON string per frame, written in pieces so that a large
// frame is never escaped whole into memory.
//
// SockJS carries text only: the writer skips the messages that are not
// valid UTF-8 before they reach the transport (see keepText). Any other
// invalid UTF-8 in a frame (a RECEIPT or ERROR echoing this client's own
// bytes, its own subscription id) is written with those bytes replaced by
// U+FFFD.
//
// It embeds wsTransport for the socket, the read buffer and the message
// reader; every transport method is its own.
type sockjsTransport struct {
	wsTransport
	dec  sockjsDecoder
	out  []byte // a read's decoded bytes
	feed func([]byte) bool
	err  error // why decoding stopped

	w    io.WriteCloser // the "a" message being written, nil between messages
	pbuf []byte         // a delivery's own lines
}

func (t *sockjsTransport) read(feed func([]byte) bool) error {
	t.feed = feed
	unframe := t.unframe
	for {
		_, r, err := t.ws.NextReader()
		if err != nil {
			return err
		}
		more, err := t.readMessage(r, unframe)
		if t.err != nil {
			return t.err
		}
		if !more || err != nil {
			return err
		}
		if err := t.dec.finish(); err != nil {
			return err
		}
	}
}

// unframe decodes a piece of a message and feeds what it holds of the
// STOMP stream.
func (t *sockjsTransport) unframe(p []byte) bool {
	t.out, t.err = t.dec.decode(t.out[:0], p)
	if t.err != nil {
		return false
	}
	return len(t.out) == 0 || t.feed(t.out)
}

func (t *sockjsTransport) writeBatch(c *conn, batch []outItem, deadline time.Time) error {
	if err := t.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	for i := range batch {
		if err := t.writeFrame(t.parts(c, &batch[i])); err != nil {
			return err
		}
	}
	return t.endMessage()
}

// parts returns the pieces of the frame it.
func (t *sockjsTransport) parts(c *conn, it *outItem) [3][]byte {
	if it.msg == nil {
		return [3][]byte{it.raw}
	}
	t.pbuf = c.appendPrefix(t.pbuf[:0], it)
	return [3][]byte{t.pbuf, it.msg.common(c.version), it.msg.body}
}

// writeFrame adds one frame, made of parts, to the "a" message, starting
// the message if needed.
func (t *sockjsTransport) writeFrame(parts [3][]byte) error {
	if t.w == nil {
		w, err := t.ws.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		t.w = w
		t.wbuf = append(t.wbuf[:0], "a[\""...)
	} else {
		t.wbuf = append(t.wbuf, ",\""...)
	}
	for _, p := range parts {
		for len(p) > 0 {
			n := runeCut(p, sockjsChunk)
			t.wbuf = appendJSONText(t.wbuf, p[:n])
			p = p[n:]
			if len(t.wbuf) >= sockjsChunk {
				if err := t.spill(); err != nil {
					return err
				}
			}
		}
	}
	t.wbuf = append(t.wbuf, '"')
	return nil
}

// spill hands the escaped text gathered so far to the message writer.
func (t *sockjsTransport) spill() error {
	_, err := t.w.Write(t.wbuf)
	t.wbuf = t.wbuf[:0]
	return err
}

// endMessage closes the "a" message, if one was started.
func (t *sockjsTransport) endMessage() error {
	if t.w == nil {
		return nil
	}
	t.wbuf = append(t.wbuf, ']')
	err := t.spill()
	if cerr := t.w.Close(); err == nil {
		err = cerr
	}
	t.w = nil
	return err
}

func (t *sockjsTransport) writeRaw(b []byte, deadline time.Time) error {
	if err := t.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := t.writeFrame([3][]byte{b}); err != nil {
		return err
	}
	return t.endMessage()
}

// close sends the SockJS close frame and a WebSocket close message first
// when graceful.
func (t *sockjsTransport) close(graceful bool) error {
	if graceful {
		deadline := time.Now().Add(wsCloseGrace)
		t.ws.SetWriteDeadline(deadline)
		if t.ws.WriteMessage(websocket.TextMessage, sockjsClose) == nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			t.ws.WriteControl(websocket.CloseMessage, msg, deadline)
		}
	}
	return t.ws.Close()
}

// runeCut returns n, or less so as not to split a UTF-8 sequence, or
// len(p) when p is shorter.
func runeCut(p []byte, n int) int {
	if n >= len(p) {
		return len(p)
	}
	for k := n; k > n-utf8.UTFMax && k > 0; k-- {
		if utf8.RuneStart(p[k]) {
			return k
		}
	}
	return n
}

const hexDigits = "0123456789abcdef"

// appendJSONText appends s escaped as the inside of a JSON string: quote,
// backslash and control characters, and the characters sockjs-protocol
// asks servers to escape because browsers mangle them (U+200C–U+200F,
// U+2028–U+202F, U+2060–U+206F, U+FFF0–U+FFFF). Bytes that are not valid
// UTF-8 become \ufffd.
func appendJSONText(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError || sockjsEscapes(r) {
			dst = append(dst, s[start:i]...)
			dst = appendUnicodeEscape(dst, r)
			start = i + n
		}
		i += n
	}
	return append(dst, s[start:]...)
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return appendUnicodeEscape(dst, rune(c))
}

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func sockjsEscapes(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x2028 && r <= 0x202f ||
		r >= 0x2060 && r <= 0x206f || r >= 0xfff0 && r <= 0xffff
}

// sockjsDecoder is an incremental decoder of the SockJS messages a client
// sends: a JSON array of strings, or one JSON string, surrounded by any
// JSON whitespace. It is fed a message's bytes in pieces and appends the
// strings' decoded bytes; a \u escape of a lone surrogate decodes to
// U+FFFD, as JavaScript strings may hold one and UTF-8 cannot. Raw bytes
// inside a string are passed on as they are.
type sockjsDecoder struct {
	state jsonState
	bare  bool // the message is one string, not an array
	hex   int  // digits of the \u escape read so far
	r     rune // the \u escape's value so far
	high  rune // a high surrogate waiting for its low half
}

type jsonState uint8

const (
	jsonStart        jsonState = iota // before the message's value
	jsonArray                         // after '[': a string or ']'
	jsonElem                          // after ',': a string
	jsonNext                          // after an element: ',' or ']'
	jsonEnd                           // after the value: whitespace only
	jsonString                        // inside a string
	jsonEscape                        // after '\'
	jsonHex                           // inside \uXXXX
	jsonAfterHigh                     // after a high surrogate: '\' may start its low half
	jsonAfterHighEsc                  // after a high surrogate and '\': 'u' continues it
)

// decode appends to dst the decoded bytes of p, the next piece of a
// message.
func (d *sockjsDecoder) decode(dst, p []byte) ([]byte, error) {
	for len(p) > 0 {
		var n int
		var err error
		if d.state >= jsonString {
			n, dst, err = d.inString(dst, p)
		} else {
			n, err = d.outside(p[0])
		}
		if err != nil {
			return dst, err
		}
		p = p[n:]
	}
	return dst, nil
}

// outside consumes one byte between the strings of a message.
func (d *sockjsDecoder) outside(c byte) (int, error) {
	if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
		return 1, nil
	}
	switch {
	case d.state == jsonStart && c == '[':
		d.state = jsonArray
	case d.state == jsonStart && c == '"':
		d.state, d.bare = jsonString, true
	case (d.state == jsonArray || d.state == jsonElem) && c == '"':
		d.state = jsonString
	case (d.state == jsonArray || d.state == jsonNext) && c == ']':
		d.state = jsonEnd
	case d.state == jsonNext && c == ',':
		d.state = jsonElem
	default:
		return 0, fmt.Errorf("sockjs: malformed message: unexpected %q", c)
	}
	return 1, nil
}

// inString consumes bytes of a string: a run of plain bytes, or one byte
// of an escape. It may consume nothing after a high surrogate, having
// changed state.
func (d *sockjsDecoder) inString(dst, p []byte) (int, []byte, error) {
	c := p[0]
	switch d.state {
	case jsonEscape:
		dst, err := d.escape(dst, c)
		return 1, dst, err
	case jsonHex:
		dst, err := d.hexDigit(dst, c)
		return 1, dst, err
	case jsonAfterHigh:
		if c == '\\' {
			d.state = jsonAfterHighEsc
			return 1, dst, nil
		}
		d.state, d.high = jsonString, 0
		return 0, utf8.AppendRune(dst, utf8.RuneError), nil
	case jsonAfterHighEsc:
		if c == 'u' {
			d.state, d.hex, d.r = jsonHex, 0, 0
			return 1, dst, nil
		}
		d.state, d.high = jsonEscape, 0
		return 0, utf8.AppendRune(dst, utf8.RuneError), nil
	}
	switch {
	case c == '"':
		d.state = jsonNext
		if d.bare {
			d.state = jsonEnd
		}
		return 1, dst, nil
	case c == '\\':
		d.state = jsonEscape
		return 1, dst, nil
	case c < 0x20:
		return 0, dst, fmt.Errorf("sockjs: malformed message: control character %#x in a string", c)
	}
	n := 1
	for n < len(p) && p[n] != '"' && p[n] != '\\' && p[n] >= 0x20 {
		n++
	}
	return n, append(dst, p[:n]...), nil
}

// escape decodes the character after a backslash.
func (d *sockjsDecoder) escape(dst []byte, c byte) ([]byte, error) {
	d.state = jsonString
	switch c {
	case '"', '\\', '/':
		return append(dst, c), nil
	case 'b':
		return append(dst, '\b'), nil
	case 'f':
		return append(dst, '\f'), nil
	case 'n':
		return append(dst, '\n'), nil
	case 'r':
		return append(dst, '\r'), nil
	case 't':
		return append(dst, '\t'), nil
	case 'u':
		d.state, d.hex, d.r = jsonHex, 0, 0
		return dst, nil
	}
	return dst, fmt.Errorf("sockjs: malformed message: invalid escape \\%c", c)
}

// hexDigit takes one digit of a \u escape, and decodes the escape after
// its fourth.
func (d *sockjsDecoder) hexDigit(dst []byte, c byte) ([]byte, error) {
	v, ok := unhex(c)
	if !ok {
		return dst, fmt.Errorf("sockjs: malformed message: invalid \\u escape digit %q", c)
	}
	d.r = d.r<<4 | v
	if d.hex++; d.hex < 4 {
		return dst, nil
	}
	d.state = jsonString
	r := d.r
	if d.high != 0 {
		high := d.high
		d.high = 0
		if utf16.IsSurrogate(r) && r >= 0xdc00 {
			return utf8.AppendRune(dst, utf16.DecodeRune(high, r)), nil
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
	}
	if r >= 0xd800 && r < 0xdc00 {
		d.high, d.state = r, jsonAfterHigh
		return dst, nil
	}
	return utf8.AppendRune(dst, r), nil
}

func unhex(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// finish checks that a message ended after a complete value, or held only
// whitespace, and readies the decoder for the next one.
func (d *sockjsDecoder) finish() error {
	state := d.state
	*d = sockjsDecoder{}
	if state != jsonStart && state != jsonEnd {
		return fmt.Errorf("sockjs: malformed message: truncated JSON")
	}
	return nil
}
