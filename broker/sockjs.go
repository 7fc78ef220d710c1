package broker

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/broker/internal/sockjs"
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
	c.textOnly, c.tls = true, b.o.ClientTLS(r)
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
// SockJS carries text only: messages that are not valid UTF-8 are never
// delivered to it (see subscription.carries). Any other
// invalid UTF-8 in a frame (a RECEIPT or ERROR echoing this client's own
// bytes, its own subscription id) is written with those bytes replaced by
// U+FFFD.
//
// It embeds wsTransport for the socket, the read buffer and the message
// reader; every transport method is its own.
type sockjsTransport struct {
	wsTransport
	dec  sockjs.Decoder
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
		if err := t.dec.Finish(); err != nil {
			return err
		}
	}
}

// unframe decodes a piece of a message and feeds what it holds of the
// STOMP stream.
func (t *sockjsTransport) unframe(p []byte) bool {
	t.out, t.err = t.dec.Decode(t.out[:0], p)
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
			n := sockjs.RuneCut(p, sockjsChunk)
			t.wbuf = sockjs.AppendText(t.wbuf, p[:n])
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
