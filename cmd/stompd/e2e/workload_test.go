package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// The scripted workload's sizes.
const (
	topicMessages = 20 // sent over TCP to /topic/chat, read over WebSocket
	queueMessages = 10 // sent over WebSocket to /queue/jobs, read over TCP
	// floodMessages of floodBody bytes go to /topic/flood, whose only
	// subscriber never reads: 16 MiB, far more than the kernel's socket
	// buffers and maxPendingBytes can hold, so it is cut as a slow consumer.
	floodMessages   = 32
	floodBody       = 512 << 10
	maxPendingBytes = 64 << 10
)

// runWorkload drives stompd through every stage the dashboard shows: one
// login and one failed login, a ticket and a WebSocket upgrade, one upgrade
// with a bad ticket, two TCP connections, topic and queue traffic, and one
// slow consumer. It leaves one TCP and one WebSocket connection open, with
// one subscription each.
func runWorkload(t *testing.T, s *stompdServer) {
	t.Helper()
	token := s.login(t)
	s.failLogin(t)
	// A plain user may not use the admin API.
	s.post(t, "/admin/keys/rotate", token, nil, http.StatusForbidden, nil)
	ticket := s.ticket(t, token)
	if _, status, err := wsDial(s.httpAddr, "not-a-ticket"); err == nil || status != http.StatusUnauthorized {
		t.Fatalf("upgrade with a bad ticket: HTTP %d, %v; want 401", status, err)
	}

	ws := dialWebSocket(t, "websocket client", s.httpAddr, ticket)
	ws.connect(token)
	tcp, _ := dialTCP(t, "tcp client", s.stompAddr)
	tcp.connect(token)
	slow, slowConn := dialTCP(t, "slow consumer", s.stompAddr)
	slow.connect(token)
	slow.subscribe("0", "/topic/flood")

	ws.subscribe("0", "/topic/chat")
	tcp.subscribe("0", "/queue/jobs")
	tcp.publish("/topic/chat", topicMessages, []byte("hello"))
	ws.receive("/topic/chat", topicMessages)
	ws.publish("/queue/jobs", queueMessages, []byte("job"))
	tcp.receive("/queue/jobs", queueMessages)

	tcp.publish("/topic/flood", floodMessages, bytes.Repeat([]byte("x"), floodBody))
	expectClosed(t, slowConn)
}

// expectClosed reads what the slow consumer was sent until the server
// closes the connection.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, conn)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("slow consumer: still connected after reading %d bytes", n)
	}
}

// login logs the workload's user in and returns the access token.
func (s *stompdServer) login(t *testing.T) string {
	t.Helper()
	var r struct {
		AccessToken string `json:"access_token"`
	}
	s.post(t, "/auth/login", "", map[string]string{"email": userEmail, "password": userPassword}, http.StatusOK, &r)
	if r.AccessToken == "" {
		t.Fatal("login: no access_token")
	}
	return r.AccessToken
}

// failLogin tries the workload's user with a wrong password.
func (s *stompdServer) failLogin(t *testing.T) {
	t.Helper()
	s.post(t, "/auth/login", "", map[string]string{"email": userEmail, "password": "wrong " + userPassword}, http.StatusUnauthorized, nil)
}

// ticket trades the access token for a WebSocket upgrade ticket.
func (s *stompdServer) ticket(t *testing.T, token string) string {
	t.Helper()
	var r struct {
		Ticket string `json:"ticket"`
	}
	s.post(t, "/auth/ticket", token, nil, http.StatusOK, &r)
	if r.Ticket == "" {
		t.Fatal("ticket: no ticket")
	}
	return r.Ticket
}

// post sends body as JSON (nothing when body is nil), with token as a Bearer Authorization when set,
// checks the status and decodes the answer into out when out is not nil.
func (s *stompdServer) post(t *testing.T, path, token string, body any, status int, out any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+s.httpAddr+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("POST %s: %s %s, want %d", path, resp.Status, answer, status)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("POST %s: %v in %s", path, err, answer)
		}
	}
}
