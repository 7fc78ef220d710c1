package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// sinkConn is a net.Conn whose peer sends a fixed script and then reads
// everything, counting the frames (NULs) it receives into frames.
type sinkConn struct {
	script []byte
	frames *atomic.Int64
	once   sync.Once
	closed chan struct{}
}

func newSinkConn(script string, frames *atomic.Int64) *sinkConn {
	return &sinkConn{script: []byte(script), frames: frames, closed: make(chan struct{})}
}

func (s *sinkConn) Read(p []byte) (int, error) {
	if len(s.script) > 0 {
		n := copy(p, s.script)
		s.script = s.script[n:]
		return n, nil
	}
	<-s.closed
	return 0, net.ErrClosed
}

func (s *sinkConn) Write(p []byte) (int, error) {
	s.frames.Add(int64(bytes.Count(p, []byte{0})))
	return len(p), nil
}

func (s *sinkConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *sinkConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *sinkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (s *sinkConn) SetDeadline(time.Time) error      { return nil }
func (s *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkFanOut routes one SEND to 1, 100 and 1,000 topic subscribers,
// through the whole broker: routing, the subscribers' outboxes and writers,
// and the TCP encoder, up to each subscriber's socket (an in-memory sink).
// SetBytes counts the body once per SEND.
func BenchmarkFanOut(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		for _, size := range []int{128, 4096} {
			b.Run(fmt.Sprintf("subscribers=%d/body=%d", subs, size), func(b *testing.B) {
				benchFanOut(b, Options{}, subs, size)
			})
		}
	}
}

// BenchmarkHistoryCost is BenchmarkFanOut to one subscriber (point to
// point) and to 100, without topic history and with the stompd default of
// 100 messages: the ratio of the two is what history costs.
func BenchmarkHistoryCost(b *testing.B) {
	for _, subs := range []int{1, 100} {
		for _, size := range []int{0, 100} {
			b.Run(fmt.Sprintf("subscribers=%d/history=%d", subs, size), func(b *testing.B) {
				benchFanOut(b, Options{HistorySize: size}, subs, 128)
			})
		}
	}
}

func benchFanOut(b *testing.B, o Options, subs, size int, setup ...func(*Broker)) {
	_, pub, frames := fanOutBroker(b, o, subs, setup...)
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte(strings.Repeat("x", size))}
	f.Add("destination", "/topic/bench")
	f.Add("content-type", "text/plain")
	rt := route{kindTopic, "/topic/bench"}
	base := frames.Load()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pub.publish(f, rt)
		if i%64 == 63 { // bound what waits in the outboxes
			waitFrames(frames, base+int64(subs*(i-63)))
		}
	}
	waitFrames(frames, base+int64(subs*b.N))
	b.StopTimer()
	b.ReportMetric(float64(subs*b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// fanOutBroker starts a broker of o (with a pending bound of 1 GiB unless
// o has one) with subs topic subscribers on in-memory sockets, and returns
// a connection to publish from and the count of frames the subscribers
// received. setup, when given, changes the broker before any connection
// exists. Cleanup shuts the broker down.
func fanOutBroker(tb testing.TB, o Options, subs int, setup ...func(*Broker)) (*Broker, *conn, *atomic.Int64) {
	sink := func(script string, frames *atomic.Int64) net.Conn { return newSinkConn(script, frames) }
	return fanOutBrokerOn(tb, o, subs, sink, setup...)
}

// fanOutBrokerOn is fanOutBroker with subscribers on the sockets sink
// returns: the broker's end of a connection whose peer sends script, then
// counts the frames it receives into frames.
func fanOutBrokerOn(tb testing.TB, o Options, subs int, sink func(script string, frames *atomic.Int64) net.Conn, setup ...func(*Broker)) (*Broker, *conn, *atomic.Int64) {
	o.MaxPendingBytes = orInt(o.MaxPendingBytes, 1<<30)
	br := anonymousBroker(o)
	for _, f := range setup {
		f(br)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		br.Shutdown(ctx)
	})
	frames := new(atomic.Int64)
	script := frame("CONNECT", "", "accept-version:1.2", "login:b") +
		frame("SUBSCRIBE", "", "id:1", "destination:/topic/bench")
	for range subs {
		br.accept(sink(script, frames))
	}
	for frames.Load() < int64(subs) || topicSubscribers(br, "/topic/bench") < subs {
		time.Sleep(time.Millisecond)
	}
	pub := br.newConn(&tcpTransport{nc: newSinkConn("", frames)}, transportTCP, "127.0.0.1:2", "")
	return br, pub, frames
}

func waitFrames(frames *atomic.Int64, n int64) {
	for frames.Load() < n {
		time.Sleep(20 * time.Microsecond)
	}
}

func topicSubscribers(b *Broker, name string) int {
	b.r.mu.RLock()
	defer b.r.mu.RUnlock()
	if t := b.r.topics[name]; t != nil {
		return t.len()
	}
	return 0
}

// TestFanOutAllocations pins the allocation budget of a fan-out, without
// topic history and with it: a SEND costs two allocations (the message
// and its copy of the frame, and a third for the encoding of a numbered
// message), however many subscribers receive it; a delivery allocates
// nothing.
func TestFanOutAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items; .ci/run checks this budget without -race")
	}
	for _, size := range []int{0, 100} {
		t.Run(fmt.Sprintf("history=%d", size), func(t *testing.T) { checkFanOutAllocations(t, Options{HistorySize: size}) })
	}
}

func checkFanOutAllocations(t *testing.T, o Options) {
	const subs, budget = 100, 4
	_, pub, frames := fanOutBroker(t, o, subs)
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte(strings.Repeat("x", 128))}
	f.Add("destination", "/topic/bench")
	rt := route{kindTopic, "/topic/bench"}
	publish := func() {
		want := frames.Load() + subs
		pub.publish(f, rt)
		waitFrames(frames, want)
	}
	for range 200 { // warm the writers' buffers
		publish()
	}
	n := testing.AllocsPerRun(200, publish)
	t.Logf("%v allocations per SEND to %d subscribers", n, subs)
	if n > budget {
		t.Fatalf("%v allocations per SEND to %d subscribers, want at most %d", n, subs, budget)
	}
}
