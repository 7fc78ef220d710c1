package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every blocking step of a test; generous, since the machine is
// shared.
const wait = 5 * time.Second

// harness is a broker serving on a real 127.0.0.1 listener.
type harness struct {
	b    *Broker
	addr string
	m    *metrics.Set
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = metrics.New(prometheus.NewRegistry())
	}
	b := New(o)
	b.tickMax = 20 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &harness{b: b, addr: l.Addr().String(), m: o.Metrics}
}

// frame builds a raw frame: headers are "key:value" strings, written as is.
func frame(cmd string, body string, headers ...string) string {
	var sb strings.Builder
	sb.WriteString(cmd + "\n")
	for _, h := range headers {
		sb.WriteString(h + "\n")
	}
	sb.WriteString("\n" + body + "\x00")
	return sb.String()
}

// client is a raw STOMP client on a real socket.
type client struct {
	t   *testing.T
	nc  net.Conn
	dec *stomp.Decoder
	buf []byte
	in  []byte
}

func (h *harness) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", h.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc)
}

// newClient is a raw STOMP client on nc, closed when the test ends.
func newClient(t *testing.T, nc net.Conn) *client {
	t.Cleanup(func() { nc.Close() })
	dec := stomp.NewDecoder(stomp.Limits{MaxBodySize: -1, MaxHeaders: -1, MaxHeaderLine: -1})
	dec.SetVersion(stomp.V10)
	return &client{t: t, nc: nc, dec: dec, buf: make([]byte, 4096)}
}

// connect opens a STOMP 1.2 session as login.
func (h *harness) connect(t *testing.T, login string, headers ...string) *client {
	t.Helper()
	c := h.dial(t)
	c.write(frame("CONNECT", "", append([]string{"accept-version:1.2", "host:test", "login:" + login}, headers...)...))
	c.expect("CONNECTED")
	c.dec.SetVersion(stomp.V12)
	return c
}

// subscriber connects as login and subscribes to dest with headers,
// waiting for the receipt.
func (h *harness) subscriber(t *testing.T, login, dest string, headers ...string) *client {
	t.Helper()
	c := h.connect(t, login)
	c.write(frame("SUBSCRIBE", "", append([]string{"id:1", "destination:" + dest, "receipt:sub"}, headers...)...))
	c.expect("RECEIPT", "receipt-id:sub")
	return c
}

func (c *client) write(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// decodeNext decodes the next frame from *in, consuming what it used; nil
// when *in holds no complete frame.
func decodeNext(dec *stomp.Decoder, in *[]byte) (*stomp.Frame, error) {
	for len(*in) > 0 {
		n, f, err := dec.Decode(*in)
		*in = (*in)[n:]
		if err != nil {
			return nil, err
		}
		if f != nil {
			return f.Clone(), nil
		}
	}
	return nil, nil
}

// next returns the next frame, or nil and the error that ended the stream.
func (c *client) next() (*stomp.Frame, error) {
	for {
		if f, err := decodeNext(c.dec, &c.in); f != nil || err != nil {
			return f, err
		}
		c.nc.SetReadDeadline(time.Now().Add(wait))
		n, err := c.nc.Read(c.buf)
		if err != nil {
			return nil, err
		}
		c.in = c.buf[:n]
	}
}

func (c *client) read() *stomp.Frame {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// expect reads the next frame and checks its command and headers
// ("key:value" strings).
func (c *client) expect(cmd string, headers ...string) *stomp.Frame {
	c.t.Helper()
	f := c.read()
	if f.Command.String() != cmd {
		c.t.Fatalf("got %s %q (body %q), want %s", f.Command, f.Headers, f.Body, cmd)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if got, ok := f.Get(k); !ok || string(got) != v {
			c.t.Fatalf("%s header %s = %q, want %q (all: %s)", cmd, k, got, v, dump(f))
		}
	}
	return f
}

// expectError reads an ERROR with the given code and a message containing
// msg, then checks that the connection is closed.
func (c *client) expectError(code, msg string) *stomp.Frame {
	c.t.Helper()
	f := c.expect("ERROR", "code:"+code)
	if m := f.Value("message"); !strings.Contains(m, msg) {
		c.t.Fatalf("ERROR message %q does not contain %q", m, msg)
	}
	c.expectClosed()
	return f
}

// expectClosed reads until the connection ends, then closes the client's
// side as a client would; any frame is an error.
func (c *client) expectClosed() {
	c.t.Helper()
	f, err := c.next()
	c.nc.Close()
	if err == nil {
		c.t.Fatalf("got %s, want the connection closed", dump(f))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
		return
	}
	c.t.Fatalf("want the connection closed, got %v", err)
}

// expectNothing checks that no frame arrives for a short while.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	if len(c.in) == 0 {
		n, err := c.nc.Read(c.buf)
		if n > 0 {
			c.t.Fatalf("unexpected bytes %q", c.buf[:n])
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			c.t.Fatalf("want silence, got %v", err)
		}
		return
	}
	c.t.Fatalf("unexpected buffered bytes %q", c.in)
}

func dump(f *stomp.Frame) string {
	return string(stomp.AppendFrame(nil, f, stomp.V12))
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
