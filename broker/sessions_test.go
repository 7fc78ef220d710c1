package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp/stomptest"
)

// tlsServers serves h's broker over TLS: WebSocket at the returned wss://
// URL, and STOMP over TCP at the returned address, both with httptest's
// certificate; it returns the client configuration that trusts it.
func (h *harness) tlsServers(t *testing.T) (wsURL, stompAddr string, client *tls.Config) {
	t.Helper()
	srv := httptest.NewTLSServer(h.b)
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.b.Serve(tls.NewListener(l, srv.TLS)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		h.b.Shutdown(ctx) // Serve returns once the broker shuts down
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve over TLS: %v", err)
		}
	})
	client = srv.Client().Transport.(*http.Transport).TLSClientConfig
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws", l.Addr().String(), client
}

// TestSessionsListEveryTransport connects one session over each transport
// (TCP, WebSocket and SockJS in the clear, TCP and WebSocket over TLS) at
// times a test clock sets, and checks what Sessions says of each: its
// user, transport, TLS, remote address (for an upgrade, the one
// ClientAddress names), since and subscriptions; that a connection not
// yet CONNECTed is left out; then its filter and limit, and that a closed
// session disappears.
func TestSessionsListEveryTransport(t *testing.T) {
	clock := stomptest.NewClock()
	h := newHarness(t, Options{Now: clock.Now, ClientAddress: func(*http.Request) string { return "203.0.113.7" }})
	wssURL, tlsAddr, tlsConf := h.tlsServers(t)

	ada := h.connect(t, "ada")
	ada.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a") + frame("SUBSCRIBE", "", "id:2", "destination:/queue/b", "receipt:r"))
	ada.expect("RECEIPT", "receipt-id:r")
	clock.Advance(time.Second)
	bob, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.send(frame("CONNECT", "", "accept-version:1.2", "host:h", "login:bob"))
	bob.expect("CONNECTED")
	clock.Advance(time.Second)
	connectSockJS(t, h.sockjsServer(t), "")
	clock.Advance(time.Second)
	nc, err := tls.Dial("tcp", tlsAddr, tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	carol := newClient(t, nc)
	carol.write(frame("CONNECT", "", "accept-version:1.2", "host:h", "login:carol"))
	carol.expect("CONNECTED")
	clock.Advance(time.Second)
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}, HandshakeTimeout: wait, TLSClientConfig: tlsConf}
	ws, _, err := d.Dial(wssURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	dave := newClient(t, stomptest.NewMessageConn(ws))
	dave.write(frame("CONNECT", "", "accept-version:1.2", "host:h", "login:dave"))
	dave.expect("CONNECTED")
	h.dial(t) // connected, never CONNECTed

	at := func(s int) time.Time { return stomptest.Epoch.Add(time.Duration(s) * time.Second) }
	want := []Session{
		{Subject: "ada", Transport: TransportTCP, Remote: nc.LocalAddr().String(), Since: at(0), Subscriptions: 2},
		{Subject: "bob", Transport: TransportWebSocket, Remote: "203.0.113.7", Since: at(1)},
		{Subject: "anonymous", Transport: TransportSockJS, Remote: "203.0.113.7", Since: at(2)},
		{Subject: "carol", Transport: TransportTCP, TLS: true, Remote: nc.LocalAddr().String(), Since: at(3)},
		{Subject: "dave", Transport: TransportWebSocket, TLS: true, Remote: "203.0.113.7", Since: at(4)},
	}
	got, total := h.b.Sessions(SessionQuery{})
	want[0].Remote = got[0].Remote // ada's port is the test client's own
	if !strings.HasPrefix(got[0].Remote, "127.0.0.1:") || total != len(want) || !equalSessions(got, want) {
		t.Fatalf("Sessions() = %+v, %d; want %+v", got, total, want)
	}
	if got, total := h.b.Sessions(SessionQuery{Subject: "bob"}); total != 1 || !equalSessions(got, want[1:2]) {
		t.Errorf("Sessions(bob) = %+v, %d; want bob's", got, total)
	}
	if got, total := h.b.Sessions(SessionQuery{Limit: 2}); total != len(want) || !equalSessions(got, want[:2]) {
		t.Errorf("Sessions(limit 2) = %+v, %d; want the two oldest of %d", got, total, len(want))
	}

	bob.send(frame("DISCONNECT", "", "receipt:bye"))
	bob.expect("RECEIPT", "receipt-id:bye")
	ada.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u"))
	ada.expect("RECEIPT", "receipt-id:u")
	waitFor(t, "bob's closed session to disappear", func() bool {
		got, _ := h.b.Sessions(SessionQuery{Subject: "bob"})
		return len(got) == 0
	})
	if got, _ := h.b.Sessions(SessionQuery{Subject: "ada"}); len(got) != 1 || got[0].Subscriptions != 1 {
		t.Errorf("ada after an UNSUBSCRIBE: %+v, want 1 subscription", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, total := h.b.Sessions(SessionQuery{}); total != 0 {
		t.Errorf("after Shutdown: %+v", got)
	}
}

// equalSessions compares sessions, their times by instant.
func equalSessions(a, b []Session) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Since.Equal(y.Since) {
			return false
		}
		x.Since, y.Since = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}
