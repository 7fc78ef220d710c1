package broker

import "testing"

// TestReadBufferSizes checks that the read buffer doubles while reads fill
// it, up to maxReadBuffer, and goes back to minReadBuffer after a quiet
// read.
func TestReadBufferSizes(t *testing.T) {
	var r readBuffer
	if n := len(r.next()); n != minReadBuffer {
		t.Fatalf("first buffer %d bytes, want %d", n, minReadBuffer)
	}
	steps := []struct {
		read, want int
	}{
		{512, 1024}, {1024, 2048}, {2048, 4096}, // full reads double it
		{quietRead, 4096},    // a short read, not a quiet one: kept
		{quietRead - 1, 512}, // a quiet read shrinks it
		{10, 512},            // never below the minimum
	}
	for _, s := range steps {
		r.filled(s.read)
		if n := len(r.next()); n != s.want {
			t.Fatalf("after a read of %d: %d bytes, want %d", s.read, n, s.want)
		}
	}
	for len(r.next()) < maxReadBuffer {
		r.filled(len(r.next()))
	}
	r.filled(maxReadBuffer)
	if n := len(r.next()); n != maxReadBuffer {
		t.Fatalf("grew past the maximum: %d bytes", n)
	}
}
