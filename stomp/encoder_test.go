package stomp

import (
	"fmt"
	"testing"
)

func TestAppendFrame(t *testing.T) {
	special := newFrame(SEND, "b\x00dy", "k:ey", "a:b\nc\rd\\e")
	tests := []struct {
		name    string
		frame   *Frame
		version Version
		want    string
	}{
		{"V12 escapes", special, V12, "SEND\nk\\cey:a\\cb\\nc\\rd\\\\e\n\nb\x00dy\x00"},
		{"V11 has no CR escape", special, V11, "SEND\nk\\cey:a\\cb\\nc d\\\\e\n\nb\x00dy\x00"},
		{"V10 writes what it cannot carry as spaces", special, V10, "SEND\nk ey:a:b c d\\e\n\nb\x00dy\x00"},
		{"CONNECT is not escaped", newFrame(CONNECT, "", "passcode", "a:b\\c", "x", "1\n2"), V12,
			"CONNECT\npasscode:a:b\\c\nx:1 2\n\n\x00"},
		{"CONNECTED is not escaped", newFrame(CONNECTED, "", "server", "s:1\\2"), V11, "CONNECTED\nserver:s:1\\2\n\n\x00"},
		{"no headers, no body", newFrame(DISCONNECT, ""), V12, "DISCONNECT\n\n\x00"},
		{"no content-length added", newFrame(MESSAGE, "hello", "destination", "/topic/a"), V12,
			"MESSAGE\ndestination:/topic/a\n\nhello\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendFrame(nil, tc.frame, tc.version)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendPieces(t *testing.T) {
	dst := []byte("prefix|")
	dst = AppendCommand(dst, MESSAGE)
	dst = AppendHeader(dst, MESSAGE, []byte("subscription"), []byte("s:1"), V12)
	dst = AppendHeaderString(dst, MESSAGE, "message-id", "m\n2", V12)
	dst = AppendContentLength(dst, 2)
	dst = AppendBody(dst, []byte("hi"))
	want := "prefix|MESSAGE\nsubscription:s\\c1\nmessage-id:m\\n2\ncontent-length:2\n\nhi\x00"
	if string(dst) != want {
		t.Errorf("got %q, want %q", dst, want)
	}
}

// TestAppendHeaderString checks that both header encoders agree, whatever
// the bytes, command and version.
func TestAppendHeaderString(t *testing.T) {
	values := []string{"", "plain", ":", "\n", "\r", "\\", "a:b\\c\r\nd", "\x00\xff"}
	for _, c := range []Command{SEND, CONNECT, CONNECTED, MESSAGE} {
		for _, v := range []Version{V10, V11, V12} {
			for _, s := range values {
				t.Run(fmt.Sprintf("%s %s %q", c, v, s), func(t *testing.T) {
					b := AppendHeader(nil, c, []byte(s), []byte(s), v)
					str := AppendHeaderString(nil, c, s, s, v)
					if string(b) != string(str) {
						t.Errorf("AppendHeader %q, AppendHeaderString %q", b, str)
					}
				})
			}
		}
	}
}

func TestParseCommand(t *testing.T) {
	for _, c := range Commands() {
		t.Run(c.String(), func(t *testing.T) {
			line := AppendCommand(nil, c)
			if got := ParseCommand(line[:len(line)-1]); got != c {
				t.Errorf("ParseCommand(%q) = %v", line, got)
			}
		})
	}
	for _, bad := range []string{"", "send", "SEND ", " SEND", "SENDX", "UNKNOWN", "CONNECT\r"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			if got := ParseCommand([]byte(bad)); got != 0 {
				t.Errorf("got %v, want 0", got)
			}
		})
	}
}

// TestRoundTrip checks decode(AppendFrame(f)) == f for each version, with
// the header bytes each version can carry.
func TestRoundTrip(t *testing.T) {
	escaped := "a:b\nc\\d"
	tests := []struct {
		version Version
		frames  []*Frame
	}{
		{V10, []*Frame{
			newFrame(SEND, "body", "destination", "/queue/a", "url", "http://h:1/x", "path", `C:\t\n`),
			newFrame(CONNECT, "", "accept-version", "1.0", "login", "a\\b"),
		}},
		{V11, []*Frame{
			newFrame(SEND, "body", "destination", "/queue/a", "k"+escaped, escaped, "k", "v"),
			newFrame(MESSAGE, "", "subscription", "0", "message-id", "1", "destination", "/topic/:x"),
			newFrame(CONNECTED, "", "version", "1.1", "server", "stompd/1:x\\y"),
		}},
		{V12, []*Frame{
			newFrame(SEND, "body", "destination", "/queue/a", "k"+escaped+"\r", escaped+"\r\n"),
			newFrame(MESSAGE, "a\x00b", "content-length", "3", "x", "\\\\\\"),
			newFrame(ERROR, "details", "message", "bad: \"x\"\r\nline two", "code", "protocol-error"),
			newFrame(CONNECT, "", "Authorization", "Bearer a.b.c", "passcode", "p:\\q"),
		}},
	}
	for _, tc := range tests {
		for i, f := range tc.frames {
			t.Run(fmt.Sprintf("%s frame %d", tc.version, i), func(t *testing.T) {
				d := NewDecoder(Limits{})
				d.SetVersion(tc.version)
				got, err := decodeChunks(d, [][]byte{AppendFrame(nil, f, tc.version)})
				if err != nil {
					t.Fatal(err)
				}
				if diff := sameFrames(got, []*Frame{f}); diff != "" {
					t.Error(diff)
				}
			})
		}
	}
}

// TestUnescapedBytes checks what becomes of the header bytes a version
// cannot escape: spaces, so the frame stays well formed.
func TestUnescapedBytes(t *testing.T) {
	tests := []struct {
		version Version
		want    *Frame
	}{
		{V10, newFrame(MESSAGE, "", "k", "a b ", "n", "x y")},
		{V11, newFrame(MESSAGE, "", "k", "a b ", "n", "x\ny")},
	}
	for _, tc := range tests {
		t.Run(tc.version.String(), func(t *testing.T) {
			d := NewDecoder(Limits{})
			d.SetVersion(tc.version)
			wire := AppendFrame(nil, newFrame(MESSAGE, "", "k", "a\rb\r", "n", "x\ny"), tc.version)
			got, err := decodeChunks(d, [][]byte{wire})
			if err != nil || sameFrames(got, []*Frame{tc.want}) != "" {
				t.Fatalf("got %s, %v; want %s", dump(got), err, dump([]*Frame{tc.want}))
			}
		})
	}
}

// TestAppendHeaderLines checks that headers written for STOMP 1.2 and
// re-encoded read as if written for the version at once, whatever the
// bytes, command and version.
func TestAppendHeaderLines(t *testing.T) {
	values := []string{"plain", ":", "\n", "\r", "\\", "a:b\\c\r\nd", "\x00\xff"}
	for _, c := range []Command{SEND, CONNECT, CONNECTED, MESSAGE} {
		for _, v := range []Version{V10, V11, V12} {
			t.Run(fmt.Sprintf("%s %s", c, v), func(t *testing.T) {
				for _, k := range values {
					checkHeaderLines(t, c, v, []byte(k), []byte(k+"="+k))
				}
			})
		}
	}
}

// checkHeaderLines checks AppendHeaderLines on two headers key:value, the
// second one with an empty value.
func checkHeaderLines(t *testing.T, c Command, v Version, key, value []byte) {
	t.Helper()
	var lines, want []byte
	for _, val := range [][]byte{value, nil} {
		lines = AppendHeader(lines, c, key, val, V12)
		want = AppendHeader(want, c, key, val, v)
	}
	if got := AppendHeaderLines(nil, c, lines, v); string(got) != string(want) {
		t.Fatalf("%q:%q: re-encoded %q, want %q", key, value, got, want)
	}
}
