package broker

import (
	"net"
	"time"
)

// smallBody is the largest body the TCP writer copies into its batch
// buffer; larger bodies are handed to writev as they are, shared.
const smallBody = 512

// maxRetainedBatch is the largest batch buffer a TCP writer keeps between
// batches.
const maxRetainedBatch = 64 << 10

// tcpTransport is STOMP over a raw byte stream.
type tcpTransport struct {
	nc   net.Conn
	rbuf readBuffer
	wbuf []byte      // the batch's own bytes: prefixes, common parts, small bodies
	vec  net.Buffers // the batch as slices of wbuf and shared bodies
}

func (t *tcpTransport) read(feed func([]byte) bool) error {
	for {
		p := t.rbuf.next()
		n, err := t.nc.Read(p)
		if n > 0 {
			t.rbuf.filled(n)
			if !feed(p[:n]) {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// writeBatch writes the whole batch with one writev: each delivery's own
// lines and the message's common part are copied, large bodies are not.
func (t *tcpTransport) writeBatch(c *conn, batch []outItem, deadline time.Time) error {
	buf, vec, mark := t.wbuf[:0], t.vec[:0], 0
	for i := range batch {
		it := &batch[i]
		if it.msg == nil {
			buf = append(buf, it.raw...)
			continue
		}
		buf = c.appendPrefix(buf, it)
		buf = append(buf, it.msg.common(c.version)...)
		if len(it.msg.body) <= smallBody {
			buf = append(buf, it.msg.body...)
			continue
		}
		vec = append(vec, buf[mark:], it.msg.body)
		mark = len(buf)
	}
	vec = append(vec, buf[mark:])
	err := t.writev(vec, deadline)
	clear(vec)
	t.vec = vec[:0]
	if cap(buf) <= maxRetainedBatch {
		t.wbuf = buf[:0]
	} else {
		t.wbuf = nil
	}
	return err
}

func (t *tcpTransport) writev(vec net.Buffers, deadline time.Time) error {
	if err := t.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := vec.WriteTo(t.nc)
	return err
}

func (t *tcpTransport) writeRaw(b []byte, deadline time.Time) error {
	if err := t.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := t.nc.Write(b)
	return err
}

func (t *tcpTransport) close(bool) error { return t.nc.Close() }
