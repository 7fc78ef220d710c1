package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
)

// waitFor bounds every wait of these tests for a frame or a close.
const waitFor = 5 * time.Second

// peer is a raw STOMP client over TCP or WebSocket: the tests write exact
// frames and read exactly what the server sends.
type peer struct {
	t     testing.TB
	write func([]byte) error
	read  func() ([]byte, error) // the next chunk of bytes, with a deadline
	close func()
	dec   *stomp.Decoder
	buf   []byte
}

func newPeer(t testing.TB, write func([]byte) error, read func() ([]byte, error), close func()) *peer {
	p := &peer{t: t, write: write, read: read, close: close, dec: stomp.NewDecoder(stomp.Limits{MaxBodySize: -1})}
	t.Cleanup(close)
	return p
}

func dialTCP(t testing.TB, addr string) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	return newPeer(t,
		func(b []byte) error { _, err := nc.Write(b); return err },
		func() ([]byte, error) {
			nc.SetReadDeadline(time.Now().Add(waitFor))
			n, err := nc.Read(chunk)
			return chunk[:n], err
		},
		func() { nc.Close() })
}

// dialWS upgrades with the given query and headers; it returns the peer,
// or the HTTP status of a refused upgrade.
func dialWS(t testing.TB, url string, header http.Header) (*peer, int) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}, HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		t.Fatal(err)
	}
	return newPeer(t,
		func(b []byte) error { return ws.WriteMessage(websocket.TextMessage, b) },
		func() ([]byte, error) {
			ws.SetReadDeadline(time.Now().Add(waitFor))
			_, b, err := ws.ReadMessage()
			return b, err
		},
		func() { ws.Close() }), http.StatusSwitchingProtocols
}

// frame builds a frame from "key:value" header strings.
func frame(cmd stomp.Command, body string, headers ...string) []byte {
	f := &stomp.Frame{Command: cmd, Body: []byte(body)}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		f.Add(k, v)
	}
	return stomp.AppendFrame(nil, f, stomp.V12)
}

func (p *peer) send(cmd stomp.Command, body string, headers ...string) {
	p.t.Helper()
	if err := p.write(frame(cmd, body, headers...)); err != nil {
		p.t.Fatalf("write %v: %v", cmd, err)
	}
}

// next returns the next frame, or the error that ended the connection.
func (p *peer) next() (*stomp.Frame, error) {
	for {
		for len(p.buf) > 0 {
			n, f, err := p.dec.Decode(p.buf)
			p.buf = p.buf[n:]
			if err != nil {
				return nil, err
			}
			if f != nil {
				return f.Clone(), nil
			}
		}
		b, err := p.read()
		if err != nil {
			return nil, err
		}
		p.buf = append(p.buf[:0], b...)
	}
}

// expect returns the next frame and fails unless it is a cmd.
func (p *peer) expect(cmd stomp.Command) *stomp.Frame {
	p.t.Helper()
	f, err := p.next()
	if err != nil {
		p.t.Fatalf("waiting for %v: %v", cmd, err)
	}
	if f.Command != cmd {
		p.t.Fatalf("got %v (%s: %s), want %v", f.Command, f.Value("code"), f.Value("message"), cmd)
	}
	return f
}

// expectError reads an ERROR frame, checks its code and message, and that
// the server then closes the connection.
func (p *peer) expectError(code, message string) {
	p.t.Helper()
	f := p.expect(stomp.ERROR)
	if f.Value("code") != code || !strings.Contains(f.Value("message"), message) {
		p.t.Errorf("ERROR code %q message %q, want code %q message containing %q", f.Value("code"), f.Value("message"), code, message)
	}
	p.expectClosed()
}

// expectClosed fails unless the server closes the connection without
// sending another frame.
func (p *peer) expectClosed() {
	p.t.Helper()
	f, err := p.next()
	if err == nil {
		p.t.Fatalf("got %v after the connection should have closed", f.Command)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatal("the server did not close the connection")
	}
}

// connect sends CONNECT with the given headers and expects CONNECTED.
func (p *peer) connect(headers ...string) *stomp.Frame {
	p.t.Helper()
	p.send(stomp.CONNECT, "", append([]string{"accept-version:1.2", "host:localhost", "heart-beat:0,0"}, headers...)...)
	return p.expect(stomp.CONNECTED)
}

// httpJSON does a request with a JSON body and decodes a JSON answer into
// out (when out is not nil); it returns the response.
func httpJSON(t testing.TB, method, url string, in any, out any, header ...string) *http.Response {
	t.Helper()
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case rawJSON:
		body = strings.NewReader(string(in))
	default:
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s %s: decoding the answer: %v", method, url, err)
		}
	}
	return resp
}
