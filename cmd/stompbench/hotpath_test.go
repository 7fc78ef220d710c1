package main

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/stompd/stompd/stomp"
)

// discardConn returns a loopback TCP connection whose peer reads and drops
// everything written to it.
func discardConn(tb testing.TB) net.Conn {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, s)
		s.Close()
	}()
	tb.Cleanup(func() {
		c.Close()
		<-done
	})
	return c
}

// newTestPublisher is a publisher of one stream over a TCP connection to a
// peer that discards what it gets.
func newTestPublisher(tb testing.TB, size int) *publisher {
	nc := discardConn(tb)
	c := &conn{t: &tcpTransport{nc: nc, bw: bufio.NewWriterSize(nc, busyBuffers.write)}, proto: stompProtocol{}, version: stomp.V12}
	s := &stream{dest: "/topic/bench.x.0"}
	return newPublisher(c, []*stream{s}, size, nil, &clock{}, pace{window: -1}, newNotifier(1), 0)
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	const size = 128
	p := newTestPublisher(t, size)
	if n := testing.AllocsPerRun(100, func() {
		if err := p.c.batch(func(t transport) error { return p.fill(t, p.batch, 1) }); err != nil {
			panic(err)
		}
	}); n > 1 { // the closure handed to batch
		t.Errorf("a batch of %d SENDs allocates %v times", p.batch, n)
	}

	l := newLedger(0, 1, size)
	b, w := newBody(size)
	seq := uint64(0)
	sent := func(uint32) uint64 { return seq + 1 }
	if n := testing.AllocsPerRun(1000, func() {
		w.write(b, stamp{seq: seq})
		l.deliver(b, 5, sent)
		seq++
	}); n != 0 {
		t.Errorf("recording a delivery allocates %v times", n)
	}

	c := &conn{t: p.c.t, version: stomp.V12}
	msg := &stomp.Frame{Command: stomp.MESSAGE}
	msg.Add("ack", "12345")
	c.ack(msg) // grows the scratch buffer once
	if n := testing.AllocsPerRun(1000, func() { c.ack(msg) }); n != 0 {
		t.Errorf("an ACK allocates %v times", n)
	}
	c.flushAcks()
}

// BenchmarkPublish writes one batch per op, as a publisher at full speed
// does, to a loopback socket.
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{128, 4096, 65536} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			p := newTestPublisher(b, size)
			b.ReportAllocs()
			b.SetBytes(int64(size * p.batch))
			for b.Loop() {
				if err := p.c.batch(func(t transport) error { return p.fill(t, p.batch, 1) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDeliver(b *testing.B) {
	for _, size := range []int{128, 4096, 65536} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			l := newLedger(0, 1, size)
			body, w := newBody(size)
			var seq uint64
			sent := func(uint32) uint64 { return seq + 1 }
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				w.write(body, stamp{seq: seq})
				l.deliver(body, 5, sent)
				seq++
			}
		})
	}
}
