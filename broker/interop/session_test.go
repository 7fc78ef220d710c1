package interop

import (
	"path"
	"strings"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a frame from the broker. It is a
// bound on a failure, never a measure of speed.
const waitTimeout = 10 * time.Second

// heartBeat is what every client offers at CONNECT, in both directions.
const heartBeat = 2 * time.Second

// Credentials every session connects with; the broker's default
// authenticator takes the identity from login.
const (
	login    = "interop"
	passcode = "secret"
)

// session is one client connection, as the scenarios drive it. Each client
// library implements it with its own API: go-stomp's in gostomp_test.go,
// stompjs's in stompjs_test.go. Every method that asks for a receipt
// returns only once the library has reported the RECEIPT.
type session interface {
	// connected returns the headers of the CONNECTED frame.
	connected() map[string]string
	// heartBeat waits for a heart-beat from the broker.
	heartBeat() error
	// subscribe sends SUBSCRIBE with the ack mode and the extra headers
	// given, and returns its id.
	subscribe(dest, ack string, headers map[string]string) (string, error)
	send(m outgoing) error
	// receive returns the next MESSAGE of a subscription.
	receive(sub string) (message, error)
	// ack and nack acknowledge m, inside tx unless tx is empty.
	ack(m message, tx string) error
	nack(m message, tx string) error
	begin() (string, error)
	// commit and abort end tx and return once the broker has handled it.
	commit(tx string) error
	abort(tx string) error
	// disconnect sends DISCONNECT with a receipt and waits for it.
	disconnect() error
}

// outgoing is a SEND as a scenario describes it.
type outgoing struct {
	dest    string
	body    []byte
	binary  bool              // send the body as binary (stompjs's binaryBody)
	headers map[string]string // custom headers, content-type included
	tx      string            // transaction, if any
	receipt bool              // ask for a RECEIPT and wait for it
}

// message is a received MESSAGE. ref is the library's own handle for it,
// used to ACK or NACK.
type message struct {
	headers map[string]string
	body    []byte
	ref     any
}

// client is a STOMP client library under test.
type client struct {
	name string
	// dial opens a session that offers heart-beats, and closes it at
	// the test's cleanup if the test has not disconnected it.
	dial func(t *testing.T) session
	// dialPub, when set, opens the sessions that publish: on a cluster, a
	// node other than the subscribers'.
	dialPub func(t *testing.T) session
	// noHistory says that the broker keeps no topic history (a cluster
	// without Streams), so that resuming is not tried.
	noHistory bool
}

// publisher opens a session that publishes.
func (c client) publisher(t *testing.T) session {
	if c.dialPub != nil {
		return c.dialPub(t)
	}
	return c.dial(t)
}

// dest names a destination of the given kind ("queue" or "topic") that
// belongs to the running subtest alone.
func (c client) dest(t *testing.T, kind string) string {
	return "/" + kind + "/interop." + c.name + "." + path.Base(t.Name())
}

// syncDest is where fence sends its receipted message; nobody listens.
const syncDest = "/topic/interop.sync"

// fence returns once the broker has handled every frame s sent before it:
// the broker handles one connection's frames in order, so the RECEIPT of a
// later SEND says the earlier frames took effect.
func fence(t *testing.T, s session) {
	t.Helper()
	if err := s.send(outgoing{dest: syncDest, receipt: true}); err != nil {
		t.Fatalf("receipted SEND: %v", err)
	}
}

// subscribe subscribes s to dest and returns once the broker has handled
// the SUBSCRIBE.
func subscribe(t *testing.T, s session, dest, ack string, headers ...map[string]string) string {
	t.Helper()
	var extra map[string]string
	if len(headers) > 0 {
		extra = headers[0]
	}
	id, err := s.subscribe(dest, ack, extra)
	if err != nil {
		t.Fatalf("SUBSCRIBE %s ack:%s %v: %v", dest, ack, extra, err)
	}
	fence(t, s)
	return id
}

// link dials a consumer subscribed to a destination of the subtest's own,
// of the given kind, and a producer for it.
func link(t *testing.T, c client, kind, ack string) (con, pub session, dest, sub string) {
	t.Helper()
	dest = c.dest(t, kind)
	con, sub = consumer(t, c, dest, ack)
	return con, c.publisher(t), dest, sub
}

// consumer dials a session subscribed to dest.
func consumer(t *testing.T, c client, dest, ack string) (session, string) {
	t.Helper()
	s := c.dial(t)
	return s, subscribe(t, s, dest, ack)
}

func send(t *testing.T, s session, m outgoing) {
	t.Helper()
	if err := s.send(m); err != nil {
		t.Fatalf("SEND to %s: %v", m.dest, err)
	}
}

func text(dest, body string) outgoing {
	return outgoing{dest: dest, body: []byte(body), receipt: true}
}

// receive returns the next MESSAGE of sub and checks its body.
func receive(t *testing.T, s session, sub, wantBody string) message {
	t.Helper()
	m, err := s.receive(sub)
	if err != nil {
		t.Fatalf("waiting for MESSAGE %q: %v", wantBody, err)
	}
	if string(m.body) != wantBody {
		t.Fatalf("MESSAGE body = %q, want %q (headers %v)", m.body, wantBody, m.headers)
	}
	return m
}

func ack(t *testing.T, s session, m message, tx string) {
	t.Helper()
	if err := s.ack(m, tx); err != nil {
		t.Fatalf("ACK %q: %v", m.body, err)
	}
}

func begin(t *testing.T, s session) string {
	t.Helper()
	tx, err := s.begin()
	if err != nil {
		t.Fatalf("BEGIN: %v", err)
	}
	return tx
}

func commit(t *testing.T, s session, tx string) {
	t.Helper()
	if err := s.commit(tx); err != nil {
		t.Fatalf("COMMIT %s: %v", tx, err)
	}
}

func abort(t *testing.T, s session, tx string) {
	t.Helper()
	if err := s.abort(tx); err != nil {
		t.Fatalf("ABORT %s: %v", tx, err)
	}
}

func disconnect(t *testing.T, s session) {
	t.Helper()
	if err := s.disconnect(); err != nil {
		t.Fatalf("DISCONNECT with receipt: %v", err)
	}
}

// wantHeader checks one header of m.
func wantHeader(t *testing.T, m message, key, want string) {
	t.Helper()
	if got, ok := m.headers[key]; !ok || got != want {
		t.Errorf("MESSAGE %q: header %s = %q (present %v), want %q", m.body, key, got, ok, want)
	}
}

// forbidden are the sender's headers a MESSAGE never carries.
var forbidden = []string{"receipt", "transaction", "login", "passcode", "authorization"}

// wantNoSenderSecrets checks m carries none of the forbidden headers, in
// any letter case.
func wantNoSenderSecrets(t *testing.T, m message) {
	t.Helper()
	for k, v := range m.headers {
		for _, f := range forbidden {
			if strings.EqualFold(k, f) {
				t.Errorf("MESSAGE %q forwards the sender's %s:%s", m.body, k, v)
			}
		}
	}
}
