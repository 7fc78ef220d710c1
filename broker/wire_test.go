package broker

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

func TestWireCarriesAQueueMessageToAnotherNodeUnchanged(t *testing.T) {
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte("a\x00binary\nbody")}
	f.Add("destination", "/queue/a:b")
	f.Add("receipt", "r1")
	f.Add("x-escaped", "colon: newline\n backslash\\ cr\r")
	f.Add("content-type", "application/octet-stream")
	m := newMessage(f, "/queue/a:b", kindQueue, 7, time.Now())
	wire := m.wire()
	if bytes.Contains(wire, []byte("message-id")) {
		t.Errorf("between nodes %q: the receiving node gives its own message-id", wire)
	}
	got, err := unwire(wire, kindQueue, 9, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.dest != m.dest || got.id != 9 || !bytes.Equal(got.body, m.body) {
		t.Errorf("decoded dest %q id %d body %q; want %q 9 %q", got.dest, got.id, got.body, m.dest, m.body)
	}
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		want := bytes.Replace(m.common(v), []byte("message-id:7\n"), []byte("message-id:9\n"), 1)
		if !bytes.Equal(got.common(v), want) {
			t.Errorf("%v: MESSAGE headers %q, want %q", v, got.common(v), want)
		}
	}
}

func TestUnwireRefusesWhatIsNotAMessage(t *testing.T) {
	for _, in := range []string{"", "garbage", "SEND\n\nbody", "MESSAGE\ndestination:/queue/a\n\n\x00", "SEND\n\nno destination\x00", "SEND\ndestination:/queue/a\n\n\x00trailing"} {
		if _, err := unwire([]byte(in), kindQueue, 1, time.Now()); err == nil {
			t.Errorf("unwire(%q) succeeded", in)
		}
	}
}

// TestWireLeavesOutTheMessageID checks that the form between nodes leaves
// out the message-id line of the frame whatever its number of digits, and
// that its length is what wireLen says.
func TestWireLeavesOutTheMessageID(t *testing.T) {
	f := sendFrame("body", "destination", "/topic/a", "k", "v")
	const want = "MESSAGE\ndestination:/topic/a\ncontent-length:4\nk:v\n\nbody\x00"
	for _, id := range []uint64{0, 9, 10, 99, 100, 123456789, math.MaxUint64} {
		m := newMessage(f, "/topic/a", kindTopic, id, time.Now())
		if got := m.appendWire(nil); string(got) != want || len(got) != m.wireLen() {
			t.Errorf("id %d: %q (wireLen %d), want %q", id, got, m.wireLen(), want)
		}
		if got := cap(m.frame); got != len(m.frame) {
			t.Errorf("id %d: frame of %d bytes in %d", id, len(m.frame), got)
		}
	}
}
