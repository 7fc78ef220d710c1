package stomp

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// typicalFrame returns a frame of command c with ten headers, as a client
// or the broker sends them, and a body of n bytes.
func typicalFrame(c Command, n int) *Frame {
	return newFrame(c, strings.Repeat("x", n),
		"destination", "/topic/chat.room-42",
		"content-type", "application/json;charset=utf-8",
		"content-length", strconv.Itoa(n),
		"subscription", "sub-0",
		"message-id", "01J9Z3T4M6Q7R8S9T0V1W2X3Y4",
		"receipt", "receipt-17",
		"persistent", "true",
		"priority", "4",
		"correlation-id", "c0ffee00-1234-5678-9abc-def012345678",
		"reply-to", "/user/3f2a/queue/replies",
	)
}

// decodeOne decodes one frame from p, fed in the given number of chunks.
func decodeOne(tb testing.TB, d *Decoder, p []byte, chunks int) {
	size := (len(p) + chunks - 1) / chunks
	var f *Frame
	for len(p) > 0 {
		n, got, err := d.Decode(p[:min(size, len(p))])
		if err != nil {
			tb.Fatal(err)
		}
		if got != nil {
			f = got
		}
		p = p[n:]
	}
	if f == nil {
		tb.Fatal("no frame decoded")
	}
}

// TestAllocs pins the codec's allocation budget in steady state: none to
// decode a typical SEND, whole or spread over several inputs, and none to
// encode one into a reused buffer.
func TestAllocs(t *testing.T) {
	f := typicalFrame(SEND, 256)
	wire := AppendFrame(nil, f, V12)
	for _, chunks := range []int{1, 2, 7} {
		t.Run(fmt.Sprintf("decode in %d chunks", chunks), func(t *testing.T) {
			d := NewDecoder(Limits{})
			decodeOne(t, d, wire, chunks)
			if n := testing.AllocsPerRun(100, func() { decodeOne(t, d, wire, chunks) }); n != 0 {
				t.Errorf("%v allocations per frame, want 0", n)
			}
		})
	}
	t.Run("encode", func(t *testing.T) {
		buf := AppendFrame(nil, f, V12)
		if n := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], f, V12) }); n != 0 {
			t.Errorf("%v allocations per frame, want 0", n)
		}
	})
	t.Run("fan-out pieces", func(t *testing.T) {
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() {
			buf = AppendCommand(buf[:0], MESSAGE)
			buf = AppendHeaderString(buf, MESSAGE, "subscription", "sub-0", V12)
			buf = AppendContentLength(buf, len(f.Body))
			buf = AppendBody(buf, f.Body)
		}); n != 0 {
			t.Errorf("%v allocations per frame, want 0", n)
		}
	})
	t.Run("ParseCommand", func(t *testing.T) {
		line := []byte("UNSUBSCRIBE")
		if n := testing.AllocsPerRun(100, func() { ParseCommand(line) }); n != 0 {
			t.Errorf("%v allocations, want 0", n)
		}
	})
}

var benchSizes = []int{0, 256, 64 << 10}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []Command{SEND, MESSAGE} {
		for _, size := range benchSizes {
			wire := AppendFrame(nil, typicalFrame(c, size), V12)
			for _, chunks := range []int{1, 4} {
				b.Run(fmt.Sprintf("%s/%dB/%d-chunks", c, size, chunks), func(b *testing.B) {
					d := NewDecoder(Limits{})
					b.ReportAllocs()
					b.SetBytes(int64(len(wire)))
					for b.Loop() {
						decodeOne(b, d, wire, chunks)
					}
				})
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []Command{SEND, MESSAGE} {
		for _, size := range benchSizes {
			f := typicalFrame(c, size)
			b.Run(fmt.Sprintf("%s/%dB", c, size), func(b *testing.B) {
				buf := AppendFrame(nil, f, V12)
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					buf = AppendFrame(buf[:0], f, V12)
				}
			})
		}
	}
}

// BenchmarkEncodeFanOut encodes a MESSAGE as the broker does for each
// subscriber: its own headers, then the shared headers and body encoded once.
func BenchmarkEncodeFanOut(b *testing.B) {
	f := typicalFrame(MESSAGE, 256)
	var shared []byte
	for _, h := range f.Headers[2:] {
		shared = AppendHeader(shared, MESSAGE, h.Key, h.Value, V12)
	}
	shared = AppendBody(shared, f.Body)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendFrame(nil, f, V12))))
	for b.Loop() {
		buf = AppendCommand(buf[:0], MESSAGE)
		buf = AppendHeaderString(buf, MESSAGE, "subscription", "sub-0", V12)
		buf = AppendHeaderString(buf, MESSAGE, "message-id", "01J9Z3T4M6Q7R8S9T0V1W2X3Y4", V12)
		buf = append(buf, shared...)
	}
}
