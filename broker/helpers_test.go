package broker

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every blocking step of a test; generous, since the machine is
// shared.
const wait = stomptest.Timeout

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
	b := anonymousBroker(o)
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

// anonymousBroker returns New(o) with AllowAnonymous: most tests are about
// anything but authentication, and connect as whoever their login names.
func anonymousBroker(o Options) *Broker {
	o.AllowAnonymous = true
	b, err := New(o)
	if err != nil {
		panic(err) // AllowAnonymous leaves New nothing to refuse
	}
	return b
}

// frame builds a raw frame: headers are "key:value" strings, written as is.
var frame = stomptest.Frame

// dump is a frame's wire form, for failure messages.
var dump = stomptest.Dump

// client is stomptest's raw STOMP client, under the names these tests use.
type client struct {
	*stomptest.Client
	t *testing.T
}

func (h *harness) dial(t *testing.T) *client {
	t.Helper()
	return &client{stomptest.Dial(t, h.addr), t}
}

// newClient is a raw STOMP client on nc, closed when the test ends.
func newClient(t *testing.T, nc net.Conn) *client {
	return &client{stomptest.NewClient(t, nc), t}
}

// connect opens a STOMP 1.2 session as login.
func (h *harness) connect(t *testing.T, login string, headers ...string) *client {
	t.Helper()
	c := h.dial(t)
	c.write(frame("CONNECT", "", append([]string{"accept-version:1.2", "host:test", "login:" + login}, headers...)...))
	c.expect("CONNECTED")
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

func (c *client) write(s string)                { c.t.Helper(); c.Write(s) }
func (c *client) next() (*stomp.Frame, error)   { return c.Next() }
func (c *client) read() *stomp.Frame            { c.t.Helper(); return c.Read() }
func (c *client) expectClosed()                 { c.t.Helper(); c.ExpectClosed() }
func (c *client) expectNothing(d time.Duration) { c.t.Helper(); c.ExpectNothing(d) }

// expectError reads an ERROR with the given code and a message containing
// msg, then checks that the connection is closed.
func (c *client) expectError(code, msg string) *stomp.Frame {
	c.t.Helper()
	return c.ExpectError(code, msg)
}

// expect reads the next frame and checks its command and headers
// ("key:value" strings).
func (c *client) expect(cmd string, headers ...string) *stomp.Frame {
	c.t.Helper()
	return c.Expect(commands[cmd], headers...)
}

// commands are the commands by name.
var commands = func() map[string]stomp.Command {
	m := make(map[string]stomp.Command)
	for _, c := range stomp.Commands() {
		m[c.String()] = c
	}
	return m
}()

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
