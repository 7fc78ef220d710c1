package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// TestMessageCommonPart checks the common part of a MESSAGE, which a
// message keeps in its STOMP 1.2 form, under each version: for a topic and
// a user destination, numbered in its frame or not, with a header each
// version escapes differently and one that is never passed on. Its
// message-id is common; between nodes it is left out.
func TestMessageCommonPart(t *testing.T) {
	f := sendFrame("body", "destination", "/topic/a:b", "receipt", "r", "k:1", "a:b\r\nc\\d")
	const id, cl, stream = "message-id:1\n", "content-length:4\n", "x-stream-offset:7\nx-stream-epoch:0123456789abcdef\n"
	header := map[stomp.Version]string{
		stomp.V10: "k 1:a:b  c\\d\n",
		stomp.V11: "k\\c1:a\\cb \\nc\\\\d\n",
		stomp.V12: "k\\c1:a\\cb\\r\\nc\\\\d\n",
	}
	dest := map[stomp.Version]string{stomp.V10: "destination:/topic/a:b\n", stomp.V11: "destination:/topic/a\\cb\n", stomp.V12: "destination:/topic/a\\cb\n"}
	for _, tc := range []struct {
		name           string
		kind           destKind
		room, numbered bool
	}{
		{"topic", kindTopic, false, false},
		{"numbered in its frame", kindTopic, true, true},
		{"numbered without room", kindTopic, false, true},
		{"user", kindUser, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMessageFor(f, "/topic/a:b", tc.kind, 1, time.Now(), tc.room)
			if tc.numbered {
				m.number("0123456789abcdef", 7, time.Now())
			}
			for v, h := range header {
				want := id + cl + h
				if tc.kind != kindUser {
					want = dest[v] + want
				}
				if tc.numbered {
					want += stream
				}
				if got := string(m.common(v)); got != want+"\n" {
					t.Errorf("%v: %q, want %q", v, got, want+"\n")
				}
			}
			if got, want := string(m.wire()), "SEND\n"+dest[stomp.V12]+cl+header[stomp.V12]+"\nbody\x00"; got != want {
				t.Errorf("between nodes %q, want %q", got, want)
			}
		})
	}
}

// TestPlainMessageIsEncodedOnce checks that a message whose headers need
// no escaping, numbered in its frame, serves every version from its frame.
func TestPlainMessageIsEncodedOnce(t *testing.T) {
	f := sendFrame("body", "content-type", "text/plain")
	m := newMessageFor(f, "/topic/a", kindTopic, 1, time.Now(), true)
	m.number("0123456789abcdef", 1<<40, time.Now())
	want := "destination:/topic/a\nmessage-id:1\ncontent-length:4\ncontent-type:text/plain\nx-stream-offset:1099511627776\nx-stream-epoch:0123456789abcdef\n\n"
	for _, v := range []stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
		if n := testing.AllocsPerRun(10, func() { m.common(v) }); n != 0 {
			t.Errorf("%v: %v allocations", v, n)
		}
		if got := string(m.common(v)); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
	if m.encodes() || keptCost(m) != m.heap+16 {
		t.Errorf("a message no delivery encodes costs %d kept, want %d", keptCost(m), m.heap+16)
	}
}

// TestEncodingsAreMadeOnce has writers of every version ask for the common
// part of a message that needs escaping at once: each version's is made
// once and all of them get it.
func TestEncodingsAreMadeOnce(t *testing.T) {
	f := sendFrame("body", "k", "a:b")
	m := newMessage(f, "/topic/a", kindTopic, 1, time.Now())
	var wg sync.WaitGroup
	got := make([][]byte, 12)
	for i := range got {
		wg.Go(func() { got[i] = m.common(stomp.V10 + stomp.Version(i%3)) })
	}
	wg.Wait()
	for i, b := range got {
		if want := m.common(stomp.V10 + stomp.Version(i%3)); &b[0] != &want[0] {
			t.Errorf("writer %d got an encoding of its own", i)
		}
	}
}

// sendFrame returns a SEND frame of body with the headers given as pairs
// of key and value.
func sendFrame(body string, pairs ...string) *stomp.Frame {
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte(body)}
	for i := 0; i+1 < len(pairs); i += 2 {
		f.Add(pairs[i], pairs[i+1])
	}
	return f
}
