package broker

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// smallBody is the largest body the TCP writer copies into its batch
// buffer; larger bodies are handed to writev as they are, shared.
const smallBody = 512

// A TCP writer flushes once its batch buffer holds flushSize bytes; a
// buffer grown past maxRetainedBatch is not pooled again.
const (
	flushSize        = 32 << 10
	maxRetainedBatch = 64 << 10
)

// lingerTime is how long a gracefully closed connection waits for the
// peer to close its side.
const lingerTime = time.Second

// tcpTransport is STOMP over a raw byte stream.
type tcpTransport struct {
	nc   net.Conn
	rbuf readBuffer
	wbuf []byte      // during a batch, the batch's own bytes: prefixes, common parts, small bodies
	vec  net.Buffers // what precedes wbuf[mark:]: slices of wbuf and shared bodies
	mark int
	out  net.Buffers // vec as WriteTo consumes it
	// deadline is the write deadline set on nc, which the writer renews
	// only once a batch's falls in a later grain (see setDeadline); grains
	// count from base, the first batch's deadline, on the monotonic clock.
	deadline, base time.Time

	lingering atomic.Bool // the write side is shut; the read side waits for the peer
}

// read reads into the connection's read buffer; after a quiet read it
// gives the buffer up and waits for the next bytes without one.
func (t *tcpTransport) read(feed func([]byte) bool) error {
	await := dataWaiter(t.nc)
	for {
		if !t.rbuf.held() {
			await()
		}
		p := t.rbuf.next()
		n, err := t.nc.Read(p)
		if n > 0 {
			t.rbuf.filled(n)
			if !feed(p[:n]) {
				return nil
			}
			t.rbuf.rest()
		}
		if err != nil {
			return err
		}
	}
}

// pending reports false: a read takes what the socket holds, up to the
// buffer's size, so a short one left nothing waiting.
func (t *tcpTransport) pending() bool { return false }

// writeBatch writes the batch with as few writev calls as its size allows:
// each delivery's own lines and the message's common part are copied into
// the batch buffer, large bodies are not. The buffer is pooled and held only
// during the batch, so an idle connection keeps none.
func (t *tcpTransport) writeBatch(c *conn, batch []outItem, deadline time.Time) error {
	if err := t.setDeadline(deadline, c.b.o.WriteTimeout/deadlineGrains); err != nil {
		return err
	}
	buf := batchBufs.Get().(*[]byte)
	t.wbuf = (*buf)[:0]
	defer func() {
		if cap(t.wbuf) <= maxRetainedBatch {
			*buf = t.wbuf[:0]
			batchBufs.Put(buf)
		}
		t.wbuf = nil
	}()
	for i := range batch {
		t.encode(c, &batch[i])
		if len(t.wbuf) >= flushSize {
			if err := t.flush(); err != nil {
				return err
			}
		}
	}
	return t.flush()
}

func (t *tcpTransport) encode(c *conn, it *outItem) {
	if it.msg == nil {
		t.wbuf = append(t.wbuf, it.raw...)
		return
	}
	t.wbuf = c.appendPrefix(t.wbuf, it)
	t.wbuf = append(t.wbuf, it.msg.common(c.version)...)
	if len(it.msg.body) <= smallBody {
		t.wbuf = append(t.wbuf, it.msg.body...)
		return
	}
	t.vec = append(t.vec, t.wbuf[t.mark:], it.msg.body)
	t.mark = len(t.wbuf)
}

// flush writes what encode gathered and empties the buffers.
func (t *tcpTransport) flush() error {
	vec := append(t.vec, t.wbuf[t.mark:])
	t.out = vec // WriteTo consumes its receiver
	_, err := t.out.WriteTo(t.nc)
	clear(vec)
	t.vec, t.mark = vec[:0], 0
	t.wbuf = t.wbuf[:0]
	return err
}

func (t *tcpTransport) writeRaw(b []byte, deadline time.Time) error {
	if err := t.setDeadline(deadline, 0); err != nil {
		return err
	}
	_, err := t.nc.Write(b)
	return err
}

// deadlineGrains is how many grains of WriteTimeout a batch's write
// deadline is rounded up to.
const deadlineGrains = 64

// setDeadline makes the write deadline of nc deadline rounded up to a
// multiple of grain (not rounded when grain is 0), and sets it only when
// that differs from the one set: setting one re-arms a runtime timer, which
// cost about 700 instructions per batch, a tenth of a delivery's whole cost
// at one delivery per batch. A batch thus has at least WriteTimeout to be
// written, and at most a 64th more; one batch after another sets the
// deadline a few times a second rather than once per batch.
func (t *tcpTransport) setDeadline(deadline time.Time, grain time.Duration) error {
	if grain > 0 {
		if t.base.IsZero() {
			t.base = deadline
		}
		if d := deadline.Sub(t.base); d > 0 {
			deadline = t.base.Add((d + grain - 1) / grain * grain)
		}
	}
	if deadline.Equal(t.deadline) {
		return nil
	}
	if err := t.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	t.deadline = deadline
	return nil
}

// close ends the connection. Gracefully, it only shuts the write side (the
// peer reads every frame, then an end) and gives the peer lingerTime to
// close its side; the next close then discards what the peer still sends
// before releasing the socket. Closing at once while the peer still writes
// would reset the connection, and the peer could lose the frames just
// written, such as the ERROR that explains the close.
func (t *tcpTransport) close(graceful bool) error {
	if graceful {
		if hc, ok := t.nc.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			t.lingering.Store(true)
			return t.nc.SetReadDeadline(time.Now().Add(lingerTime))
		}
	}
	if t.lingering.Swap(false) {
		io.Copy(io.Discard, t.nc) // until the peer's end or the deadline
	}
	return t.nc.Close()
}

func (t *tcpTransport) abort() error { return t.nc.Close() }
