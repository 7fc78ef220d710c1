package broker

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// halfSend is a SEND whose header promises a body of 64 KiB, with half of
// it: a client that stops after it leaves a frame half-sent.
var halfSend = func() string {
	f := frame("SEND", strings.Repeat("x", 64<<10), "destination:/topic/a", "content-length:65536")
	return f[:len(f)/2]
}()

// TestFrameTimeoutCutsHalfSentFrame checks, in fake time, that a client
// without heart-beats that stops in the middle of a frame gets ERROR
// limit-exceeded ("frame not completed") once the frame is older than the timeout, within a tick (a
// quarter of it), and not before; the frame's age counts from its own first
// byte, not from that of a frame which ended in the same read.
func TestFrameTimeoutCutsHalfSentFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 2 * time.Second // its quarter more within the client's read timeout
		c, cl := pipeSession(t, Options{FrameTimeout: timeout})
		cl.write(frame("CONNECT", "", "accept-version:1.2", "heart-beat:0,0"))
		cl.expect("CONNECTED")
		time.Sleep(3 * timeout / 2)
		cl.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/b", "receipt:r") + halfSend)
		began := time.Now()
		cl.expect("RECEIPT", "receipt-id:r")
		cl.expectError(CodeLimitExceeded, "frame not completed within 2s")
		if d := time.Since(began); d <= timeout || d > timeout+timeout/4 {
			t.Fatalf("cut %v after the frame began, want more than %v and at most a quarter more", d, timeout)
		}
		if n := value(t, c.b.o.Metrics.FrameTimeoutDisconnects); n != 1 {
			t.Fatalf("frame_timeout_disconnects_total %v, want 1", n)
		}
	})
}

// TestFrameTimeoutSpareSteadySender checks, in fake time, that a client
// that sends each frame slowly, in pieces, but completes it within the
// timeout stays connected however long the whole takes.
func TestFrameTimeoutSpareSteadySender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cl := pipeSession(t, Options{})
		cl.write(frame("CONNECT", "", "accept-version:1.2"))
		cl.expect("CONNECTED")
		f := frame("SEND", strings.Repeat("y", 1000), "destination:/topic/a", "receipt:r")
		for range 4 { // 4 frames of 25 s each
			for piece := range 5 {
				cl.write(f[piece*len(f)/5 : (piece+1)*len(f)/5])
				time.Sleep(5 * time.Second)
			}
			cl.expect("RECEIPT", "receipt-id:r")
		}
	})
}

// TestFrameTimeoutTCP checks over a real socket that a client stopping
// mid-frame is cut, while one that sends a frame in pieces within the
// timeout is not.
func TestFrameTimeoutTCP(t *testing.T) {
	const timeout = time.Second
	h := newHarness(t, Options{FrameTimeout: timeout})
	steady := h.connect(t, "steady")
	stalled := h.connect(t, "stalled", "heart-beat:0,0")
	stalled.write(halfSend)
	f := frame("SEND", "body", "destination:/topic/a", "receipt:r")
	for i := range 3 { // 3 frames, each sent over ~0.5 s: longer than the timeout in all
		for _, piece := range [...]string{f[:5], f[5:20], f[20:]} {
			steady.write(piece)
			time.Sleep(timeout / 6)
		}
		steady.expect("RECEIPT", "receipt-id:r")
		if i == 0 {
			stalled.expectError(CodeLimitExceeded, "frame not completed")
		}
	}
	waitFor(t, "the cut counted", func() bool { return value(t, h.m.FrameTimeoutDisconnects) == 1 })
}

// TestFrameTimeoutWebSocket checks that a client stopping in the middle of
// a WebSocket message, which carries one frame, is cut as over TCP.
func TestFrameTimeoutWebSocket(t *testing.T) {
	h := newHarness(t, Options{FrameTimeout: 200 * time.Millisecond})
	c, _, err := dialWS(t, h.wsServer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(frame("CONNECT", "", "accept-version:1.2"))
	c.expect("CONNECTED")
	// A text message's header announcing the whole frame, masked with a
	// zero key (RFC 6455 section 5.3), then half of the frame.
	whole := 2 * len(halfSend)
	hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[2:10], uint64(whole))
	if _, err := c.ws.UnderlyingConn().Write(append(hdr, halfSend...)); err != nil {
		t.Fatal(err)
	}
	c.expectError(CodeLimitExceeded, "frame not completed")
}

// BenchmarkFeed feeds a publisher's SENDs to one subscriber as the reader
// does, 1 MiB of them per op in 16 KiB reads that end mid-frame, so that
// nearly every read leaves a frame spread over the next: the case in which
// the reader notes, for the frame timeout, when a frame began.
func BenchmarkFeed(b *testing.B) {
	_, pub, frames := fanOutBroker(b, Options{}, 1)
	pub.feed([]byte(frame("CONNECT", "", "accept-version:1.2", "login:b")))
	send := frame("SEND", strings.Repeat("x", 128), "destination:/topic/bench", "content-type:text/plain")
	n := (1 << 20) / len(send)
	all := strings.Repeat(send, n)
	p := make([]byte, 16<<10)
	base := frames.Load()
	b.ReportAllocs()
	b.SetBytes(int64(len(all)))
	for i := range b.N {
		for rest := all; len(rest) > 0; {
			k := copy(p, rest)
			rest = rest[k:]
			if !pub.feed(p[:k]) {
				b.Fatal("the session ended")
			}
		}
		waitFrames(frames, base+int64(i*n)) // one op behind at most
	}
	waitFrames(frames, base+int64(b.N*n))
}

// TestPartialFramesShareABudget: the half-received frames of all
// connections hold at most MaxPartialBytes together, beyond the first
// partialFree bytes of each. The connection whose frame would pass it is
// cut off with ERROR limit-exceeded and counted; a frame within
// partialFree is never refused for it; the one within it completes its
// frame, and once it has, or a connection holding part of one is gone,
// its room serves another.
func TestPartialFramesShareABudget(t *testing.T) {
	const size = 150 << 10 // held beyond partialFree: 85 KiB, or up to 124 as buffers grow
	h := newHarness(t, Options{MaxPartialBytes: 160 << 10})
	sub := h.subscriber(t, "s", "/topic/a")
	full := frame("SEND", strings.Repeat("x", size), "destination:/topic/a", "receipt:whole", "content-length:"+strconv.Itoa(size))
	half := full[:len(full)-1<<10] // all but the last KiB
	counted := func(n int64) bool { return n >= size-1<<10-partialFree }
	a, b, small := h.connect(t, "a"), h.connect(t, "b"), h.connect(t, "small")
	a.write(half)
	waitPartial(t, h.b, counted)
	b.write(half)
	b.expectError(CodeLimitExceeded, "too many bytes of frames and transactions not yet complete")
	if n := value(t, h.m.PartialFrameDisconnects); n != 1 {
		t.Errorf("partial_frame_disconnects_total %v, want 1", n)
	}
	smallFrame := frame("SEND", strings.Repeat("y", 60<<10), "destination:/topic/a", "receipt:small")
	small.write(smallFrame[:len(smallFrame)-100])
	small.write(smallFrame[len(smallFrame)-100:])
	small.expect("RECEIPT", "receipt-id:small")
	a.write(full[len(half):])
	a.expect("RECEIPT", "receipt-id:whole")
	sub.expect("MESSAGE")
	if f := sub.expect("MESSAGE"); len(f.Body) != size {
		t.Errorf("got a %d-byte body, want %d", len(f.Body), size)
	}
	c := h.connect(t, "c")
	c.write(half)
	waitPartial(t, h.b, counted)
	c.Conn.Close()
	waitPartial(t, h.b, func(n int64) bool { return n == 0 })
}

// TestOpenTransactionsShareTheBudget: the frames of open transactions
// count against MaxPartialBytes too, whatever each connection's
// MaxTransactionBytes, and give their room back when committed, aborted
// or dropped with their connection.
func TestOpenTransactionsShareTheBudget(t *testing.T) {
	h := newHarness(t, Options{MaxPartialBytes: 100 << 10})
	body := strings.Repeat("z", 40<<10)
	open := func(c *client, tx string) {
		c.write(frame("BEGIN", "", "transaction:"+tx))
		c.write(frame("SEND", body, "destination:/queue/t", "transaction:"+tx))
	}
	a, b, c := h.connect(t, "a"), h.connect(t, "b"), h.connect(t, "c")
	open(a, "1")
	open(a, "2")
	waitPartial(t, h.b, func(n int64) bool { return n >= 80<<10 })
	open(b, "1")
	b.expectError(CodeLimitExceeded, "too many bytes of frames and transactions not yet complete")
	a.write(frame("ABORT", "", "transaction:1", "receipt:ab"))
	a.expect("RECEIPT", "receipt-id:ab")
	open(c, "1")
	c.write(frame("COMMIT", "", "transaction:1", "receipt:co"))
	c.expect("RECEIPT", "receipt-id:co")
	a.Conn.Close()
	waitPartial(t, h.b, func(n int64) bool { return n == 0 })
}

// waitPartial waits until the bytes the broker counts for half-received
// frames satisfy ok.
func waitPartial(t *testing.T, b *Broker, ok func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok(b.partialBytes.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("half-received frames hold %d bytes", b.partialBytes.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
