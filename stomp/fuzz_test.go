package stomp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzLimits are small, so the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxFrameSize: 512, MaxBodySize: 128, MaxHeaders: 8, MaxHeaderLine: 64}

// FuzzDecode feeds arbitrary bytes to a Decoder, whole and in pieces, and
// checks that it never panics, that every frame it accepts respects the
// limits, that the way bytes arrive changes nothing, and that each frame it
// accepts survives encoding: decode(AppendFrame(frame)) == frame.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("../testdata/frames/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, file := range files {
		in, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range []Version{V10, V11, V12} {
			f.Add(uint8(v), uint16(len(in)/2), in)
		}
	}
	f.Fuzz(func(t *testing.T, version uint8, split uint16, in []byte) {
		v := Version(version%3) + V10
		whole, wholeErr := decodeChunks(fuzzDecoder(v), [][]byte{in})
		cut := int(split) % (len(in) + 1)
		for _, fd := range []feeding{
			{name: "split at " + strconv.Itoa(cut), chunks: [][]byte{in[:cut], in[cut:]}},
			{name: "byte by byte", chunks: bytewise(in)},
		} {
			got, err := decodeChunks(fuzzDecoder(v), fd.chunks)
			if diff := sameFrames(got, whole); diff != "" {
				t.Fatalf("%s: %s", fd.name, diff)
			}
			if !sameError(wholeErr, err) {
				t.Fatalf("whole: %v; %s: %v", wholeErr, fd.name, err)
			}
		}
		var pe *ProtocolError
		if wholeErr != nil && !errors.As(wholeErr, &pe) {
			t.Fatalf("error %v is not a *ProtocolError", wholeErr)
		}
		for _, fr := range whole {
			checkLimits(t, fr)
			checkRoundTrip(t, fr, v)
		}
	})
}

func fuzzDecoder(v Version) *Decoder {
	d := NewDecoder(fuzzLimits)
	d.SetVersion(v)
	return d
}

// sameError reports whether two decoding errors wrap the same sentinel.
func sameError(a, b error) bool {
	var pa, pb *ProtocolError
	if !errors.As(a, &pa) || !errors.As(b, &pb) {
		return a == nil && b == nil
	}
	return pa.Err == pb.Err
}

// checkLimits checks a decoded frame against fuzzLimits. Unescaping only
// shortens, so the decoded sizes are lower bounds of the wire sizes.
func checkLimits(t *testing.T, f *Frame) {
	if len(f.Headers) > fuzzLimits.MaxHeaders {
		t.Fatalf("%d headers, limit %d", len(f.Headers), fuzzLimits.MaxHeaders)
	}
	if len(f.Body) > fuzzLimits.MaxBodySize {
		t.Fatalf("body of %d bytes, limit %d", len(f.Body), fuzzLimits.MaxBodySize)
	}
	size := len(f.Command.String()) + 1 + 1 + len(f.Body) + 1
	for _, h := range f.Headers {
		if n := len(h.Key) + 1 + len(h.Value); n > fuzzLimits.MaxHeaderLine {
			t.Fatalf("header line of %d bytes, limit %d", n, fuzzLimits.MaxHeaderLine)
		}
		size += len(h.Key) + 1 + len(h.Value) + 1
	}
	if size > fuzzLimits.MaxFrameSize {
		t.Fatalf("frame of %d bytes, limit %d", size, fuzzLimits.MaxFrameSize)
	}
}

// checkRoundTrip encodes f and decodes it again, without limits, since
// escaping may lengthen it.
func checkRoundTrip(t *testing.T, f *Frame, v Version) {
	want := f.Clone()
	if bytes.IndexByte(f.Body, 0) >= 0 && !f.Has("content-length") {
		want.Add("content-length", strconv.Itoa(len(f.Body)))
	}
	d := NewDecoder(Limits{MaxFrameSize: -1, MaxBodySize: -1, MaxHeaders: -1, MaxHeaderLine: -1})
	d.SetVersion(v)
	got, err := decodeChunks(d, [][]byte{AppendFrame(nil, want, v)})
	if err != nil {
		t.Fatalf("re-decoding %s: %v", dump([]*Frame{want}), err)
	}
	if diff := sameFrames(got, []*Frame{want}); diff != "" {
		t.Fatalf("round trip: %s", diff)
	}
}

// FuzzAppendHeaderLines checks AppendHeaderLines on arbitrary headers.
func FuzzAppendHeaderLines(f *testing.F) {
	f.Add(uint8(V10), []byte("k:\\"), []byte("a:b\r\n\\c"))
	f.Fuzz(func(t *testing.T, version uint8, key, value []byte) {
		if len(key) == 0 {
			return
		}
		v := Version(version%3) + V10
		for _, c := range []Command{MESSAGE, CONNECT} {
			checkHeaderLines(t, c, v, key, value)
		}
	})
}
