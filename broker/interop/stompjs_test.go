package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// stompjsDir holds driver.mjs, package.json and package-lock.json.
const stompjsDir = "../../testdata/stompjs"

// driverTimeout bounds the whole life of the Node process.
const driverTimeout = 2 * time.Minute

// TestStompJS runs every scenario with @stomp/stompjs over WebSocket, then
// checks the subprotocol the broker chooses and that WebSocket messages
// carry one frame each under a burst.
func TestStompJS(t *testing.T) {
	node := requireNode(t)
	srv := startBroker(t)
	d := startDriver(t, node, srv.wsURL)
	dial := func(t *testing.T) session { return dialStompJS(t, d) }
	runScenarios(t, client{name: "stompjs", dial: dial})
	t.Run("subprotocol", func(t *testing.T) {
		if s := dialStompJS(t, d); s.protocol != "v12.stomp" {
			t.Errorf("WebSocket subprotocol = %q, want v12.stomp (offered v12.stomp, v11.stomp, v10.stomp)", s.protocol)
		}
	})
	t.Run("one_frame_per_message", func(t *testing.T) { testOneFramePerMessage(t, srv, d) })
}

// skipUnlessCI skips the test, or fails it when CI=true: there every
// interoperability test must run.
func skipUnlessCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// requireNode returns the path of node, or skips the test (fails it under
// CI) when node or the driver's packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	const install = "install them with: npm ci --prefix testdata/stompjs"
	node, err := exec.LookPath("node")
	if err != nil {
		skipUnlessCI(t, "stompjs interop needs node (Node.js 20 or later) and its packages; %s", install)
	}
	if _, err := os.Stat(filepath.Join(stompjsDir, "node_modules", "@stomp", "stompjs")); err != nil {
		skipUnlessCI(t, "stompjs interop: %s has no node_modules; %s", stompjsDir, install)
	}
	return node
}

// nodeDriver is the running driver.mjs. Its methods are called from one
// goroutine at a time.
type nodeDriver struct {
	stdin  io.WriteCloser
	stdout *json.Decoder
	stderr *stomptest.Logs
	lastID int
}

func startDriver(t *testing.T, node, wsURL string) *nodeDriver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), driverTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, filepath.Join(stompjsDir, "driver.mjs"), wsURL)
	d := &nodeDriver{stderr: new(stomptest.Logs)}
	cmd.Stderr = d.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd, err)
	}
	d.stdin, d.stdout = stdin, json.NewDecoder(stdout)
	t.Cleanup(func() {
		_ = stdin.Close() // the driver closes what is left open and exits
		if err := cmd.Wait(); err != nil {
			t.Errorf("stompjs driver: %v\n%s", err, d.stderr)
		}
	})
	return d
}

type driverRequest struct {
	ID   int            `json:"id"`
	Op   string         `json:"op"`
	Args map[string]any `json:"args,omitempty"`
}

type driverResponse struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// call runs one request and decodes its result into result, if not nil.
func (d *nodeDriver) call(op string, args map[string]any, result any) error {
	d.lastID++
	if err := json.NewEncoder(d.stdin).Encode(driverRequest{ID: d.lastID, Op: op, Args: args}); err != nil {
		return fmt.Errorf("stompjs driver: %w\n%s", err, d.stderr)
	}
	var resp driverResponse
	if err := d.stdout.Decode(&resp); err != nil {
		return fmt.Errorf("stompjs driver: %w\n%s", err, d.stderr)
	}
	switch {
	case resp.ID != d.lastID:
		return fmt.Errorf("stompjs driver answered request %d, want %d", resp.ID, d.lastID)
	case !resp.OK:
		return errors.New("stompjs: " + resp.Error)
	case result != nil:
		return json.Unmarshal(resp.Result, result)
	}
	return nil
}

// stompJS is a session of one stompjs Client inside the driver.
type stompJS struct {
	d        *nodeDriver
	id       string
	headers  map[string]string
	protocol string // the WebSocket subprotocol the broker chose
	closed   bool
}

func dialStompJS(t *testing.T, d *nodeDriver) *stompJS {
	t.Helper()
	var r struct {
		Session  string            `json:"session"`
		Headers  map[string]string `json:"headers"`
		Protocol string            `json:"protocol"`
	}
	args := map[string]any{"login": login, "passcode": passcode, "heartbeatMs": heartBeat.Milliseconds()}
	if err := d.call("connect", args, &r); err != nil {
		t.Fatalf("stompjs connect: %v", err)
	}
	s := &stompJS{d: d, id: r.Session, headers: r.Headers, protocol: r.Protocol}
	t.Cleanup(func() {
		// A failed session's socket is closed when the driver exits.
		if !s.closed && !t.Failed() {
			if err := s.disconnect(); err != nil {
				t.Errorf("DISCONNECT at cleanup: %v", err)
			}
		}
		st, err := s.stats()
		if err != nil {
			t.Errorf("stats: %v", err)
		} else if len(st.Bad) > 0 {
			t.Errorf("WebSocket messages that are not exactly one frame: %q", st.Bad)
		}
	})
	return s
}

// call runs op on this session.
func (s *stompJS) call(op string, args map[string]any, result any) error {
	if args == nil {
		args = map[string]any{}
	}
	args["session"] = s.id
	return s.d.call(op, args, result)
}

func (s *stompJS) connected() map[string]string { return s.headers }

func (s *stompJS) heartBeat() error { return s.call("heartbeat", nil, nil) }

func (s *stompJS) subscribe(dest, ack string, headers map[string]string) (string, error) {
	var r struct {
		Subscription string `json:"subscription"`
	}
	err := s.call("subscribe", map[string]any{"destination": dest, "ack": ack, "headers": headers}, &r)
	return r.Subscription, err
}

func (s *stompJS) send(m outgoing) error {
	return s.call("send", map[string]any{
		"destination": m.dest, "body": m.body, "binary": m.binary,
		"headers": m.headers, "transaction": m.tx, "receipt": m.receipt,
	}, nil)
}

func (s *stompJS) receive(sub string) (message, error) {
	var r struct {
		Handle  string            `json:"handle"`
		Headers map[string]string `json:"headers"`
		Body    []byte            `json:"body"`
	}
	err := s.call("receive", map[string]any{"subscription": sub}, &r)
	return message{headers: r.Headers, body: r.Body, ref: r.Handle}, err
}

func (s *stompJS) ack(m message, tx string) error {
	return s.call("ack", map[string]any{"handle": m.ref, "transaction": tx}, nil)
}

func (s *stompJS) nack(m message, tx string) error {
	return s.call("nack", map[string]any{"handle": m.ref, "transaction": tx}, nil)
}

func (s *stompJS) begin() (string, error) {
	var r struct {
		Transaction string `json:"transaction"`
	}
	err := s.call("begin", nil, &r)
	return r.Transaction, err
}

func (s *stompJS) commit(tx string) error {
	return s.call("commit", map[string]any{"transaction": tx}, nil)
}

func (s *stompJS) abort(tx string) error {
	return s.call("abort", map[string]any{"transaction": tx}, nil)
}

func (s *stompJS) disconnect() error {
	s.closed = true
	return s.call("disconnect", nil, nil)
}

// frameStats is what the driver counted on a session's socket.
type frameStats struct {
	Sent     int      `json:"sent"`     // frames sent, one per message
	Received int      `json:"received"` // frames received, one per message
	Bad      []string `json:"bad"`      // messages that were not one frame
}

func (s *stompJS) stats() (frameStats, error) {
	var st frameStats
	err := s.call("stats", nil, &st)
	return st, err
}

// burst is how many messages testOneFramePerMessage sends back to back.
const burst = 50

// testOneFramePerMessage: go-stomp sends a burst over TCP to a topic a
// stompjs session subscribes to over WebSocket; each WebSocket message,
// either way, holds exactly one frame, and nothing is lost or reordered.
func testOneFramePerMessage(t *testing.T, srv server, d *nodeDriver) {
	sub := dialStompJS(t, d)
	dest := "/topic/interop.stompjs.burst"
	id := subscribe(t, sub, dest, "auto")

	pub := dialGoStomp(t, srv.tcpAddr)
	for i := range burst {
		send(t, pub, outgoing{dest: dest, body: fmt.Appendf(nil, "burst %d", i)})
	}
	for i := range burst {
		receive(t, sub, id, fmt.Sprintf("burst %d", i))
	}

	st, err := sub.stats()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	// Every message holds one frame (dialStompJS checks it at cleanup), so
	// these count messages too. Sent: CONNECT, SUBSCRIBE, the fence's SEND.
	// Received: CONNECTED, the fence's RECEIPT, the burst's MESSAGEs.
	if st.Sent != 3 || st.Received != 2+burst {
		t.Errorf("frames sent, received = %d, %d; want 3, %d", st.Sent, st.Received, 2+burst)
	}
}
