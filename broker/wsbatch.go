package broker

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// batchConn is the socket under a WebSocket connection. Between begin and
// flush it gathers what gorilla writes, so that a batch of messages leaves
// in one write system call, up to flushSize bytes at a time, as over TCP,
// instead of one call per message. The buffer is pooled and held only
// during a batch, so an idle connection keeps none. Outside a batch, writes
// (the handshake, control messages) go straight to the socket.
//
// Gorilla serialises its own writes; mu also orders them with begin and
// flush, since a control message (a pong, a close) may be written from
// another goroutine. During a batch the socket keeps the batch's write
// deadline: gorilla sets a short one of its own for each control message,
// which would otherwise cut the batch's flush short.
type batchConn struct {
	net.Conn

	mu  sync.Mutex
	buf *[]byte // non-nil during a batch
}

// batchBufs pools the buffers of batches in progress.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, flushSize); return &b }}

// Write gathers p during a batch. A part of flushSize or more (a large
// body) is not copied: what was gathered goes out first, then p itself.
func (bc *batchConn) Write(p []byte) (int, error) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.buf == nil {
		return bc.Conn.Write(p)
	}
	if len(p) >= flushSize {
		if err := bc.writeOut(); err != nil {
			return 0, err
		}
		return bc.Conn.Write(p)
	}
	*bc.buf = append(*bc.buf, p...)
	if len(*bc.buf) >= flushSize {
		if err := bc.writeOut(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
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
	var err error
	if len(*bc.buf) > 0 {
		_, err = bc.Conn.Write(*bc.buf)
	}
	*bc.buf = (*bc.buf)[:0]
	return err
}

// batchHijacker hands gorilla a batchConn when the upgrade hijacks the
// HTTP connection.
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
	return h.conn, brw, nil
}
