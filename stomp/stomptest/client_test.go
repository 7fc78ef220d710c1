package stomptest

import (
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// scripted serves one connection on a real 127.0.0.1 listener: it reads
// whatever the client sends, writes the replies, and then, when hangUp is
// set, closes the connection. It returns a Client dialled to it.
func scripted(t *testing.T, hangUp bool, replies ...string) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		go func() { nc.Read(make([]byte, 4096)) }()
		for _, r := range replies {
			if _, err := nc.Write([]byte(r)); err != nil {
				return
			}
		}
		if !hangUp {
			nc.SetReadDeadline(time.Now().Add(Timeout))
			nc.Read(make([]byte, 1)) // until the client ends
		}
	}()
	return Dial(t, l.Addr().String())
}

// TestClientDecodesAsConnectedSays checks that a Client reads a frame split
// over several writes, decodes as STOMP 1.0 until CONNECTED (the backslash
// stays) and as the version CONNECTED names afterwards (it is unescaped),
// and skips heart-beats.
func TestClientDecodesAsConnectedSays(t *testing.T) {
	c := scripted(t, true,
		"ERROR\nmessage:a\\cb\n\n\x00",
		"CONN", "ECTED\nversion:1.2\n\n\x00\n\n",
		"MESSAGE\nnote:a\\cb\n\nhi\x00")
	if got := c.Expect(stomp.ERROR).Value("message"); got != `a\cb` {
		t.Errorf("before CONNECTED: message %q, want it as sent", got)
	}
	c.Expect(stomp.CONNECTED, "version:1.2")
	f := c.Expect(stomp.MESSAGE, "note:a:b")
	if string(f.Body) != "hi" {
		t.Errorf("body %q", f.Body)
	}
	c.ExpectClosed()
}

// TestClientSendEscapes checks that Send encodes as STOMP 1.2 does and
// Frame writes what it is given.
func TestClientSendEscapes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := Dial(t, l.Addr().String())
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c.Send(stomp.SEND, "b", "destination:/q/a", "note:x:y")
	c.Write(Frame("SEND", "", "no-colon"))
	want := "SEND\ndestination:/q/a\nnote:x\\cy\n\nb\x00SEND\nno-colon\n\n\x00"
	got := make([]byte, 0, len(want))
	nc.SetReadDeadline(time.Now().Add(Timeout))
	for len(got) < len(want) {
		b := make([]byte, len(want))
		n, err := nc.Read(b)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, b[:n]...)
	}
	if string(got) != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
}

// failures runs f with a TB that records the failures f reports instead of
// failing t, and returns them.
func failures(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as testing's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestClientExpectationsFail checks that each expectation fails on what it
// must not accept.
func TestClientExpectationsFail(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
		hangUp  bool
		expect  func(c *Client)
		want    string
	}{
		{"another command", []string{"RECEIPT\nreceipt-id:1\n\n\x00"}, true,
			func(c *Client) { c.Expect(stomp.MESSAGE) }, "want MESSAGE"},
		{"another header value", []string{"RECEIPT\nreceipt-id:1\n\n\x00"}, true,
			func(c *Client) { c.Expect(stomp.RECEIPT, "receipt-id:2") }, `receipt-id = "1", want "2"`},
		{"another error code", []string{"ERROR\ncode:forbidden\nmessage:no\n\n\x00"}, true,
			func(c *Client) { c.ExpectError("unauthorized", "no") }, "code"},
		{"another error message", []string{"ERROR\ncode:forbidden\nmessage:no\n\n\x00"}, true,
			func(c *Client) { c.ExpectError("forbidden", "yes") }, `does not contain "yes"`},
		{"a frame before the close", []string{"RECEIPT\nreceipt-id:1\n\n\x00"}, true,
			func(c *Client) { c.ExpectClosed() }, "want the connection closed"},
		{"no close", nil, false,
			func(c *Client) { c.Timeout = 50 * time.Millisecond; c.ExpectClosed() }, "timeout"},
		{"bytes within the wait", []string{"\n"}, false,
			func(c *Client) { c.ExpectNothing(Timeout) }, "unexpected bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scripted(t, tt.hangUp, tt.replies...)
			got := failures(t, func(tb testing.TB) {
				c.t = tb
				tt.expect(c)
			})
			if !strings.Contains(got, tt.want) {
				t.Fatalf("failure %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// TestImportsOnlyStomp keeps the kit importable from the tests of every
// package: of stompd's packages it may import stomp alone.
func TestImportsOnlyStomp(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/stompd/stompd/"
	for _, dep := range strings.Fields(string(out)) {
		if name, internal := strings.CutPrefix(dep, module); internal && name != "stomp" && name != "stomp/stomptest" {
			t.Errorf("stomptest imports %s", name)
		}
	}
}
