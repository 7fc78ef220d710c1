package stomptest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// Timeout is how long a new Client waits for each read and write:
// generous, since test machines are shared.
const Timeout = 5 * time.Second

// Client is a raw STOMP client: a test writes exact bytes (Write, Send) and
// reads the server's frames one at a time (Next, Expect), and the Client
// fails the test when a frame is not what the test expects. It decodes
// frames as STOMP 1.0 until it reads a CONNECTED frame, then as the version
// that frame names, as a real client does. It sets no limit on what it
// decodes.
type Client struct {
	// Conn is the connection, for tests that read raw bytes (heart-beats),
	// tune its buffers or close it.
	Conn net.Conn
	// Timeout bounds each read and write.
	Timeout time.Duration

	t   testing.TB
	dec *stomp.Decoder
	buf []byte // the read buffer
	in  []byte // read but not decoded yet
}

// NewClient returns a Client on nc, closed when the test ends.
func NewClient(t testing.TB, nc net.Conn) *Client {
	t.Cleanup(func() { nc.Close() })
	dec := stomp.NewDecoder(stomp.Limits{MaxBodySize: -1, MaxHeaders: -1, MaxHeaderLine: -1})
	dec.SetVersion(stomp.V10)
	return &Client{Conn: nc, Timeout: Timeout, t: t, dec: dec, buf: make([]byte, 64<<10)}
}

// Dial connects a Client to a STOMP server over TCP.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(t, nc)
}

// Frame returns the wire form of a frame, with its header lines
// ("key:value") written as they are, unescaped and unchecked, so that a
// test can write malformed frames too.
func Frame(cmd, body string, headers ...string) string {
	var sb strings.Builder
	sb.WriteString(cmd + "\n")
	for _, h := range headers {
		sb.WriteString(h + "\n")
	}
	sb.WriteString("\n" + body + "\x00")
	return sb.String()
}

// Write writes raw bytes, such as a Frame, part of one, or a heart-beat.
func (c *Client) Write(raw string) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := io.WriteString(c.Conn, raw); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Send writes a frame encoded as STOMP 1.2 encodes it, escaping its
// header values; headers are "key:value" strings.
func (c *Client) Send(cmd stomp.Command, body string, headers ...string) {
	c.t.Helper()
	f := &stomp.Frame{Command: cmd, Body: []byte(body)}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		f.Add(k, v)
	}
	c.Write(string(stomp.AppendFrame(nil, f, stomp.V12)))
}

// Connect sends CONNECT for STOMP 1.2 with the given headers, and expects
// CONNECTED, which it returns.
func (c *Client) Connect(headers ...string) *stomp.Frame {
	c.t.Helper()
	c.Send(stomp.CONNECT, "", append([]string{"accept-version:1.2", "host:localhost"}, headers...)...)
	return c.Expect(stomp.CONNECTED)
}

// Next returns the next frame, a copy the caller may keep, or the error
// that ended the stream (a read timeout included).
func (c *Client) Next() (*stomp.Frame, error) {
	for {
		if f, err := c.decode(); f != nil || err != nil {
			return f, err
		}
		c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
		n, err := c.Conn.Read(c.buf)
		if n == 0 && err != nil {
			return nil, err
		}
		c.in = c.buf[:n]
	}
}

// decode decodes the next frame from what was read; nil when that holds no
// complete frame.
func (c *Client) decode() (*stomp.Frame, error) {
	for len(c.in) > 0 {
		n, f, err := c.dec.Decode(c.in)
		c.in = c.in[n:]
		if err != nil {
			return nil, err
		}
		if f != nil {
			f = f.Clone()
			if f.Command == stomp.CONNECTED {
				c.adoptVersion(f)
			}
			return f, nil
		}
	}
	return nil, nil
}

// adoptVersion decodes what follows CONNECTED as the version it names.
func (c *Client) adoptVersion(connected *stomp.Frame) {
	for _, v := range [...]stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		if connected.Value("version") == v.String() {
			c.dec.SetVersion(v)
		}
	}
}

// ReadBytes returns the next bytes from the server as they came, without
// decoding them (heart-beats, a WebSocket message): what was read but not
// decoded yet, or else what the next read returns.
func (c *Client) ReadBytes() ([]byte, error) {
	if len(c.in) > 0 {
		b := bytes.Clone(c.in)
		c.in = nil
		return b, nil
	}
	c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
	n, err := c.Conn.Read(c.buf)
	return bytes.Clone(c.buf[:n]), err
}

// Read returns the next frame, failing the test when there is none.
func (c *Client) Read() *stomp.Frame {
	c.t.Helper()
	f, err := c.Next()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// Expect reads the next frame and fails the test unless it is a cmd frame
// with the given headers ("key:value"); it returns the frame.
func (c *Client) Expect(cmd stomp.Command, headers ...string) *stomp.Frame {
	c.t.Helper()
	f, err := c.Next()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", cmd, err)
	}
	if f.Command != cmd {
		c.t.Fatalf("got %s, want %s", Dump(f), cmd)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if got, ok := f.Get(k); !ok || string(got) != v {
			c.t.Fatalf("%s header %s = %q, want %q (all: %s)", cmd, k, got, v, Dump(f))
		}
	}
	return f
}

// ExpectError reads an ERROR frame with the given code whose message
// contains msg, then expects the server to close the connection.
func (c *Client) ExpectError(code, msg string) *stomp.Frame {
	c.t.Helper()
	f := c.Expect(stomp.ERROR, "code:"+code)
	if m := f.Value("message"); !strings.Contains(m, msg) {
		c.t.Fatalf("ERROR message %q does not contain %q", m, msg)
	}
	c.ExpectClosed()
	return f
}

// ExpectClosed reads until the connection ends, then closes the client's
// side as a client would. A frame, a read timeout or a malformed frame
// fails the test.
func (c *Client) ExpectClosed() {
	c.t.Helper()
	f, err := c.Next()
	c.Conn.Close()
	switch {
	case err == nil:
		c.t.Fatalf("got %s, want the connection closed", Dump(f))
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), strings.Contains(err.Error(), "reset"):
	default:
		c.t.Fatalf("want the connection closed, got %v", err)
	}
}

// ExpectNothing fails the test when anything arrives within d.
func (c *Client) ExpectNothing(d time.Duration) {
	c.t.Helper()
	if len(c.in) > 0 {
		c.t.Fatalf("unexpected buffered bytes %q", c.in)
	}
	c.Conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.Conn.Read(c.buf)
	if n > 0 {
		c.t.Fatalf("unexpected bytes %q", c.buf[:n])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want silence, got %v", err)
	}
}

// Dump returns a frame's wire form, for failure messages.
func Dump(f *stomp.Frame) string {
	return string(stomp.AppendFrame(nil, f, stomp.V12))
}
