package broker

import (
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// TestMessageCommonPart checks the common part of a MESSAGE, which a
// message keeps in its STOMP 1.2 form, under each version: for a topic and
// a user destination, numbered or not, with a header each version escapes
// differently and the headers that are never passed on.
func TestMessageCommonPart(t *testing.T) {
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte("body")}
	f.Add("destination", "/topic/a:b")
	f.Add("receipt", "r")
	f.Add("k:1", "a:b\r\nc\\d")
	const cl, stream = "content-length:4\n", "x-stream-offset:7\nx-stream-epoch:e\n"
	header := map[stomp.Version]string{
		stomp.V10: "k 1:a:b  c\\d\n",
		stomp.V11: "k\\c1:a\\cb \\nc\\\\d\n",
		stomp.V12: "k\\c1:a\\cb\\r\\nc\\\\d\n",
	}
	dest := map[stomp.Version]string{stomp.V10: "destination:/topic/a:b\n", stomp.V11: "destination:/topic/a\\cb\n", stomp.V12: "destination:/topic/a\\cb\n"}
	for _, tc := range []struct {
		name     string
		kind     destKind
		numbered bool
	}{{"topic", kindTopic, false}, {"numbered topic", kindTopic, true}, {"user", kindUser, false}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMessage(f, "/topic/a:b", tc.kind, 1, time.Now())
			if tc.numbered {
				m.number("e", 7, time.Now())
			}
			for v, h := range header {
				want := cl + h + "\n"
				switch {
				case tc.numbered:
					want = dest[v] + cl + stream + h + "\n"
				case tc.kind != kindUser:
					want = dest[v] + want
				}
				if got := string(m.common(v)); got != want {
					t.Errorf("%v: %q, want %q", v, got, want)
				}
			}
			if string(m.body) != "body\x00" {
				t.Errorf("body %q", m.body)
			}
		})
	}
}
