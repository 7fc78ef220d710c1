package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// dripPace is how often the slow client of these tests sends a byte.
const dripPace = 50 * time.Millisecond

// TestHTTPDrippedBodyIsCut sends a login body one byte per 50 ms, to a
// server that allows 300 ms per request, and checks the server ends the
// request, with a 408 or by closing, long before the 10 s the whole body
// would take.
func TestHTTPDrippedBodyIsCut(t *testing.T) {
	ts := startServer(t, "--http-read-timeout", "300ms")
	const size = 200 // bytes, 10 s at dripPace
	nc := dialHTTP(t, ts)
	if _, err := io.WriteString(nc, "POST /auth/login HTTP/1.1\r\nHost: stompd\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for sent := 0; sent < size; sent++ {
		if _, err := nc.Write([]byte{' '}); err != nil {
			t.Logf("cut after %d bytes, %v: write: %v", sent, time.Since(start).Round(time.Millisecond), err)
			return
		}
		nc.SetReadDeadline(time.Now().Add(dripPace))
		answer := make([]byte, 512)
		n, err := nc.Read(answer)
		if n > 0 || !isTimeout(err) {
			t.Logf("cut after %d bytes, %v: %q, %v", sent+1, time.Since(start).Round(time.Millisecond), answer[:n], err)
			if n > 0 && !strings.HasPrefix(string(answer[:n]), "HTTP/1.1 408 ") {
				t.Errorf("answered %q, want 408", answer[:n])
			}
			return
		}
	}
	t.Fatalf("the server still read a body dripped for %v with --http-read-timeout 300ms", time.Since(start).Round(time.Millisecond))
}

// TestHTTPIdleKeepAliveIsClosed checks that the server closes a keep-alive
// connection that stays idle past --http-idle-timeout.
func TestHTTPIdleKeepAliveIsClosed(t *testing.T) {
	ts := startServer(t, "--http-idle-timeout", "300ms")
	nc := dialHTTP(t, ts)
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: stompd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("/healthz: %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle keep-alive: read %d bytes, %v; want the server to close it", n, err)
	}
}

// TestHTTPOversizedBodyIs413 checks a login body over the 64 KiB cap is
// answered 413 with a JSON error, and counted.
func TestHTTPOversizedBodyIs413(t *testing.T) {
	ts := startServer(t)
	body := `{"email":"ada@example.com","password":"` + strings.Repeat("x", 1<<20) + `"}`
	resp, err := http.Post(ts.url+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error == "" || e.Message == "" {
		t.Errorf("status %d, body %+v (%v); want 413 with an error and a message", resp.StatusCode, e, err)
	}
	if got := metricValue(t, ts, `stompd_auth_failures_total{reason="oversized",stage="login"}`); got != "1" {
		t.Errorf("oversized login counted %q times, want 1", got)
	}
}

// TestWebSocketOutlivesHTTPTimeouts checks that the HTTP server's read,
// write and idle timeouts end at the upgrade: a WebSocket and a SockJS
// session still carry frames well after all three have passed.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ts := startServer(t, "--http-read-timeout", timeout.String(), "--http-write-timeout", timeout.String(), "--http-idle-timeout", timeout.String())
	tok := ts.login(t, "ada")
	ws := ts.connectWS(t, tok.Access)
	ws.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/later", "receipt:s")
	ws.Expect(stomp.RECEIPT)
	sockURL := strings.Replace(ts.wsURL, "/ws", "/ws/123/abc/websocket", 1)
	sock, status := dialWS(t, sockURL+"?ticket="+ts.ticket(t, tok.Access), nil)
	if sock == nil {
		t.Fatalf("SockJS upgrade: %d", status)
	}
	if b, err := sock.ReadBytes(); err != nil || string(b) != "o" {
		t.Fatalf("SockJS open frame: %q %v", b, err)
	}

	time.Sleep(5 * timeout)
	ws.Send(stomp.SEND, "still here", "destination:/topic/later")
	if f := ws.Expect(stomp.MESSAGE); string(f.Body) != "still here" {
		t.Errorf("WebSocket MESSAGE body %q", f.Body)
	}
	connect, _ := json.Marshal([]string{stomptest.Frame("CONNECT", "", "accept-version:1.2", "host:stompd", "Authorization:Bearer "+tok.Access)})
	if _, err := sock.Conn.Write(connect); err != nil {
		t.Fatal(err)
	}
	if b, err := sock.ReadBytes(); err != nil || !strings.HasPrefix(string(b), `a["CONNECTED`) {
		t.Errorf("SockJS CONNECT answered %q, %v", b, err)
	}
}

func dialHTTP(t *testing.T, ts *testServer) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", ts.httpL.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// metricValue returns the value of one series of the server's /metrics,
// or "" when it is absent.
func metricValue(t *testing.T, ts *testServer, series string) string {
	t.Helper()
	return sampleValue(metricsText(t, ts.url), series)
}

// sampleValue returns the value of one series in a /metrics text, or ""
// when it is absent.
func sampleValue(text, series string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
