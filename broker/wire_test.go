package broker

import (
	"bytes"
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
	got, err := unwire(m.wire(), kindQueue, 9, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.dest != m.dest || got.id != 9 || !bytes.Equal(got.body, m.body) {
		t.Errorf("decoded dest %q id %d body %q; want %q 9 %q", got.dest, got.id, got.body, m.dest, m.body)
	}
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		if !bytes.Equal(got.common(v), m.common(v)) {
			t.Errorf("%v: MESSAGE headers %q, want %q", v, got.common(v), m.common(v))
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
