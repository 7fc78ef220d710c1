package e2e_test

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
)

// ioTimeout bounds every read and write of the workload's clients.
const ioTimeout = 15 * time.Second

// stompClient is a minimal STOMP 1.2 client over TCP or WebSocket, enough
// to drive the workload: it writes frames and reads them back one by one.
type stompClient struct {
	t     *testing.T
	name  string
	write func([]byte) error
	read  func() ([]byte, error) // the next bytes from the server
	close func() error
	dec   *stomp.Decoder
	in    []byte // read but not yet decoded
}

func newClient(t *testing.T, name string, write func([]byte) error, read func() ([]byte, error), close func() error) *stompClient {
	c := &stompClient{t: t, name: name, write: write, read: read, close: close, dec: stomp.NewDecoder(stomp.Limits{})}
	t.Cleanup(func() { _ = c.close() })
	return c
}

// dialTCP opens a STOMP connection over TCP and sends nothing yet.
func dialTCP(t *testing.T, name, addr string) (*stompClient, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) error { _, err := conn.Write(b); return err }
	read := func() ([]byte, error) {
		b := make([]byte, 32<<10)
		n, err := conn.Read(b)
		return b[:n], err
	}
	return newClient(t, name, write, read, conn.Close), conn
}

// dialWebSocket upgrades GET /ws with a ticket, asking for STOMP 1.2.
func dialWebSocket(t *testing.T, name, httpAddr, ticket string) *stompClient {
	t.Helper()
	conn, status, err := wsDial(httpAddr, ticket)
	if err != nil {
		t.Fatalf("%s: upgrade: HTTP %d: %v", name, status, err)
	}
	if conn.Subprotocol() != "v12.stomp" {
		t.Errorf("%s: subprotocol %q, want v12.stomp", name, conn.Subprotocol())
	}
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) error { return conn.WriteMessage(websocket.TextMessage, b) }
	read := func() ([]byte, error) {
		_, b, err := conn.ReadMessage()
		return b, err
	}
	return newClient(t, name, write, read, conn.Close)
}

// wsDial upgrades GET /ws?ticket= and returns the HTTP status the server
// answered with (0 when there was no answer).
func wsDial(httpAddr, ticket string) (*websocket.Conn, int, error) {
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}, HandshakeTimeout: ioTimeout}
	u := url.URL{Scheme: "ws", Host: httpAddr, Path: "/ws", RawQuery: url.Values{"ticket": {ticket}}.Encode()}
	conn, resp, err := d.Dial(u.String(), nil)
	if resp == nil {
		return conn, 0, err
	}
	resp.Body.Close()
	return conn, resp.StatusCode, err
}

// frame builds a frame from its command, body and header key-value pairs.
func frame(cmd stomp.Command, body []byte, kv ...string) *stomp.Frame {
	f := &stomp.Frame{Command: cmd, Body: body}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// send writes one frame.
func (c *stompClient) send(f *stomp.Frame) {
	c.t.Helper()
	if err := c.write(stomp.AppendFrame(nil, f, stomp.V12)); err != nil {
		c.t.Fatalf("%s: write %s: %v", c.name, f.Command, err)
	}
}

// next reads the next frame from the server.
func (c *stompClient) next() (*stomp.Frame, error) {
	for {
		for len(c.in) > 0 {
			n, f, err := c.dec.Decode(c.in)
			c.in = c.in[n:]
			if err != nil {
				return nil, err
			}
			if f != nil {
				return f.Clone(), nil
			}
		}
		b, err := c.read()
		if err != nil {
			return nil, err
		}
		c.in = b
	}
}

// expect reads the next frame and fails unless it is a cmd frame.
func (c *stompClient) expect(cmd stomp.Command) *stomp.Frame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("%s: waiting for %s: %v", c.name, cmd, err)
	}
	if f.Command != cmd {
		c.t.Fatalf("%s: got %s (message %q, code %q), want %s", c.name, f.Command, f.Value("message"), f.Value("code"), cmd)
	}
	return f
}

// connect sends CONNECT with the access token as a Bearer Authorization
// header and waits for CONNECTED.
func (c *stompClient) connect(token string) {
	c.t.Helper()
	c.send(frame(stomp.CONNECT, nil,
		"accept-version", "1.2",
		"host", "127.0.0.1",
		"heart-beat", "0,0",
		"Authorization", "Bearer "+token))
	c.expect(stomp.CONNECTED)
	c.dec.SetVersion(stomp.V12)
}

// subscribe subscribes to dest and waits for the receipt.
func (c *stompClient) subscribe(id, dest string) {
	c.t.Helper()
	c.send(frame(stomp.SUBSCRIBE, nil, "id", id, "destination", dest, "ack", "auto", "receipt", "sub-"+id))
	c.expectReceipt("sub-" + id)
}

// publish sends n messages with body to dest, the last asking for a
// receipt, and waits for it: then all n have taken effect.
func (c *stompClient) publish(dest string, n int, body []byte) {
	c.t.Helper()
	for i := range n {
		kv := []string{"destination", dest, "content-type", "text/plain"}
		if i == n-1 {
			kv = append(kv, "receipt", "last-"+dest)
		}
		c.send(frame(stomp.SEND, body, kv...))
	}
	c.expectReceipt("last-" + dest)
}

func (c *stompClient) expectReceipt(id string) {
	c.t.Helper()
	if got := c.expect(stomp.RECEIPT).Value("receipt-id"); got != id {
		c.t.Fatalf("%s: receipt-id %q, want %q", c.name, got, id)
	}
}

// receive reads n MESSAGE frames from dest.
func (c *stompClient) receive(dest string, n int) {
	c.t.Helper()
	for i := range n {
		if got := c.expect(stomp.MESSAGE).Value("destination"); got != dest {
			c.t.Fatalf("%s: message %d from %q, want %q", c.name, i, got, dest)
		}
	}
}
