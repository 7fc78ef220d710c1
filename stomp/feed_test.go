package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing/iotest"
)

// newFrame builds a frame from alternating header keys and values.
func newFrame(c Command, body string, kv ...string) *Frame {
	f := &Frame{Command: c, Body: []byte(body)}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

// feeding is one way of handing an input to a Decoder: its chunks, in order.
type feeding struct {
	name   string
	chunks [][]byte
}

// feedings returns every way the tests feed in: whole, byte by byte, and
// split in two at every point.
func feedings(in []byte) []feeding {
	fs := []feeding{{name: "whole", chunks: [][]byte{in}}, {name: "byte by byte", chunks: bytewise(in)}}
	for i := 1; i < len(in); i++ {
		fs = append(fs, feeding{name: fmt.Sprintf("split at %d", i), chunks: [][]byte{in[:i], in[i:]}})
	}
	return fs
}

// bytewise cuts in into one-byte chunks.
func bytewise(in []byte) [][]byte {
	chunks := make([][]byte, len(in))
	for i := range in {
		chunks[i] = in[i : i+1]
	}
	return chunks
}

// readers returns the testing/iotest readers the tests feed through.
func readers(in []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"OneByteReader":           iotest.OneByteReader(bytes.NewReader(in)),
		"HalfReader":              iotest.HalfReader(bytes.NewReader(in)),
		"DataErrReader":           iotest.DataErrReader(bytes.NewReader(in)),
		"DataErrReader(HalfRead)": iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(in))),
	}
}

// decodeChunks feeds chunks to d as a reader would, and returns copies of
// the frames decoded until the first error. Each chunk is copied first,
// since Decode may write to its input.
func decodeChunks(d *Decoder, chunks [][]byte) ([]*Frame, error) {
	var frames []*Frame
	for _, c := range chunks {
		p := bytes.Clone(c)
		for len(p) > 0 {
			n, f, err := d.Decode(p)
			if err != nil {
				return frames, err
			}
			if n == 0 {
				return frames, errors.New("Decode consumed nothing and returned no error")
			}
			p = p[n:]
			if f != nil {
				frames = append(frames, f.Clone())
			}
		}
		d.Release() // as a reader does after a quiet read: a no-op mid-frame
	}
	return frames, nil
}

// decodeReader runs the read loop of a connection's reader over r with a
// small buffer, and returns copies of the frames decoded.
func decodeReader(d *Decoder, r io.Reader) ([]*Frame, error) {
	var frames []*Frame
	buf := make([]byte, 16)
	for {
		n, rerr := r.Read(buf)
		got, err := decodeChunks(d, [][]byte{buf[:n]})
		frames = append(frames, got...)
		if err != nil {
			return frames, err
		}
		if rerr == io.EOF {
			return frames, nil
		}
		if rerr != nil {
			return frames, rerr
		}
	}
}

// sameFrames reports how got differs from want, or "" when it does not.
func sameFrames(got, want []*Frame) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d frames %s, want %d %s", len(got), dump(got), len(want), dump(want))
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			return fmt.Sprintf("frame %d: got %s, want %s", i, dump(got[i:i+1]), dump(want[i:i+1]))
		}
	}
	return ""
}

func dump(fs []*Frame) string {
	s := ""
	for _, f := range fs {
		s += "[" + f.Command.String()
		for _, h := range f.Headers {
			s += fmt.Sprintf(" %q:%q", h.Key, h.Value)
		}
		s += fmt.Sprintf(" body %q]", f.Body)
	}
	return s
}
