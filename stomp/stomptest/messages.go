package stomptest

import (
	"errors"
	"io"
	"net"
	"time"
)

// WebSocket is what MessageConn needs of a WebSocket connection; the *Conn
// of gorilla/websocket has it.
type WebSocket interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	Close() error
}

// The message types of RFC 6455 (gorilla/websocket's TextMessage and
// BinaryMessage).
const (
	TextMessage   = 1
	BinaryMessage = 2
)

// MessageConn is a net.Conn over a WebSocket that carries STOMP, so that a
// Client talks through it: each Write is one text message, as browser
// clients send, and Read returns the bytes of the messages in order, then
// io.EOF once the socket has ended (a read timeout is returned as it is).
type MessageConn struct {
	ws      WebSocket
	pending []byte
	// Type is the type of the latest message read: TextMessage or
	// BinaryMessage. A server that sends one frame per message sends the
	// frame a Client has just decoded in a message of this type.
	Type int
	// End is the error that ended the socket, once Read met it: a
	// WebSocket close carries its code and reason in it.
	End error
}

// NewMessageConn returns a MessageConn over ws.
func NewMessageConn(ws WebSocket) *MessageConn { return &MessageConn{ws: ws} }

// Read reads the bytes of the next messages.
func (m *MessageConn) Read(p []byte) (int, error) {
	for len(m.pending) == 0 {
		if m.End != nil {
			return 0, io.EOF
		}
		typ, b, err := m.ws.ReadMessage()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, err
		}
		if err != nil {
			m.End = err
			return 0, io.EOF
		}
		m.pending, m.Type = b, typ
	}
	n := copy(p, m.pending)
	m.pending = m.pending[n:]
	return n, nil
}

// Write sends p as one text message.
func (m *MessageConn) Write(p []byte) (int, error) {
	if err := m.ws.WriteMessage(TextMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the WebSocket without a close handshake.
func (m *MessageConn) Close() error { return m.ws.Close() }

// LocalAddr returns the socket's local address.
func (m *MessageConn) LocalAddr() net.Addr { return m.ws.LocalAddr() }

// RemoteAddr returns the socket's remote address.
func (m *MessageConn) RemoteAddr() net.Addr { return m.ws.RemoteAddr() }

// SetReadDeadline sets the deadline of reads.
func (m *MessageConn) SetReadDeadline(t time.Time) error { return m.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes.
func (m *MessageConn) SetWriteDeadline(t time.Time) error { return m.ws.SetWriteDeadline(t) }

// SetDeadline sets the deadlines of reads and writes.
func (m *MessageConn) SetDeadline(t time.Time) error {
	return errors.Join(m.ws.SetReadDeadline(t), m.ws.SetWriteDeadline(t))
}
