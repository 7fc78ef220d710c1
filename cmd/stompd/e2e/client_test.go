package e2e_test

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// ioTimeout bounds every read and write of the workload's clients.
const ioTimeout = 15 * time.Second

// stompClient is stomptest's raw client with the steps of the workload,
// and a name for its failures.
type stompClient struct {
	*stomptest.Client
	t    *testing.T
	name string
}

func newClient(t *testing.T, name string, nc net.Conn) *stompClient {
	c := &stompClient{Client: stomptest.NewClient(t, nc), t: t, name: name}
	c.Timeout = ioTimeout
	return c
}

// dialTCP opens a STOMP connection over TCP and sends nothing yet.
func dialTCP(t *testing.T, name, addr string) (*stompClient, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return newClient(t, name, conn), conn
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
	return newClient(t, name, stomptest.NewMessageConn(conn))
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

// connect sends CONNECT with the access token as a Bearer Authorization
// header and waits for CONNECTED.
func (c *stompClient) connect(token string) {
	c.t.Helper()
	c.Connect("Authorization:Bearer " + token)
}

// subscribe subscribes to dest and waits for the receipt.
func (c *stompClient) subscribe(id, dest string) {
	c.t.Helper()
	c.Send(stomp.SUBSCRIBE, "", "id:"+id, "destination:"+dest, "ack:auto", "receipt:sub-"+id)
	c.expectReceipt("sub-" + id)
}

// publish sends n messages with body to dest, the last asking for a
// receipt, and waits for it: then all n have taken effect.
func (c *stompClient) publish(dest string, n int, body []byte) {
	c.t.Helper()
	for i := range n {
		headers := []string{"destination:" + dest, "content-type:text/plain"}
		if i == n-1 {
			headers = append(headers, "receipt:last-"+dest)
		}
		c.Send(stomp.SEND, string(body), headers...)
	}
	c.expectReceipt("last-" + dest)
}

func (c *stompClient) expectReceipt(id string) {
	c.t.Helper()
	if got := c.Expect(stomp.RECEIPT).Value("receipt-id"); got != id {
		c.t.Fatalf("%s: receipt-id %q, want %q", c.name, got, id)
	}
}

// receive reads n MESSAGE frames from dest.
func (c *stompClient) receive(dest string, n int) {
	c.t.Helper()
	for i := range n {
		if got := c.Expect(stomp.MESSAGE).Value("destination"); got != dest {
			c.t.Fatalf("%s: message %d from %q, want %q", c.name, i, got, dest)
		}
	}
}
