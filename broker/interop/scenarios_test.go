package interop

import (
	"bytes"
	"maps"
	"strconv"
	"strings"
	"testing"
)

// utf8Body is sent as text by every client and must arrive byte for byte.
const utf8Body = "héllo wörld ✓ 日本"

// scenario is one interoperability check, run the same way for every
// client. Each dials its own sessions and uses destinations of its own.
type scenario struct {
	name string
	run  func(t *testing.T, c client)
}

var scenarios = []scenario{
	{"connect", testConnect},
	{"send_receive", testSendReceive},
	{"binary_body", testBinaryBody},
	{"receipt", testReceipt},
	{"client_ack", testClientAck},
	{"client_individual_ack", testClientIndividualAck},
	{"nack_redelivery", testNackRedelivery},
	{"transaction_commit", testTransactionCommit},
	{"transaction_abort", testTransactionAbort},
	{"transaction_ack", testTransactionAck},
	{"disconnect", testDisconnect},
	{"resume", testResume},
}

// runScenarios runs every scenario as a subtest with client c.
func runScenarios(t *testing.T, c client) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, c) })
	}
}

// testConnect: CONNECT offering heart-beats gets CONNECTED 1.2 with
// heart-beats in both directions, the broker's heart-beats arrive, and the
// session works.
func testConnect(t *testing.T, c client) {
	s := c.dial(t)
	h := s.connected()
	if h["version"] != "1.2" {
		t.Errorf("CONNECTED version = %q, want 1.2 (headers %v)", h["version"], h)
	}
	sx, sy, ok := parseHeartBeat(h["heart-beat"])
	if !ok || sx <= 0 || sy <= 0 {
		t.Errorf("CONNECTED heart-beat = %q, want two positive intervals: the client offered %v both ways", h["heart-beat"], heartBeat)
	}
	if err := s.heartBeat(); err != nil {
		t.Errorf("heart-beat from the broker: %v", err)
	}
	fence(t, s)
}

// parseHeartBeat parses a heart-beat header, "sx,sy" in milliseconds.
func parseHeartBeat(v string) (sx, sy int, ok bool) {
	a, b, found := strings.Cut(v, ",")
	x, errX := strconv.Atoi(a)
	y, errY := strconv.Atoi(b)
	return x, y, found && errX == nil && errY == nil
}

// testSendReceive: custom headers (escaped characters included) and a
// UTF-8 body arrive intact, with the MESSAGE headers the spec requires and
// none of the sender's receipt or credentials.
func testSendReceive(t *testing.T, c client) {
	sub, pub, dest, id := link(t, c, "topic", "auto")

	custom := map[string]string{
		"content-type": "text/plain;charset=utf-8",
		"x-trace":      "7f3a-01",
		"x-escaped":    "colon: backslash\\ newline\n carriage return\r end",
		"x-ünïcode":    "✓ 日本",
	}
	secrets := map[string]string{"login": "mallory", "passcode": "hunter2", "Authorization": "Bearer not-for-subscribers"}
	headers := maps.Clone(custom)
	maps.Copy(headers, secrets)
	send(t, pub, outgoing{dest: dest, body: []byte(utf8Body), headers: headers, receipt: true})

	m := receive(t, sub, id, utf8Body)
	for k, v := range custom {
		wantHeader(t, m, k, v)
	}
	wantHeader(t, m, "destination", dest)
	wantHeader(t, m, "subscription", id)
	wantHeader(t, m, "content-length", strconv.Itoa(len(utf8Body)))
	if m.headers["message-id"] == "" {
		t.Errorf("MESSAGE has no message-id (headers %v)", m.headers)
	}
	wantNoSenderSecrets(t, m)
}

// testBinaryBody: bodies holding every byte value, NUL and invalid UTF-8
// included, arrive intact (stompjs sends them as binaryBody, in binary
// WebSocket messages): a short one, and one of 256 KiB that spans many
// reads and writes on the way.
func testBinaryBody(t *testing.T, c client) {
	sub, pub, dest, id := link(t, c, "topic", "auto")
	for _, size := range []int{256, 256 << 10} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		headers := map[string]string{"content-type": "application/octet-stream"}
		send(t, pub, outgoing{dest: dest, body: body, binary: true, headers: headers, receipt: true})
		m, err := sub.receive(id)
		if err != nil {
			t.Fatalf("waiting for the %d-byte MESSAGE: %v", size, err)
		}
		if !bytes.Equal(m.body, body) {
			t.Errorf("%d-byte body arrived as %d bytes, not intact", size, len(m.body))
		}
		wantHeader(t, m, "content-type", "application/octet-stream")
		wantHeader(t, m, "content-length", strconv.Itoa(size))
	}
}

// testReceipt: the library's receipt mechanism reports the RECEIPT of a
// SEND to a queue nobody consumes yet, and by then the message is there.
func testReceipt(t *testing.T, c client) {
	pub := c.publisher(t)
	dest := c.dest(t, "queue")
	send(t, pub, text(dest, "kept until a consumer comes"))

	con, id := consumer(t, c, dest, "auto")
	receive(t, con, id, "kept until a consumer comes")
}

// testClientAck: in client mode an ACK is cumulative, so acking the
// second message acks the first too, and neither comes back after the
// consumer leaves.
func testClientAck(t *testing.T, c client) {
	con, pub, dest, id := link(t, c, "queue", "client")
	send(t, pub, text(dest, "first"))
	send(t, pub, text(dest, "second"))
	receive(t, con, id, "first")
	ack(t, con, receive(t, con, id, "second"), "")
	disconnect(t, con)
	wantQueueDrained(t, c, pub, dest)
}

// testClientIndividualAck: in client-individual mode an ACK covers only its
// own message, so the earlier unacked one comes back after the consumer
// leaves, and the acked one does not.
func testClientIndividualAck(t *testing.T, c client) {
	con, pub, dest, id := link(t, c, "queue", "client-individual")
	send(t, pub, text(dest, "first"))
	send(t, pub, text(dest, "second"))

	first := receive(t, con, id, "first")
	second := receive(t, con, id, "second")
	for _, m := range []message{first, second} {
		if m.headers["ack"] == "" {
			t.Errorf("MESSAGE %q in client-individual mode has no ack header (headers %v)", m.body, m.headers)
		}
	}
	ack(t, con, second, "")
	disconnect(t, con)

	next, id := consumer(t, c, dest, "client-individual")
	send(t, pub, text(dest, "third"))
	again := receive(t, next, id, "first")
	wantHeader(t, again, "redelivered", "true")
	ack(t, next, again, "")
	ack(t, next, receive(t, next, id, "third"), "")
}

// testNackRedelivery: a NACKed queue message is delivered again, marked
// redelivered.
func testNackRedelivery(t *testing.T, c client) {
	con, pub, dest, id := link(t, c, "queue", "client-individual")
	send(t, pub, text(dest, "try again"))

	m := receive(t, con, id, "try again")
	if m.headers["redelivered"] == "true" {
		t.Errorf("first delivery is marked redelivered (headers %v)", m.headers)
	}
	if err := con.nack(m, ""); err != nil {
		t.Fatalf("NACK: %v", err)
	}
	again := receive(t, con, id, "try again")
	wantHeader(t, again, "redelivered", "true")
	ack(t, con, again, "")
	fence(t, con)
}

// testTransactionCommit: SENDs inside a transaction are held until COMMIT,
// then delivered in order without the transaction header.
func testTransactionCommit(t *testing.T, c client) {
	sub, pub, dest, id := link(t, c, "topic", "auto")

	tx := begin(t, pub)
	send(t, pub, outgoing{dest: dest, body: []byte("one"), tx: tx})
	send(t, pub, outgoing{dest: dest, body: []byte("two"), tx: tx})
	send(t, pub, text(dest, "outside"))
	commit(t, pub, tx)
	receive(t, sub, id, "outside")
	for _, body := range []string{"one", "two"} {
		wantNoSenderSecrets(t, receive(t, sub, id, body))
	}
}

// testTransactionAbort: SENDs inside an aborted transaction are never
// delivered.
func testTransactionAbort(t *testing.T, c client) {
	sub, pub, dest, id := link(t, c, "topic", "auto")

	tx := begin(t, pub)
	send(t, pub, outgoing{dest: dest, body: []byte("aborted"), tx: tx})
	abort(t, pub, tx)
	send(t, pub, text(dest, "after abort"))
	receive(t, sub, id, "after abort")
}

// testTransactionAck: an ACK inside an aborted transaction is discarded, so
// the message comes back when its consumer leaves; an ACK inside a
// committed transaction takes effect, so it does not.
func testTransactionAck(t *testing.T, c client) {
	con, pub, dest, id := link(t, c, "queue", "client-individual")
	send(t, pub, text(dest, "acked in a transaction"))

	m := receive(t, con, id, "acked in a transaction")
	tx := begin(t, con)
	ack(t, con, m, tx)
	abort(t, con, tx)
	disconnect(t, con)

	con, id = consumer(t, c, dest, "client-individual")
	m = receive(t, con, id, "acked in a transaction")
	wantHeader(t, m, "redelivered", "true")
	tx = begin(t, con)
	ack(t, con, m, tx)
	commit(t, con, tx)
	disconnect(t, con)
	wantQueueDrained(t, c, pub, dest)
}

// wantQueueDrained checks that queue dest holds nothing: a new consumer's
// first message is one pub sends now.
func wantQueueDrained(t *testing.T, c client, pub session, dest string) {
	t.Helper()
	con, id := consumer(t, c, dest, "client-individual")
	send(t, pub, text(dest, "fence"))
	ack(t, con, receive(t, con, id, "fence"), "")
}

// testDisconnect: a graceful DISCONNECT gets its RECEIPT, and what the
// session sent before it is delivered.
func testDisconnect(t *testing.T, c client) {
	sub, pub, dest, id := link(t, c, "topic", "auto")

	send(t, pub, outgoing{dest: dest, body: []byte("last words")})
	disconnect(t, pub)
	receive(t, sub, id, "last words")
}

// testResume: a topic's messages carry x-stream-offset and x-stream-epoch;
// a SUBSCRIBE with x-stream-offset:offset=<n> and that epoch gets the
// messages after n, then the live ones, each once.
func testResume(t *testing.T, c client) {
	if c.noHistory {
		t.Skip("the broker keeps no topic history")
	}
	first, pub, dest, sub := link(t, c, "topic", "auto")
	for _, body := range []string{"r1", "r2", "r3"} {
		send(t, pub, outgoing{dest: dest, body: []byte(body), receipt: true})
	}
	var m message
	for _, body := range []string{"r1", "r2", "r3"} {
		m = receive(t, first, sub, body)
	}
	epoch, last := m.headers["x-stream-epoch"], m.headers["x-stream-offset"]
	if epoch == "" || last == "" {
		t.Fatalf("MESSAGE without x-stream-epoch or x-stream-offset: headers %v", m.headers)
	}
	offset, _ := strconv.Atoi(last)
	s := c.dial(t)
	again := subscribe(t, s, dest, "auto", map[string]string{"x-stream-offset": "offset=" + strconv.Itoa(offset-2), "x-stream-epoch": epoch})
	receive(t, s, again, "r2")
	receive(t, s, again, "r3")
	send(t, pub, outgoing{dest: dest, body: []byte("r4"), receipt: true})
	if m := receive(t, s, again, "r4"); m.headers["x-stream-offset"] != strconv.Itoa(offset+1) {
		t.Fatalf("live MESSAGE after the replay: x-stream-offset %q, want %d", m.headers["x-stream-offset"], offset+1)
	}
}
