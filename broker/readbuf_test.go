package broker

import "testing"

// TestReadBufferSizes checks that the read buffer doubles while reads fill
// it, up to maxReadBuffer, is kept after a short read that is not quiet,
// and is given up after a quiet one, the next read taking a small buffer.
func TestReadBufferSizes(t *testing.T) {
	var r readBuffer
	if n := len(r.next()); n != minReadBuffer {
		t.Fatalf("first buffer %d bytes, want %d", n, minReadBuffer)
	}
	steps := []struct {
		read, want int
		held       bool // after rest
	}{
		{512, 1024, true}, {1024, 2048, true}, {2048, 4096, true}, // full reads double it
		{quietRead, 4096, true},     // a short read, not a quiet one: kept
		{quietRead - 1, 512, false}, // a quiet read gives it up
		{minReadBuffer, 1024, true}, // a full small one doubles
		{10, minReadBuffer, false},  // never below the minimum
		{quietRead, 512, true},      // a small one is kept too while not quiet
	}
	for _, s := range steps {
		r.filled(s.read)
		r.rest()
		if r.held() != s.held {
			t.Fatalf("after a read of %d: held %v, want %v", s.read, r.held(), s.held)
		}
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
