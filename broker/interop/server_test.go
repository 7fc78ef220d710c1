package interop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp/stomptest"
)

// shutdownTimeout bounds the broker's and the HTTP server's shutdown.
const shutdownTimeout = 10 * time.Second

// server is a running broker: STOMP over TCP at tcpAddr, STOMP over
// WebSocket at wsURL.
type server struct {
	tcpAddr string
	wsURL   string
}

// startBroker runs a broker with default options on two listeners on
// 127.0.0.1 port 0. At cleanup it shuts the broker down, then checks that
// no goroutine is left; the broker's log is printed only if the test failed.
func startBroker(t *testing.T) server {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOptions...) }) // registered first, runs last
	srv, _ := serveBroker(t, broker.Options{HistorySize: historySize})
	return srv
}

// historySize is how many messages each topic keeps, as stompd's default
// does, so that clients can resume.
const historySize = 100

// leakOptions name the goroutines goleak may find at a test's end: a Redis
// Cluster client's, which closes replaced connections a little later.
var leakOptions = []goleak.Option{redistest.IgnoreRueidisRefresh()}

// serveBroker runs a broker with o and the interop settings on two
// listeners on 127.0.0.1 port 0, and shuts it down at cleanup.
func serveBroker(t *testing.T, o broker.Options) (server, *broker.Broker) {
	t.Helper()
	logs := new(stomptest.Logs)
	o.Logger = logs.Logger(slog.LevelDebug)
	// The clients log in as whoever their login header names.
	o.AllowAnonymous = true
	// Node's ws client sends no Origin header.
	o.CheckOrigin = func(*http.Request) bool { return true }
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tcpL := listen(t)
	httpL := listen(t)
	mux := http.NewServeMux()
	mux.Handle("/ws", b)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	served := make(chan error, 2)
	go func() { served <- b.Serve(tcpL) }()
	go func() { served <- hs.Serve(httpL) }()

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http server shutdown: %v", err)
		}
		for range 2 {
			if err := <-served; !errors.Is(err, broker.ErrServerClosed) && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve returned %v, want a server-closed error", err)
			}
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs)
		}
	})
	return server{tcpAddr: tcpL.Addr().String(), wsURL: "ws://" + httpL.Addr().String() + "/ws"}, b
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
