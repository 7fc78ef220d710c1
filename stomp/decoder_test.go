package stomp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeCase is one input and what every way of feeding it must yield: the
// frames, then (when err is set) that error.
type decodeCase struct {
	name    string
	version Version // 0: SetVersion is not called
	limits  Limits
	in      string
	want    []*Frame
	err     error  // the sentinel the decoder fails with, after want
	detail  string // the error's Detail when the input is fed whole
}

func (c decodeCase) decoder() *Decoder {
	d := NewDecoder(c.limits)
	if c.version != 0 {
		d.SetVersion(c.version)
	}
	return d
}

// check feeds the case's input every way and compares the outcome.
func (c decodeCase) check(t *testing.T) {
	t.Helper()
	in := []byte(c.in)
	for _, fd := range feedings(in) {
		got, err := decodeChunks(c.decoder(), fd.chunks)
		c.compare(t, fd.name, got, err)
	}
	for name, r := range readers(in) {
		got, err := decodeReader(c.decoder(), r)
		c.compare(t, name, got, err)
	}
	// Several copies in one buffer decode as several times the frames.
	if c.err == nil {
		got, err := decodeChunks(c.decoder(), [][]byte{[]byte(c.in + c.in + c.in)})
		c.compare(t, "three in one buffer", got[:len(got)/3], err)
		if len(got) != 3*len(c.want) {
			t.Errorf("three in one buffer: got %d frames, want %d", len(got), 3*len(c.want))
		}
	}
	if c.detail != "" {
		_, err := decodeChunks(c.decoder(), [][]byte{in})
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Detail != c.detail {
			t.Errorf("fed whole: got error %v, want detail %q", err, c.detail)
		}
	}
}

func (c decodeCase) compare(t *testing.T, how string, got []*Frame, err error) {
	t.Helper()
	if diff := sameFrames(got, c.want); diff != "" {
		t.Errorf("%s: %s", how, diff)
	}
	var pe *ProtocolError
	switch {
	case c.err == nil && err != nil:
		t.Errorf("%s: unexpected error %v", how, err)
	case c.err != nil && !errors.Is(err, c.err):
		t.Errorf("%s: got error %v, want %v", how, err, c.err)
	case c.err != nil && !errors.As(err, &pe):
		t.Errorf("%s: error %v is not a *ProtocolError", how, err)
	}
}

func TestDecodeFrames(t *testing.T) {
	send := newFrame(SEND, "hello queue a\n", "destination", "/queue/a", "content-type", "text/plain")
	tests := []decodeCase{
		{name: "spec SEND", in: "SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\x00", want: []*Frame{send}},
		{name: "CRLF lines", in: "SEND\r\ndestination:/queue/a\r\ncontent-type:text/plain\r\n\r\nhello queue a\n\x00", want: []*Frame{send}},
		{name: "no headers", in: "DISCONNECT\n\n\x00", want: []*Frame{newFrame(DISCONNECT, "")}},
		{name: "heart-beats around frames",
			in:   "\n\r\n\nDISCONNECT\n\n\x00\n\r\n\r\nDISCONNECT\n\n\x00\r\n\n",
			want: []*Frame{newFrame(DISCONNECT, ""), newFrame(DISCONNECT, "")}},
		{name: "only heart-beats", in: "\n\r\n\n\r\n"},
		{name: "stray NULs between frames, as RabbitMQ skips them",
			in:   "\x00SUBSCRIBE\nid:0\ndestination:/q\n\n\x00\x00\n\x00\r\n\x00DISCONNECT\n\n\x00\x00",
			want: []*Frame{newFrame(SUBSCRIBE, "", "id", "0", "destination", "/q"), newFrame(DISCONNECT, "")}},
		{name: "only NULs and heart-beats", in: "\x00\n\x00\x00\r\n\x00"},
		{name: "content-length body with NULs",
			in:   "SEND\ndestination:/b\ncontent-length:6\n\n\x00a\x00\nb\x00\x00",
			want: []*Frame{newFrame(SEND, "\x00a\x00\nb\x00", "destination", "/b", "content-length", "6")}},
		{name: "content-length zero", in: "SEND\ncontent-length:0\n\n\x00",
			want: []*Frame{newFrame(SEND, "", "content-length", "0")}},
		{name: "content-length leading zeros", in: "SEND\ncontent-length:002\n\nab\x00",
			want: []*Frame{newFrame(SEND, "ab", "content-length", "002")}},
		{name: "first content-length counts", in: "SEND\ncontent-length:1\ncontent-length:x\n\n\x00\x00",
			want: []*Frame{newFrame(SEND, "\x00", "content-length", "1", "content-length", "x")}},
		{name: "repeated headers kept in order", in: "MESSAGE\nfoo:World\nfoo:Hello\n\n\x00",
			want: []*Frame{newFrame(MESSAGE, "", "foo", "World", "foo", "Hello")}},
		{name: "values not trimmed, empty value, raw colon", in: "SEND\nk: v \ne:\nurl:http://x:1/\n\n\x00",
			want: []*Frame{newFrame(SEND, "", "k", " v ", "e", "", "url", "http://x:1/")}},
		{name: "binary body without content-length", in: "SEND\n\n\r\n\xff\x01\x00",
			want: []*Frame{newFrame(SEND, "\r\n\xff\x01")}},
		{name: "V12 escapes", in: "MESSAGE\na\\cb:1\\r\\n2\\c3\\\\4\n\n\x00",
			want: []*Frame{newFrame(MESSAGE, "", "a:b", "1\r\n2:3\\4")}},
		{name: "V11 escapes", version: V11, in: "MESSAGE\na\\cb:1\\n2\\c3\\\\4\n\n\x00",
			want: []*Frame{newFrame(MESSAGE, "", "a:b", "1\n2:3\\4")}},
		{name: "V10 no escapes", version: V10, in: "MESSAGE\na\\cb:1\\n2\\t\\\n\n\x00",
			want: []*Frame{newFrame(MESSAGE, "", "a\\cb", "1\\n2\\t\\")}},
		{name: "CONNECT not unescaped", in: "CONNECT\npasscode:a\\b:c\\\nhost:h\n\n\x00",
			want: []*Frame{newFrame(CONNECT, "", "passcode", "a\\b:c\\", "host", "h")}},
		{name: "STOMP not unescaped", in: "STOMP\nlogin:a\\t\n\n\x00",
			want: []*Frame{newFrame(STOMP, "", "login", "a\\t")}},
		{name: "CONNECTED not unescaped", version: V12, in: "CONNECTED\nserver:x\\y\n\n\x00",
			want: []*Frame{newFrame(CONNECTED, "", "server", "x\\y")}},
		{name: "frames of several commands",
			in: "SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client-individual\n\n\x00ACK\nid:7\n\n\x00UNSUBSCRIBE\nid:0\n\n\x00",
			want: []*Frame{
				newFrame(SUBSCRIBE, "", "id", "0", "destination", "/queue/foo", "ack", "client-individual"),
				newFrame(ACK, "", "id", "7"),
				newFrame(UNSUBSCRIBE, "", "id", "0"),
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []decodeCase{
		{name: "unknown command", in: "FOO\n\n\x00", err: ErrUnknownCommand, detail: `unknown command "FOO"`},
		{name: "long unknown command, quoted in part", in: strings.Repeat("X", 100) + "\n", err: ErrUnknownCommand,
			detail: `unknown command "` + strings.Repeat("X", 64) + `"...`},
		{name: "lower-case command", in: "send\n\n\x00", err: ErrUnknownCommand},
		{name: "command with a space", in: "SEND \n\n\x00", err: ErrUnknownCommand},
		{name: "CR inside the command line", in: "SE\rND\n\n\x00", err: ErrUnknownCommand},
		{name: "valid frame, then unknown command", in: "DISCONNECT\n\n\x00\nNOPE\n",
			want: []*Frame{newFrame(DISCONNECT, "")}, err: ErrUnknownCommand},
		{name: "header without colon", in: "SEND\ndestination\n\n\x00", err: ErrMalformedHeader,
			detail: `header line "destination" has no name before a colon`},
		{name: "empty header name", in: "SEND\n:v\n\n\x00", err: ErrMalformedHeader},
		{name: "bare CR in header", in: "SEND\nk:a\rb\n\n\x00", err: ErrMalformedHeader},
		{name: "CR before CRLF", in: "SEND\nk:a\r\r\n\n\x00", err: ErrMalformedHeader},
		{name: "NUL in header (lost blank line)", in: "SEND\nk:v\n\x00\n", err: ErrMalformedHeader},
		{name: "V12 undefined escape", in: "SEND\nk:a\\tb\n\n\x00", err: ErrInvalidEscape,
			detail: `undefined escape sequence "\\t" in the value of header "k" (STOMP 1.2)`},
		{name: "V12 lone backslash", in: "SEND\nk:ab\\\n\n\x00", err: ErrInvalidEscape,
			detail: `lone backslash at the end in the value of header "k" (STOMP 1.2)`},
		{name: "V12 bad escape in name", in: "SEND\nk\\x:v\n\n\x00", err: ErrInvalidEscape},
		{name: "V11 has no \\r", version: V11, in: "SEND\nk:a\\rb\n\n\x00", err: ErrInvalidEscape},
		{name: "content-length not a number", in: "SEND\ncontent-length:abc\n\n\x00", err: ErrBadContentLength,
			detail: `content-length "abc" is not a decimal number of bytes`},
		{name: "content-length negative", in: "SEND\ncontent-length:-1\n\n\x00", err: ErrBadContentLength},
		{name: "content-length with sign", in: "SEND\ncontent-length:+1\n\na\x00", err: ErrBadContentLength},
		{name: "content-length empty", in: "SEND\ncontent-length:\n\n\x00", err: ErrBadContentLength},
		{name: "content-length padded", in: "SEND\ncontent-length: 1\n\na\x00", err: ErrBadContentLength},
		{name: "content-length over the body limit, no body sent", in: "SEND\ncontent-length:2000000\n\n",
			err: ErrBodyTooLarge, detail: "body of 2000000 bytes exceeds the limit of 1048576"},
		{name: "content-length beyond int", in: "SEND\ncontent-length:99999999999999999999999\n", err: ErrBodyTooLarge},
		{name: "content-length too short", in: "SEND\ncontent-length:2\n\nabc\x00", err: ErrMissingNull,
			detail: `the 2-byte body that content-length declared is followed by 'c', not NUL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}
}

func TestDecodeLimits(t *testing.T) {
	line := func(n int) string { return strings.Repeat("v", n) }
	headers := func(n int) string { return strings.Repeat("k:v\n", n) }
	tests := []decodeCase{
		{name: "header line at the limit", limits: Limits{MaxHeaderLine: 10},
			in: "SEND\nk:" + line(8) + "\n\n\x00", want: []*Frame{newFrame(SEND, "", "k", line(8))}},
		{name: "header line at the limit with CRLF", limits: Limits{MaxHeaderLine: 10},
			in: "SEND\r\nk:" + line(8) + "\r\n\r\n\x00", want: []*Frame{newFrame(SEND, "", "k", line(8))}},
		{name: "header line over the limit", limits: Limits{MaxHeaderLine: 10},
			in: "SEND\nk:" + line(9) + "\n\n\x00", err: ErrHeaderLineTooLong,
			detail: "header line of 11 bytes exceeds the limit of 10"},
		{name: "command line over the limit", limits: Limits{MaxHeaderLine: 5},
			in: "MESSAGE\n\n\x00", err: ErrHeaderLineTooLong, detail: "command line of 7 bytes exceeds the limit of 5"},
		{name: "headers at the limit", limits: Limits{MaxHeaders: 3},
			in: "SEND\n" + headers(3) + "\n\x00", want: []*Frame{newFrame(SEND, "", "k", "v", "k", "v", "k", "v")}},
		{name: "headers over the limit", limits: Limits{MaxHeaders: 3},
			in: "SEND\n" + headers(4) + "\n\x00", err: ErrTooManyHeaders, detail: "header 4 exceeds the limit of 3 headers"},
		{name: "body at the limit", limits: Limits{MaxBodySize: 4},
			in: "SEND\n\nabcd\x00", want: []*Frame{newFrame(SEND, "abcd")}},
		{name: "body over the limit", limits: Limits{MaxBodySize: 4},
			in: "SEND\n\nabcde\x00", err: ErrBodyTooLarge},
		{name: "content-length at the body limit", limits: Limits{MaxBodySize: 4},
			in: "SEND\ncontent-length:4\n\nabcd\x00", want: []*Frame{newFrame(SEND, "abcd", "content-length", "4")}},
		{name: "content-length over the body limit", limits: Limits{MaxBodySize: 4},
			in: "SEND\ncontent-length:5\n\n", err: ErrBodyTooLarge, detail: "body of 5 bytes exceeds the limit of 4"},
		{name: "frame at the limit", limits: Limits{MaxFrameSize: 10},
			in: "SEND\n\nabc\x00", want: []*Frame{newFrame(SEND, "abc")}},
		{name: "frame over the limit", limits: Limits{MaxFrameSize: 10},
			in: "SEND\n\nabcd\x00", err: ErrFrameTooLarge, detail: "frame of at least 11 bytes exceeds the limit of 10"},
		{name: "frame with content-length over the limit, no body sent", limits: Limits{MaxFrameSize: 30},
			in: "SEND\ncontent-length:20\n\n", err: ErrFrameTooLarge, detail: "frame of 45 bytes exceeds the limit of 30"},
		{name: "heart-beats do not count towards the frame", limits: Limits{MaxFrameSize: 10},
			in: "\n\n\n\n\n\n\n\n\n\n\nSEND\n\nabc\x00\n\n\n\n\n\n\n\n\n\n\n", want: []*Frame{newFrame(SEND, "abc")}},
		{name: "negative limits mean none", limits: Limits{MaxHeaderLine: -1, MaxHeaders: -1, MaxBodySize: -1, MaxFrameSize: -1},
			in: "SEND\n" + headers(100) + "\n" + line(100) + "\x00", want: []*Frame{newFrame(SEND, line(100), strings.Split(strings.Repeat("k:v:", 100), ":")...)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}
}

// TestLimitsBeforeBuffering feeds endless input that breaks a limit and
// checks that the decoder fails before it has taken in more than the
// limit allows, whatever the peer claims or keeps sending.
func TestLimitsBeforeBuffering(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		prefix string
		filler string
		err    error
		most   int // bytes the decoder may consume before it fails
	}{
		{"command line", Limits{MaxHeaderLine: 100}, "", "A", ErrHeaderLineTooLong, 101},
		{"header line", Limits{MaxHeaderLine: 100}, "SEND\n", "v", ErrHeaderLineTooLong, 5 + 101},
		{"header line of CRs", Limits{MaxHeaderLine: 100}, "SEND\n", "\r", ErrHeaderLineTooLong, 5 + 101},
		{"headers", Limits{MaxHeaders: 10}, "SEND\n", "k:v\n", ErrTooManyHeaders, 5 + 11*4},
		{"body", Limits{MaxBodySize: 1000}, "SEND\n\n", "x", ErrBodyTooLarge, 6 + 1000},
		{"declared body", Limits{}, "SEND\ncontent-length:1073741824\n\n", "x", ErrBodyTooLarge, 33},
		{"frame", Limits{MaxFrameSize: 500}, "SEND\n\n", "x", ErrFrameTooLarge, 500},
		{"frame of headers", Limits{MaxFrameSize: 500}, "SEND\n", "key:vvvvvvvvvvvvvvvvvvvv\n", ErrFrameTooLarge, 500},
		{"declared frame", Limits{MaxFrameSize: 500}, "SEND\ncontent-length:1000\n\n", "x", ErrFrameTooLarge, 27},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.limits)
			p := []byte(tc.prefix + strings.Repeat(tc.filler, 7))
			consumed := 0
			for consumed < 10<<20 {
				n, _, err := d.Decode(p)
				consumed += n
				if err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("got %v, want %v", err, tc.err)
					}
					if consumed > tc.most {
						t.Errorf("consumed %d bytes before failing, want at most %d", consumed, tc.most)
					}
					if cap(d.buf) > 2*tc.most {
						t.Errorf("buffered %d bytes before failing, want at most %d", cap(d.buf), tc.most)
					}
					return
				}
				p = []byte(strings.Repeat(tc.filler, 7))
			}
			t.Fatalf("no error after %d bytes", consumed)
		})
	}
}

func TestSetLimitsBetweenFrames(t *testing.T) {
	big := "SEND\n\n" + strings.Repeat("x", 1000) + "\x00"
	d := NewDecoder(Limits{MaxFrameSize: 100})
	got, err := decodeChunks(d, [][]byte{[]byte("CONNECT\naccept-version:1.2\n\n\x00")})
	if err != nil || len(got) != 1 {
		t.Fatalf("CONNECT: %d frames, %v", len(got), err)
	}
	d.SetLimits(Limits{})
	if got, err = decodeChunks(d, [][]byte{[]byte(big)}); err != nil || len(got) != 1 {
		t.Fatalf("relaxed: %d frames, %v", len(got), err)
	}
	d.SetLimits(Limits{MaxFrameSize: 100})
	if _, err = decodeChunks(d, [][]byte{[]byte(big)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("tightened: got %v, want ErrFrameTooLarge", err)
	}
}

func TestSetVersion(t *testing.T) {
	in := []byte("MESSAGE\nk:a\\nb\n\n\x00")
	tests := []struct {
		version Version
		want    string
	}{{V10, "a\\nb"}, {V11, "a\nb"}, {V12, "a\nb"}}
	for _, tc := range tests {
		t.Run(tc.version.String(), func(t *testing.T) {
			d := NewDecoder(Limits{})
			d.SetVersion(tc.version)
			got, err := decodeChunks(d, [][]byte{in})
			if err != nil || len(got) != 1 || got[0].Value("k") != tc.want {
				t.Fatalf("got %s, %v; want k=%q", dump(got), err, tc.want)
			}
		})
	}
}

func TestDecodeAfterError(t *testing.T) {
	d := NewDecoder(Limits{})
	_, _, err := d.Decode([]byte("BAD\n"))
	if !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("got %v, want ErrUnknownCommand", err)
	}
	n, f, again := d.Decode([]byte("DISCONNECT\n\n\x00"))
	if n != 0 || f != nil || again != err {
		t.Fatalf("after an error: got %d, %v, %v; want 0, nil, the same error", n, f, again)
	}
}

func TestProtocolErrorText(t *testing.T) {
	tests := []struct {
		err  *ProtocolError
		want string
	}{
		{&ProtocolError{Err: ErrBodyTooLarge, Detail: "body of 5 bytes exceeds the limit of 4"},
			"body too large: body of 5 bytes exceeds the limit of 4"},
		{&ProtocolError{Err: ErrMissingNull}, "frame body not terminated by NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProtocolErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{ErrFrameTooLarge, CodeLimitExceeded}, {ErrBodyTooLarge, CodeLimitExceeded},
		{ErrTooManyHeaders, CodeLimitExceeded}, {ErrHeaderLineTooLong, CodeLimitExceeded},
		{ErrUnknownCommand, CodeProtocolError}, {ErrMalformedHeader, CodeProtocolError},
		{ErrInvalidEscape, CodeProtocolError}, {ErrBadContentLength, CodeProtocolError},
		{ErrMissingNull, CodeProtocolError},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := (&ProtocolError{Err: tc.err}).Code(); got != tc.code {
				t.Errorf("got %q, want %q", got, tc.code)
			}
		})
	}
}

// TestDecodeSlicesInput checks the zero-copy path: a frame that is whole in
// the input aliases it.
func TestDecodeSlicesInput(t *testing.T) {
	p := []byte("SEND\ndestination:/a\n\nbody\x00")
	_, f, err := NewDecoder(Limits{}).Decode(p)
	if err != nil || f == nil {
		t.Fatalf("got %v, %v", f, err)
	}
	if &f.Body[0] != &p[len(p)-5] || &f.Headers[0].Value[0] != &p[17] {
		t.Error("the frame does not alias its input")
	}
}

// TestDecodeReleasesLargeBuffer checks that the buffer grown for an
// exceptional frame spread over inputs is not kept for the next one.
func TestDecodeReleasesLargeBuffer(t *testing.T) {
	in := []byte("SEND\n\n" + strings.Repeat("x", maxRetained) + "\x00DISCONNECT\n\n\x00")
	d := NewDecoder(Limits{MaxBodySize: -1})
	got, err := decodeChunks(d, [][]byte{in[:100], in[100:]})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d frames, %v", len(got), err)
	}
	if cap(d.buf) > maxRetained {
		t.Errorf("kept a buffer of %d bytes", cap(d.buf))
	}
}

// TestCorpus decodes every frame in the seed corpus, fed every way.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("../testdata/frames/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want, err := decodeChunks(NewDecoder(Limits{}), [][]byte{in})
			if err != nil || len(want) == 0 {
				t.Fatalf("got %d frames, %v", len(want), err)
			}
			decodeCase{in: string(in), want: want}.check(t)
		})
	}
}

// TestRelease checks that Release frees the buffer between frames only:
// mid-frame it leaves the frame to complete intact.
func TestRelease(t *testing.T) {
	f := typicalFrame(SEND, 256)
	wire := AppendFrame(nil, f, V12)
	d := NewDecoder(Limits{})
	for range 2 {
		n, got, err := d.Decode(wire[:100])
		if n != 100 || got != nil || err != nil {
			t.Fatalf("first part: %d, %v, %v", n, got, err)
		}
		d.Release() // mid-frame: kept
		_, got, err = d.Decode(wire[100:])
		if err != nil || got == nil || string(got.Body) != string(f.Body) || len(got.Headers) != len(f.Headers) {
			t.Fatalf("frame after a mid-frame Release: %v, %v", got, err)
		}
		d.Release()
		if d.buf != nil {
			t.Fatal("buffer kept after Release between frames")
		}
	}
}

// TestHeld checks that Held counts the buffer of a frame spread over
// inputs while it is partial, and nothing once it completes, nor for the
// room a completed frame left in the buffer.
func TestHeld(t *testing.T) {
	wire := AppendFrame(nil, typicalFrame(SEND, 4096), V12)
	d := NewDecoder(Limits{})
	if _, _, err := d.Decode(wire[:3000]); err != nil || d.Held() < 3000 {
		t.Fatalf("after 3000 bytes: held %d, err %v; want at least 3000", d.Held(), err)
	}
	if _, f, err := d.Decode(wire[3000:]); f == nil || err != nil || d.Held() != 0 {
		t.Fatalf("after the rest: frame %v, err %v, held %d; want the frame, held 0", f, err, d.Held())
	}
	if cap(d.buf) == 0 {
		t.Fatal("the buffer is gone: the last check proved nothing")
	}
}
