package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// transport carries STOMP frames over one connection. read is called by
// the connection's reader goroutine only; write and flush by one writer at
// a time (the connection serialises them); close by anyone.
type transport interface {
	// read returns the next bytes received, valid until the next read.
	read() ([]byte, error)
	// write buffers one frame made of head followed by body.
	write(head, body []byte) error
	// flush sends what write buffered.
	flush() error
	close() error
}

// buffers sizes a connection's buffers: large for busy connections, small
// for the thousands of idle ones of the conns scenario.
type buffers struct{ read, write int }

var (
	busyBuffers = buffers{read: 256 << 10, write: 64 << 10}
	idleBuffers = buffers{read: 2 << 10, write: 1 << 10}
)

// dialer opens transports to the target.
type dialer struct {
	tcpAddr string
	wsURL   string
	tls     *tls.Config
	nats    bool // speak core NATS over TCP instead of STOMP
}

// protocol is what connections through d speak.
func (d dialer) protocol() protocol {
	if d.nats {
		return natsProtocol{}
	}
	return stompProtocol{}
}

// dial opens one transport, from local when it is not nil.
func (d dialer) dial(ctx context.Context, bufs buffers, local *net.TCPAddr) (transport, error) {
	nd := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	if d.tcpAddr != "" {
		nc, err := nd.DialContext(ctx, "tcp", d.tcpAddr)
		if err != nil {
			return nil, err
		}
		return &tcpTransport{nc: nc, bw: bufio.NewWriterSize(nc, bufs.write), buf: make([]byte, bufs.read)}, nil
	}
	return d.dialWS(ctx, d.wsURL, bufs, nd)
}

// tcpTransport is STOMP over a TCP connection.
type tcpTransport struct {
	nc  net.Conn
	bw  *bufio.Writer
	buf []byte
}

func (t *tcpTransport) read() ([]byte, error) {
	n, err := t.nc.Read(t.buf)
	if n > 0 {
		return t.buf[:n], nil
	}
	return nil, err
}

func (t *tcpTransport) write(head, body []byte) error {
	if _, err := t.bw.Write(head); err != nil {
		return err
	}
	_, err := t.bw.Write(body)
	return err
}

func (t *tcpTransport) flush() error { return t.bw.Flush() }
func (t *tcpTransport) close() error { return t.nc.Close() }

// wsTransport is STOMP over WebSocket, one frame per text message. The
// WebSocket library writes each message straight to its connection; a
// bufferedConn under it gathers those writes until flush, so a batch of
// frames leaves in as few segments as over TCP.
type wsTransport struct {
	ws  *websocket.Conn
	bc  *bufferedConn
	r   io.Reader // the message being read, or nil
	buf []byte
}

var stompSubprotocols = []string{"v12.stomp", "v11.stomp", "v10.stomp"}

func (d dialer) dialWS(ctx context.Context, wsURL string, bufs buffers, nd *net.Dialer) (transport, error) {
	var bc *bufferedConn
	wd := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			bc = &bufferedConn{Conn: nc}
			return bc, nil
		},
		TLSClientConfig:  d.tls,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   bufs.read,
		WriteBufferSize:  bufs.write,
		Subprotocols:     stompSubprotocols,
	}
	ws, resp, err := wd.DialContext(ctx, wsURL, nil)
	if err != nil {
		if resp != nil {
			return nil, errors.New("WebSocket upgrade refused: " + resp.Status)
		}
		return nil, err
	}
	bc.buffer(bufs.write)
	t := &wsTransport{ws: ws, bc: bc, buf: make([]byte, bufs.read)}
	ws.SetPingHandler(t.pong)
	ws.SetCloseHandler(t.closed)
	return t, nil
}

func (t *wsTransport) read() ([]byte, error) {
	for {
		if t.r == nil {
			_, r, err := t.ws.NextReader()
			if err != nil {
				return nil, err
			}
			t.r = r
		}
		n, err := t.r.Read(t.buf)
		if n > 0 {
			return t.buf[:n], nil
		}
		if err != io.EOF {
			return nil, err
		}
		t.r = nil
	}
}

func (t *wsTransport) write(head, body []byte) error {
	w, err := t.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

func (t *wsTransport) flush() error { return t.bc.flush() }
func (t *wsTransport) close() error { return t.ws.Close() }

// pong answers a ping at once: the reader calls it, and nothing else would
// flush the answer on an idle connection.
func (t *wsTransport) pong(data string) error {
	err := t.ws.WriteControl(websocket.PongMessage, []byte(data), time.Time{})
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		return err
	}
	return t.bc.flush()
}

// closed answers the server's close message, then lets read return it.
func (t *wsTransport) closed(code int, text string) error {
	msg := websocket.FormatCloseMessage(code, "")
	if code == websocket.CloseNoStatusReceived {
		msg = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	}
	if err := t.ws.WriteControl(websocket.CloseMessage, msg, time.Time{}); err == nil {
		_ = t.bc.flush() // the connection is closing either way
	}
	return nil
}

// bufferedConn is a net.Conn whose writes gather in a buffer once buffer
// is called (after the WebSocket handshake) until flush. Write deadlines
// are ignored then: the WebSocket library sets one per message, and a
// buffered write does not block.
type bufferedConn struct {
	net.Conn
	mu sync.Mutex
	bw *bufio.Writer
}

func (c *bufferedConn) buffer(size int) {
	c.mu.Lock()
	c.bw = bufio.NewWriterSize(c.Conn, size)
	c.mu.Unlock()
}

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bw == nil {
		return c.Conn.Write(p)
	}
	return c.bw.Write(p)
}

func (c *bufferedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	buffered := c.bw != nil
	c.mu.Unlock()
	if buffered {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *bufferedConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bw.Flush()
}
