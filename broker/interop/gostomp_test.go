package interop

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// TestGoStomp runs every scenario with the go-stomp client over STOMP/TCP.
func TestGoStomp(t *testing.T) {
	srv := startBroker(t)
	runScenarios(t, client{
		name: "gostomp",
		dial: func(t *testing.T) session { return dialGoStomp(t, srv.tcpAddr) },
	})
}

// goStomp is a session over one go-stomp connection.
type goStomp struct {
	conn    *stomp.Conn
	headers map[string]string
	subs    map[string]*stomp.Subscription
	txs     map[string]*stomp.Transaction
	beats   chan struct{}
}

// beatConn tells of the broker's heart-beats, which go-stomp swallows: an
// idle session's heart-beat arrives alone, as a read of nothing but EOLs.
type beatConn struct {
	net.Conn
	beats chan struct{}
}

func (c beatConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && len(bytes.Trim(p[:n], "\r\n")) == 0 {
		select {
		case c.beats <- struct{}{}:
		default:
		}
	}
	return n, err
}

func dialGoStomp(t *testing.T, addr string) session {
	t.Helper()
	s := &goStomp{subs: map[string]*stomp.Subscription{}, txs: map[string]*stomp.Transaction{}}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.beats = make(chan struct{}, 1)
	conn, err := stomp.Connect(beatConn{Conn: nc, beats: s.beats},
		stomp.ConnOpt.Login(login, passcode),
		stomp.ConnOpt.AcceptVersion(stomp.V12),
		stomp.ConnOpt.HeartBeat(heartBeat, heartBeat),
		stomp.ConnOpt.RcvReceiptTimeout(waitTimeout),
		stomp.ConnOpt.DisconnectReceiptTimeout(waitTimeout),
		stomp.ConnOpt.Logger(newTestLogger(t)),
		stomp.ConnOpt.ResponseHeaders(func(h *frame.Header) { s.headers = headerMap(h) }),
	)
	if err != nil {
		nc.Close()
		t.Fatalf("go-stomp connect to %s: %v", addr, err)
	}
	s.conn = conn
	t.Cleanup(func() {
		if err := conn.Disconnect(); err != nil {
			t.Errorf("DISCONNECT at cleanup: %v", err)
			_ = conn.MustDisconnect()
		}
	})
	return s
}

// headerMap flattens h; for a repeated header the first value counts, as
// STOMP 1.2 says.
func headerMap(h *frame.Header) map[string]string {
	m := make(map[string]string, h.Len())
	for i := range h.Len() {
		k, v := h.GetAt(i)
		if _, seen := m[k]; !seen {
			m[k] = v
		}
	}
	return m
}

func (s *goStomp) connected() map[string]string { return s.headers }

func (s *goStomp) heartBeat() error {
	select {
	case <-s.beats:
		return nil
	case <-time.After(waitTimeout):
		return fmt.Errorf("none within %v", waitTimeout)
	}
}

func (s *goStomp) subscribe(dest, ack string, headers map[string]string) (string, error) {
	mode := map[string]stomp.AckMode{"auto": stomp.AckAuto, "client": stomp.AckClient, "client-individual": stomp.AckClientIndividual}[ack]
	var opts []func(*frame.Frame) error
	for k, v := range headers {
		opts = append(opts, stomp.SubscribeOpt.Header(k, v))
	}
	sub, err := s.conn.Subscribe(dest, mode, opts...)
	if err != nil {
		return "", err
	}
	s.subs[sub.Id()] = sub
	return sub.Id(), nil
}

func (s *goStomp) send(m outgoing) error {
	var opts []func(*frame.Frame) error
	contentType := ""
	for k, v := range m.headers {
		if k == frame.ContentType {
			contentType = v
			continue
		}
		opts = append(opts, stomp.SendOpt.Header(k, v))
	}
	if m.receipt {
		opts = append(opts, stomp.SendOpt.Receipt)
	}
	if m.tx != "" {
		return s.txs[m.tx].Send(m.dest, contentType, m.body, opts...)
	}
	return s.conn.Send(m.dest, contentType, m.body, opts...)
}

func (s *goStomp) receive(sub string) (message, error) {
	select {
	case m, ok := <-s.subs[sub].C:
		switch {
		case !ok:
			return message{}, errors.New("subscription closed")
		case m.Err != nil:
			return message{}, m.Err
		}
		return message{headers: headerMap(m.Header), body: m.Body, ref: m}, nil
	case <-time.After(waitTimeout):
		return message{}, fmt.Errorf("no MESSAGE within %v", waitTimeout)
	}
}

func (s *goStomp) ack(m message, tx string) error {
	if tx != "" {
		return s.txs[tx].Ack(m.ref.(*stomp.Message))
	}
	return s.conn.Ack(m.ref.(*stomp.Message))
}

func (s *goStomp) nack(m message, tx string) error {
	if tx != "" {
		return s.txs[tx].Nack(m.ref.(*stomp.Message))
	}
	return s.conn.Nack(m.ref.(*stomp.Message))
}

func (s *goStomp) begin() (string, error) {
	tx, err := s.conn.BeginWithError()
	if err != nil {
		return "", err
	}
	s.txs[tx.Id()] = tx
	return tx.Id(), nil
}

func (s *goStomp) commit(tx string) error { return s.txs[tx].CommitWithReceipt() }

func (s *goStomp) abort(tx string) error { return s.txs[tx].AbortWithReceipt() }

func (s *goStomp) disconnect() error { return s.conn.Disconnect() }

// testLogger sends go-stomp's warnings and errors to the test's log until
// the test's cleanup, and drops what go-stomp's goroutines log after that.
// Its debug and info lines (one per subscription at every disconnect) are
// dropped.
type testLogger struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTestLogger(t *testing.T) *testLogger {
	l := &testLogger{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.done = true
	})
	return l
}

func (l *testLogger) log(level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("go-stomp %s: %s", level, msg)
	}
}

func (l *testLogger) Debugf(format string, v ...any)   {}
func (l *testLogger) Infof(format string, v ...any)    {}
func (l *testLogger) Warningf(format string, v ...any) { l.log("warning", fmt.Sprintf(format, v...)) }
func (l *testLogger) Errorf(format string, v ...any)   { l.log("error", fmt.Sprintf(format, v...)) }
func (l *testLogger) Debug(msg string)                 {}
func (l *testLogger) Info(msg string)                  {}
func (l *testLogger) Warning(msg string)               { l.log("warning", msg) }
func (l *testLogger) Error(msg string)                 { l.log("error", msg) }
