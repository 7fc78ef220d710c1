package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
)

// wsEndpoint is the upgrade path as the broker wires it: origin check (403),
// then the ticket (401), then CONNECT over the socket, answered with
// CONNECTED or an ERROR frame carrying the auth error's code and message.
func wsEndpoint(t *testing.T, fx *fixture) *httptest.Server {
	upgrader := websocket.Upgrader{Subprotocols: []string{"v12.stomp"}, CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fx.svc.CheckOrigin(r) {
			writeError(w, ErrOriginNotAllowed)
			return
		}
		sub, err := fx.svc.AuthenticateUpgrade(r)
		if err != nil {
			writeError(w, err)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		_, f, err := stomp.NewDecoder(stomp.Limits{}).Decode(msg)
		if err != nil || f == nil {
			t.Errorf("server decode: %v", err)
			return
		}
		reply := &stomp.Frame{Command: stomp.CONNECTED}
		if _, err := fx.svc.Connect(f, sub); err != nil {
			var e *Error
			errors.As(err, &e)
			reply = &stomp.Frame{Command: stomp.ERROR}
			reply.Add("code", e.Code())
			reply.Add("message", e.Error())
		}
		conn.WriteMessage(websocket.TextMessage, stomp.AppendFrame(nil, reply, stomp.V12))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebSocketUpgradeEndToEnd(t *testing.T) {
	fx := newFixture(t, nil)
	ws := wsEndpoint(t, fx)
	url := "ws" + strings.TrimPrefix(ws.URL, "http") + "/ws?ticket="
	alice := fx.login(t, "alice@example.com").AccessToken
	bob := fx.login(t, "bob@example.com").AccessToken
	tests := []struct {
		name   string
		ticket string
		origin string
		token  string
		status int    // of the upgrade; 101 when it succeeds
		reply  string // the first line and the code/message headers of the answer to CONNECT
	}{
		{"ticket and token of alice", fx.ticket(t, alice), "", alice, 101, "CONNECTED"},
		{"allowed origin", fx.ticket(t, alice), "https://app.example.com:3000", alice, 101, "CONNECTED"},
		{"token of another subject", fx.ticket(t, alice), "", bob, 101, "ERROR code:unauthorized message:the access token's subject is not the ticket's"},
		{"foreign origin keeps the ticket", fx.ticket(t, alice), "https://evil.example", alice, 403, ""},
		{"bad ticket", "nope", "", alice, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Sec-WebSocket-Protocol": {"v12.stomp"}}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(url+tt.ticket, h)
			if resp != nil {
				resp.Body.Close()
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("upgrade: %v %v, want %d", resp, err, tt.status)
			}
			if conn == nil {
				return
			}
			defer conn.Close()
			connect := frame(stomp.CONNECT, "accept-version", "1.2", "host", "stompd", "Authorization", "Bearer "+tt.token)
			if err := conn.WriteMessage(websocket.TextMessage, stomp.AppendFrame(nil, connect, stomp.V12)); err != nil {
				t.Fatal(err)
			}
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			_, f, err := stomp.NewDecoder(stomp.Limits{}).Decode(msg)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Command.String()
			if f.Has("code") {
				got += " code:" + f.Value("code") + " message:" + f.Value("message")
			}
			if got != tt.reply {
				t.Fatalf("reply %q, want %q", got, tt.reply)
			}
		})
	}
	// The ticket refused for its origin was not used up.
	if sub, err := fx.svc.AuthenticateUpgrade(upgradeRequest("?ticket=" + tests[3].ticket)); err != nil || sub != "u-alice" {
		t.Fatalf("ticket after a refused origin: %q %v", sub, err)
	}
}
