package broker

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// subprotocols are the WebSocket subprotocols the broker speaks, preferred
// first.
var subprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

// WebSocket buffer sizes: small, since frames are read and written in
// pieces; write buffers are pooled so idle connections hold none. The read
// buffer is the reader batchHijacker hands gorilla.
const (
	wsReadBufferSize  = 512
	wsWriteBufferSize = 4096
	wsHandshakeTime   = 5 * time.Second
	wsCloseGrace      = time.Second
)

func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: wsHandshakeTime,
		ReadBufferSize:   0, // gorilla reads through batchHijacker's reader
		WriteBufferSize:  wsWriteBufferSize,
		WriteBufferPool:  &sync.Pool{},
		Subprotocols:     subprotocols,
		// The Origin is checked before the upgrade, with a 403 answer.
		CheckOrigin: func(*http.Request) bool { return true },
		Error:       gorillaRefusal,
	}
}

// ServeHTTP upgrades a WebSocket request (mount it at /ws) and serves STOMP
// over it. The handshake, the Origin, the connection limits and the
// UpgradeAuthenticator are checked first, and a refusal is answered with
// an HTTP status and a JSON body {"error", "message"} before any upgrade.
// It returns once the connection is upgraded: the session runs on a
// goroutine of its own, so that the HTTP server's buffers, request and
// deep stack are released rather than held for the connection's life.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote := b.o.ClientAddress(r)
	ws, out, subject, ok := b.acceptUpgrade(w, r, remote)
	if !ok {
		return
	}
	c := b.newConn(newWSTransport(ws, out, b.o.WriteTimeout), transportWebSocket, remote, subject)
	c.tls = b.o.ClientTLS(r)
	if !b.track(c) {
		ws.Close()
		return
	}
	go c.serve()
}

// acceptUpgrade checks that r is a WebSocket handshake gorilla will
// upgrade (checkHandshake), from an allowed Origin, reserves a connection
// slot for the client address remote, runs the UpgradeAuthenticator and
// upgrades, answering a refusal as ServeHTTP says. The ticket is thus
// spent only by a request that is then upgraded. On success the caller
// owns the slot and the socket, and out is the batching socket under it.
func (b *Broker) acceptUpgrade(w http.ResponseWriter, r *http.Request, remote string) (ws *websocket.Conn, out *batchConn, subject string, ok bool) {
	if e := checkHandshake(r); e != nil {
		e.write(w)
		return nil, nil, "", false
	}
	if !b.checkOrigin(r) {
		refuse(w, http.StatusForbidden, "origin_not_allowed", "origin not allowed")
		return nil, nil, "", false
	}
	// The slot is reserved before the UpgradeAuthenticator runs, so that a
	// refusal for the connection limit does not spend the client's ticket.
	if e := b.admit(remote); e != nil {
		e.write(w)
		return nil, nil, "", false
	}
	// The ticket is spent here. A client that writes its first WebSocket
	// frame together with the handshake, before the 101, loses it all the
	// same: those bytes cannot be told from a valid request's until the
	// connection is hijacked, and gorilla then refuses the upgrade.
	subject, err := b.h.upgrade.AuthenticateUpgrade(r)
	if err != nil {
		b.release(remote)
		upgradeRefusal(err).write(w)
		return nil, nil, "", false
	}
	hj := &batchHijacker{ResponseWriter: w}
	ws, err = b.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		b.release(remote)
		b.log.Debug("websocket upgrade failed", "remote", remote, "err", err)
		return nil, nil, "", false
	}
	return ws, hj.conn, subject, true
}

// checkOrigin applies Options.CheckOrigin, or by default same origin only:
// the Origin's scheme must be the request's (https over TLS, http
// otherwise) and its host:port the Host header's.
func (b *Broker) checkOrigin(r *http.Request) bool {
	if b.o.CheckOrigin != nil {
		return b.o.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// wsTransport is STOMP over WebSocket: one frame per message out; in, the
// messages' bytes are one stream, so a frame may span messages and a message
// may hold several frames. Messages are read in pieces, so their size needs
// no bound of its own: the decoder's limits apply as over TCP, with the
// same ERROR frames.
type wsTransport struct {
	ws   *websocket.Conn
	out  *batchConn // under ws: a batch's messages leave in one write
	rbuf readBuffer
	wbuf []byte
	// await waits for the socket's next bytes: an idle connection waits
	// in it, not in gorilla, whose deeper calls would keep the reader's
	// stack at 8 KiB (the runtime halves a stack only while a quarter of
	// it holds what is in use).
	await func()

	lingering atomic.Bool // the close message is sent; the peer's is awaited
}

// newWSTransport returns the transport of an upgraded connection. The
// reader answers a client's close message through the batching socket,
// which then refuses further writes (see writeClose). The answer queues
// behind the messages being written, so it gets as long as they do.
func newWSTransport(ws *websocket.Conn, out *batchConn, writeTimeout time.Duration) *wsTransport {
	ws.SetCloseHandler(func(code int, _ string) error {
		out.writeClose(websocket.FormatCloseMessage(code, ""), time.Now().Add(writeTimeout))
		return nil
	})
	return &wsTransport{ws: ws, out: out, await: dataWaiter(out.Conn)}
}

// read reads message after message. A client gone quiet (see readbuf.go)
// is waited for before gorilla reads the next message, once nothing read
// from the socket is left to hand over.
func (t *wsTransport) read(feed func([]byte) bool) error {
	for {
		if !t.rbuf.held() && t.out.drained() {
			t.await()
		}
		_, r, err := t.ws.NextReader()
		if err != nil {
			return err
		}
		if more, err := t.readMessage(r, feed); !more || err != nil {
			return err
		}
	}
}

func (t *wsTransport) readMessage(r io.Reader, feed func([]byte) bool) (bool, error) {
	for {
		p := t.rbuf.next()
		n, err := r.Read(p)
		if n > 0 {
			t.rbuf.filled(n)
			if !feed(p[:n]) {
				return false, nil
			}
			t.rbuf.rest() // NextReader waits holding no buffer of ours
		}
		if err == io.EOF {
			t.rbuf.rest() // the one this read took
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// pending reports whether the socket read ahead of the message: a read
// ends with its message, so a short one may well leave the client's next
// messages waiting.
func (t *wsTransport) pending() bool { return !t.out.drained() }

func (t *wsTransport) writeBatch(c *conn, batch []outItem, deadline time.Time) error {
	if err := t.out.begin(deadline); err != nil {
		return err
	}
	for i := range batch {
		if err := t.writeItem(c, &batch[i]); err != nil {
			t.out.flush()
			return err
		}
	}
	return t.out.flush()
}

// writeItem writes one frame as one message: text when the frame is valid
// UTF-8, binary otherwise.
func (t *wsTransport) writeItem(c *conn, it *outItem) error {
	if it.msg == nil {
		return t.out.writeFrame(messageType(utf8.Valid(it.raw)), it.raw)
	}
	t.wbuf = c.appendPrefix(t.wbuf[:0], it)
	text := utf8.Valid(t.wbuf) && it.msg.isText(c.version)
	return t.out.writeFrame(messageType(text), t.wbuf, it.msg.common(c.version), it.msg.body)
}

func messageType(text bool) int {
	if text {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

func (t *wsTransport) writeRaw(b []byte, deadline time.Time) error {
	if err := t.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return t.ws.WriteMessage(messageType(utf8.Valid(b)), b)
}

// close ends the connection. Gracefully, it sends a close message and gives
// the peer lingerTime to answer it; the next close then reads (and drops)
// what the peer still sends until its close message before releasing the
// socket, so that the peer is not reset while it writes and loses the last
// frames, such as an ERROR.
func (t *wsTransport) close(graceful bool) error {
	if graceful {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if t.out.writeClose(msg, time.Now().Add(wsCloseGrace)) == nil {
			t.lingering.Store(true)
			return t.ws.SetReadDeadline(time.Now().Add(lingerTime))
		}
	}
	if t.lingering.Swap(false) {
		for {
			if _, _, err := t.ws.NextReader(); err != nil {
				break
			}
		}
	}
	return t.ws.Close()
}

func (t *wsTransport) abort() error { return t.ws.Close() }
