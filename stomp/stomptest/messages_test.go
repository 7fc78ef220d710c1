package stomptest_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

var _ stomptest.WebSocket = (*websocket.Conn)(nil)

// TestMessageConn has a Client talk through a real WebSocket to a server
// that echoes the first message as a text message in two parts, sends a
// binary one, and closes: the Client reads the frames across the messages,
// with the type of each, and then sees the connection end.
func TestMessageConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, m, err := ws.ReadMessage()
		if err != nil {
			return
		}
		ws.WriteMessage(websocket.TextMessage, m[:4])
		ws.WriteMessage(websocket.TextMessage, m[4:])
		ws.WriteMessage(websocket.BinaryMessage, []byte(stomptest.Frame("MESSAGE", "\xff")))
		ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mc := stomptest.NewMessageConn(ws)
	c := stomptest.NewClient(t, mc)
	c.Write(stomptest.Frame("RECEIPT", "", "receipt-id:1"))
	c.Expect(stomp.RECEIPT, "receipt-id:1")
	if mc.Type != stomptest.TextMessage {
		t.Errorf("RECEIPT came in a message of type %d", mc.Type)
	}
	if f := c.Expect(stomp.MESSAGE); string(f.Body) != "\xff" || mc.Type != stomptest.BinaryMessage {
		t.Errorf("MESSAGE %q in a message of type %d", f.Body, mc.Type)
	}
	c.ExpectClosed()
	if !websocket.IsCloseError(mc.End, websocket.CloseNormalClosure) {
		t.Errorf("the socket ended with %v, want a normal close", mc.End)
	}
}

func TestClock(t *testing.T) {
	c := stomptest.NewClock()
	if !c.Now().Equal(stomptest.Epoch) {
		t.Fatalf("a new clock shows %v, want %v", c.Now(), stomptest.Epoch)
	}
	c.Advance(time.Hour)
	if got := c.Now().Sub(stomptest.Epoch); got != time.Hour {
		t.Fatalf("advanced by %v, want 1h", got)
	}
}

// TestLogs checks that Logs takes records from several goroutines whole,
// at the logger's level and above.
func TestLogs(t *testing.T) {
	var logs stomptest.Logs
	log := logs.Logger(slog.LevelInfo)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			log.Info("open", "user", "alice")
			log.Debug("hidden")
		})
	}
	wg.Wait()
	out := logs.String()
	if n := strings.Count(out, "level=INFO msg=open user=alice\n"); n != 4 || strings.Contains(out, "hidden") {
		t.Fatalf("logs:\n%s", out)
	}
}
