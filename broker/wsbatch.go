package broker

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// batchConn is the socket under a WebSocket connection. Between begin and
// flush it gathers the messages the writer frames (writeFrame) and what
// gorilla writes, so that a batch of messages leaves in one write system
// call, up to flushSize bytes at a time, as over TCP, instead of one call
// per message. The buffer is pooled and held only during a batch, so an
// idle connection keeps none. Outside a batch, writes (the handshake,
// control messages) go straight to the socket.
//
// mu orders whole frames, begin and flush, since a control message (a
// pong, a close) may be written from the reader goroutine. During a batch
// the socket keeps the batch's write deadline: gorilla sets a short one of
// its own for each control message, which would otherwise cut the batch's
// flush short.
//
// Reading, it reads ahead while the client keeps it busy (see Read).
type batchConn struct {
	net.Conn

	mu        sync.Mutex
	buf       *[]byte // non-nil during a batch
	closeSent bool    // a close message is written or gathered: nothing may follow
	err       error   // a write failed: the stream may hold part of a frame

	ahead readAhead     // the reader goroutine's own
	in    *bufio.Reader // gorilla's reader over this socket, set by the upgrade
}

// readAhead is what a batchConn has read from the socket and not yet
// handed to gorilla.
type readAhead struct {
	buf   []byte // nil while the client is quiet
	r, w  int    // buf[r:w] is still to hand over
	quiet bool   // the last read was short: drop buf once it is handed over
	err   error  // the last read's error, for once buf is handed over
	full  int    // consecutive reads that filled gorilla's buffer
}

// readAheadSize is the read-ahead buffer of a busy WebSocket connection.
const readAheadSize = 32 << 10

// Read serves gorilla's reader. Gorilla reads through a small buffer of
// its own, sized for idle connections, which costs a system call per few
// small messages. So once two reads in a row fill gorilla's buffer (the
// socket had more; one large frame, such as a CONNECT carrying a token,
// fills one), the connection reads ahead into a buffer of readAheadSize,
// one system call per many messages, until a quiet read (shorter than
// quietRead) shows the client has paused; then it drops the buffer, once
// handed over, and reads into gorilla's again. Only the reader goroutine
// calls Read.
func (bc *batchConn) Read(p []byte) (int, error) {
	a := &bc.ahead
	if a.r == a.w && a.buf != nil && a.err == nil {
		n, err := bc.Conn.Read(a.buf)
		a.r, a.w, a.quiet, a.err = 0, n, n < quietRead, err
	}
	if a.r == a.w {
		if err := a.err; err != nil || a.buf != nil {
			a.buf, a.err = nil, nil
			return 0, err
		}
		n, err := bc.Conn.Read(p)
		if n == len(p) && n > 0 {
			a.full++
		} else {
			a.full = 0
		}
		if a.full == 2 {
			a.buf, a.full = make([]byte, readAheadSize), 0
		}
		return n, err
	}
	n := copy(p, a.buf[a.r:a.w])
	a.r += n
	if a.r == a.w && a.quiet {
		a.buf = nil
	}
	return n, nil
}

// drained reports whether gorilla's reader and the read-ahead hold no
// bytes and no error still to hand over: the next frame then needs a read
// from the socket. Only the reader goroutine calls it.
func (bc *batchConn) drained() bool {
	a := &bc.ahead
	return bc.in != nil && bc.in.Buffered() == 0 && a.r == a.w && a.err == nil
}

// batchBufs pools the buffers of batches in progress.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, flushSize); return &b }}

// Write gathers p during a batch.
func (bc *batchConn) Write(p []byte) (int, error) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if err := bc.writable(); err != nil {
		return 0, err
	}
	if bc.buf == nil {
		return bc.write(p)
	}
	if err := bc.gather(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// write writes p to the socket; mu is held. After a failed write the
// stream may end inside a frame, so nothing more is written.
func (bc *batchConn) write(p []byte) (int, error) {
	n, err := bc.Conn.Write(p)
	if err != nil {
		bc.err = err
	}
	return n, err
}

// writeClose writes a close message with payload, once, and refuses every
// write after it (RFC 6455 section 5.5.1). During a batch the message joins
// the batch, behind the frames gathered; otherwise it is written before
// deadline. The broker writes close messages itself rather than through
// gorilla so that marking the close and placing the message in the stream
// are one step: a writer refused for the close finds the message ahead of
// it, in the batch it flushes or already on the wire.
func (bc *batchConn) writeClose(payload []byte, deadline time.Time) error {
	frame := append(appendFrameHeader(nil, websocket.CloseMessage, len(payload)), payload...)
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if err := bc.writable(); err != nil {
		return err
	}
	bc.closeSent = true
	if bc.buf != nil {
		return bc.gather(frame)
	}
	if err := bc.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := bc.write(frame)
	return err
}

// writable reports why nothing more may be written, if so; mu is held.
func (bc *batchConn) writable() error {
	switch {
	case bc.err != nil:
		return bc.err
	case bc.closeSent:
		return websocket.ErrCloseSent
	}
	return nil
}

// appendFrameHeader appends the header of a whole (FIN) unmasked frame,
// as a server sends it (RFC 6455 section 5.2).
func appendFrameHeader(dst []byte, opcode, n int) []byte {
	dst = append(dst, 0x80|byte(opcode))
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

// writeFrame gathers, during a batch, one whole WebSocket message of the
// given opcode (a single frame) whose payload is the parts, in order. The
// broker frames its data messages itself, rather than through gorilla's
// writer, to spare each message an allocation and a copy; mu keeps
// gorilla's control messages (pongs) between whole frames. The header is
// appended to the batch, not gathered: a header on the stack would escape
// to the heap, one per message, through the socket's Write.
func (bc *batchConn) writeFrame(opcode int, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if err := bc.writable(); err != nil {
		return err
	}
	*bc.buf = appendFrameHeader(*bc.buf, opcode, n)
	for _, p := range parts {
		if err := bc.gather(p); err != nil {
			return err
		}
	}
	return nil
}

// gather adds p to the batch; mu is held. A part of flushSize or more (a
// large body) is not copied: what was gathered goes out first, then p
// itself.
func (bc *batchConn) gather(p []byte) error {
	if len(p) >= flushSize {
		if err := bc.writeOut(); err != nil {
			return err
		}
		_, err := bc.write(p)
		return err
	}
	*bc.buf = append(*bc.buf, p...)
	if len(*bc.buf) >= flushSize {
		return bc.writeOut()
	}
	return nil
}

// SetWriteDeadline passes a deadline to the socket outside a batch, and
// keeps the batch's own during one.
func (bc *batchConn) SetWriteDeadline(t time.Time) error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.buf != nil {
		return nil
	}
	return bc.Conn.SetWriteDeadline(t)
}

// begin starts gathering writes, which leave before deadline.
func (bc *batchConn) begin(deadline time.Time) error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.buf == nil {
		bc.buf = batchBufs.Get().(*[]byte)
	}
	return bc.Conn.SetWriteDeadline(deadline)
}

// flush writes what the batch gathered and ends the batch.
func (bc *batchConn) flush() error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.buf == nil {
		return nil
	}
	err := bc.writeOut()
	if cap(*bc.buf) <= maxRetainedBatch {
		batchBufs.Put(bc.buf)
	}
	bc.buf = nil
	return err
}

// writeOut writes the gathered bytes; mu is held.
func (bc *batchConn) writeOut() error {
	err := bc.err
	if err == nil && len(*bc.buf) > 0 {
		_, err = bc.write(*bc.buf)
	}
	*bc.buf = (*bc.buf)[:0]
	return err
}

// batchHijacker hands gorilla a batchConn when the upgrade hijacks the
// HTTP connection, and a reader of wsReadBufferSize over it, which gorilla
// reads through (the Upgrader's ReadBufferSize is 0 for that) and which the
// connection can thus ask whether it holds bytes. An HTTP reader that
// holds bytes already is handed over as it is: gorilla refuses it.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc}
	if brw.Reader.Buffered() > 0 {
		return h.conn, brw, nil
	}
	h.conn.in = bufio.NewReaderSize(h.conn, wsReadBufferSize)
	return h.conn, bufio.NewReadWriter(h.conn.in, brw.Writer), nil
}
