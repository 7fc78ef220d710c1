package broker

import (
	"context"
	"sync/atomic"
	"testing"
)

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

// busyTransport is a TCP transport whose client always has more bytes
// waiting, as a busy WebSocket client has after each message.
type busyTransport struct{ *tcpTransport }

func (busyTransport) pending() bool { return true }

// TestShortReadsOfABusyClient feeds SENDs that each spread over two short
// reads: while the client's next bytes wait, the decoder keeps the buffer
// that joins the pieces, so a SEND allocates only its message; a quiet
// client's decoder gives it up after each frame.
func TestShortReadsOfABusyClient(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	send := []byte(frame("SEND", "body", "destination:/topic/t"))
	for _, busy := range []bool{true, false} {
		br := anonymousBroker(Options{})
		t.Cleanup(func() { br.Shutdown(context.Background()) })
		var tr transport = &tcpTransport{nc: newSinkConn("", new(atomic.Int64))}
		if busy {
			tr = busyTransport{tr.(*tcpTransport)}
		}
		c := br.newConn(tr, transportTCP, "127.0.0.1:2", "")
		c.feed([]byte(frame("CONNECT", "", "accept-version:1.2", "login:b")))
		n := testing.AllocsPerRun(100, func() {
			if !c.feed(send[:20]) || !c.feed(send[20:]) {
				t.Fatal("the session ended")
			}
		})
		if onlyMessage := n <= 2; onlyMessage != busy {
			t.Errorf("busy %v: %v allocations per SEND", busy, n)
		}
	}
}
