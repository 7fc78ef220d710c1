//go:build unix

package broker

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// BenchmarkFanOutPaced is BenchmarkFanOut at the pace of a fixed-rate
// load rather than flat out: each SEND reaches every subscriber before the
// next is sent, gap later. A gap longer than writerLinger lets the writers
// end their runs between messages, as a few hundred messages a second do;
// a shorter one keeps them parked, as a few thousand do. The pauses make
// ns/op meaningless, so it reports the process's CPU time per delivery
// (user and system, from getrusage), which is what a delivery costs. The
// subscribers are on real sockets on 127.0.0.1, read in this process, as
// the writers' path through the runtime's poller is part of that cost.
func BenchmarkFanOutPaced(b *testing.B) {
	for _, gap := range []time.Duration{0, 2 * writerLinger} {
		b.Run(fmt.Sprintf("subscribers=100/gap=%s", gap), func(b *testing.B) {
			benchFanOutPaced(b, 100, gap)
		})
	}
}

func benchFanOutPaced(b *testing.B, subs int, gap time.Duration) {
	sinks := newTCPSinks(b)
	_, pub, frames := fanOutBrokerOn(b, Options{}, subs, sinks.sink(b))
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte(strings.Repeat("x", 128))}
	f.Add("destination", "/topic/bench")
	rt := route{kindTopic, "/topic/bench"}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for range b.N {
		want := frames.Load() + int64(subs)
		pub.publish(f, rt)
		sinks.await(frames, want)
		time.Sleep(gap)
	}
	used := cpuTime(b) - start
	b.StopTimer()
	b.ReportMetric(float64(used.Nanoseconds())/float64(subs*b.N), "cpu-ns/delivery")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tcpSinks make the subscribers' sockets of fanOutBrokerOn real ones on
// 127.0.0.1: each peer, in this process, writes its script and then reads
// until the end, counting the frames (NULs) it receives; await blocks
// until they reach a count, without polling (a polling waiter would cost
// more CPU than the deliveries it waits for). Cleanup closes the peers and
// waits for their readers.
type tcpSinks struct {
	l       net.Listener
	peers   []net.Conn
	readers sync.WaitGroup
	mark    atomic.Int64  // the count await waits for; 0 when none
	reached chan struct{} // one signal per mark reached
}

func newTCPSinks(tb testing.TB) *tcpSinks {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &tcpSinks{l: l, reached: make(chan struct{}, 1)}
	tb.Cleanup(func() {
		l.Close()
		for _, p := range s.peers {
			p.Close()
		}
		s.readers.Wait()
	})
	return s
}

// sink returns the sink function for fanOutBrokerOn.
func (s *tcpSinks) sink(tb testing.TB) func(script string, frames *atomic.Int64) net.Conn {
	return func(script string, frames *atomic.Int64) net.Conn {
		peer, err := net.Dial("tcp", s.l.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		nc, err := s.l.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		s.peers = append(s.peers, peer)
		if _, err := peer.Write([]byte(script)); err != nil {
			tb.Fatal(err)
		}
		s.readers.Go(func() { s.count(peer, frames) })
		return nc
	}
}

// count reads r until it ends, adding the frames it reads to frames and
// signalling when they reach the mark.
func (s *tcpSinks) count(r net.Conn, frames *atomic.Int64) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		total := frames.Add(int64(bytes.Count(buf[:n], []byte{0})))
		if m := s.mark.Load(); m != 0 && total >= m && s.mark.CompareAndSwap(m, 0) {
			s.reached <- struct{}{}
		}
		if err != nil {
			return
		}
	}
}

// await returns once frames counts n.
func (s *tcpSinks) await(frames *atomic.Int64, n int64) {
	s.mark.Store(n)
	if frames.Load() >= n && s.mark.CompareAndSwap(n, 0) {
		return
	}
	<-s.reached
}
