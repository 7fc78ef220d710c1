package stomp_test

import (
	"fmt"

	"github.com/stompd/stompd/stomp"
)

// A connection's reader feeds the Decoder whatever each read returned, and
// handles each frame before the next call to Decode.
func ExampleDecoder() {
	d := stomp.NewDecoder(stomp.Limits{MaxFrameSize: 16 << 10})
	reads := [][]byte{
		[]byte("CONNECT\naccept-version:1.2\nhost:example\n\n\x00\nSEND\ndestinat"),
		[]byte("ion:/topic/a\\cb\ncontent-length:5\n\nhello\x00\n"),
	}
	for _, p := range reads {
		for len(p) > 0 {
			n, f, err := d.Decode(p)
			if err != nil {
				fmt.Println(err)
				return
			}
			p = p[n:]
			if f == nil {
				continue
			}
			fmt.Printf("%s %q %q\n", f.Command, f.Value("destination"), f.Body)
			if f.Command == stomp.CONNECT {
				d.SetVersion(stomp.V12)
				d.SetLimits(stomp.Limits{})
			}
		}
	}
	// Output:
	// CONNECT "" ""
	// SEND "/topic/a:b" "hello"
}

// The broker encodes the headers and body a MESSAGE shares once, and
// prepends each subscriber's own headers.
func ExampleAppendHeader() {
	shared := stomp.AppendHeaderString(nil, stomp.MESSAGE, "destination", "/topic/a:b", stomp.V12)
	shared = stomp.AppendContentLength(shared, 5)
	shared = stomp.AppendBody(shared, []byte("hello"))

	var buf []byte
	for _, sub := range []string{"sub-0", "sub-1"} {
		buf = stomp.AppendCommand(buf[:0], stomp.MESSAGE)
		buf = stomp.AppendHeaderString(buf, stomp.MESSAGE, "subscription", sub, stomp.V12)
		buf = append(buf, shared...)
		fmt.Printf("%q\n", buf)
	}
	// Output:
	// "MESSAGE\nsubscription:sub-0\ndestination:/topic/a\\cb\ncontent-length:5\n\nhello\x00"
	// "MESSAGE\nsubscription:sub-1\ndestination:/topic/a\\cb\ncontent-length:5\n\nhello\x00"
}
