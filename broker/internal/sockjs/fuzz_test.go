package sockjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFraming feeds arbitrary bytes to a Decoder, whole and split in two,
// and checks that it never panics, that the split changes nothing, that a
// message decodes to no more bytes than it holds, and that on valid UTF-8
// it agrees with encoding/json. Valid UTF-8 is also taken as a set of STOMP
// frames (each ending at its NUL) and encoded as the broker writes them, one
// JSON string per frame, escaped in pieces that RuneCut cuts: decoding that
// message, whole or split, gives back the frames' bytes, and so does
// encoding/json.
func FuzzFraming(f *testing.F) {
	files, err := filepath.Glob("../../../testdata/frames/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, file := range files {
		in, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(len(in)/2), uint8(0), in)
	}
	for _, s := range []string{`["CONNECT\naccept-version:1.2\n\n\u0000"]`, `"a"`, `["\ud83d\ude00","\ud800"]`, `["a`, "\xff", "", " \n", "a\u2028😀\x00b\x00"} {
		f.Add(uint16(len(s)/2), uint8(len(s)), []byte(s))
	}
	f.Fuzz(func(t *testing.T, split uint16, chunk uint8, in []byte) {
		cut := int(split) % (len(in) + 1)
		checkDecode(t, in, cut)
		if utf8.Valid(in) {
			checkRoundTrip(t, in, cut, utf8.UTFMax+int(chunk))
		}
	})
}

// checkDecode decodes in whole and cut in two, and checks the results.
func checkDecode(t *testing.T, in []byte, cut int) {
	out, err := decodeAll(in)
	halves, herr := decodeAll(in[:cut], in[cut:])
	if (err == nil) != (herr == nil) || !bytes.Equal(out, halves) {
		t.Fatalf("whole: %q, %v; split at %d: %q, %v", out, err, cut, halves, herr)
	}
	if err != nil {
		return
	}
	if len(out) > len(in) {
		t.Fatalf("%d bytes decoded to %d", len(in), len(out))
	}
	if utf8.Valid(in) && len(bytes.Trim(in, " \t\r\n")) > 0 {
		want, jerr := jsonStrings(in)
		if jerr != nil || string(out) != want {
			t.Fatalf("decoded %q; encoding/json: %q, %v", out, want, jerr)
		}
	}
}

// checkRoundTrip encodes the frames of in, escaping at most n bytes at a
// time, and checks that decoding the message, cut at cut, gives in back.
func checkRoundTrip(t *testing.T, in []byte, cut, n int) {
	msg := encodeFrames(in, n)
	cut %= len(msg) + 1
	back, err := decodeAll(msg[:cut], msg[cut:])
	if err != nil || !bytes.Equal(back, in) {
		t.Fatalf("round trip of %q through %q: %q, %v", in, msg, back, err)
	}
	if want, err := jsonStrings(msg); err != nil || want != string(in) {
		t.Fatalf("encoding/json reads %q as %q, %v", msg, want, err)
	}
}

// encodeFrames writes the frames of in (each up to and including its NUL)
// as a JSON array of strings, escaping at most n bytes at a time.
func encodeFrames(in []byte, n int) []byte {
	msg := []byte{'['}
	for i, fr := range bytes.SplitAfter(in, []byte{0}) {
		if i > 0 {
			msg = append(msg, ',')
		}
		msg = append(msg, '"')
		for len(fr) > 0 {
			k := RuneCut(fr, n)
			msg = AppendText(msg, fr[:k])
			fr = fr[k:]
		}
		msg = append(msg, '"')
	}
	return append(msg, ']')
}

// jsonStrings decodes a JSON string or array of strings with encoding/json
// and concatenates them.
func jsonStrings(in []byte) (string, error) {
	var v any
	if err := json.Unmarshal(in, &v); err != nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return "", errors.New("not an array")
	}
	var sb strings.Builder
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return "", errors.New("not a string")
		}
		sb.WriteString(s)
	}
	return sb.String(), nil
}
