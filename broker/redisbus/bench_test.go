package redisbus

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp/stomptest"
)

// window bounds the messages in flight between the publisher and the
// slowest subscriber, so that the benchmark measures the path, not the
// backlog filling up.
const window = 2000

// BenchmarkCrossNodePublish measures a message published on node a, through
// Redis, to subscribers on node b: throughput per message of the given
// body size, with 1 or 100 subscribers on b, without topic history and
// with the default's (100 messages kept in Redis).
func BenchmarkCrossNodePublish(b *testing.B) {
	srv := redistest.Start(b)
	for _, size := range []int{64, 1024} {
		for _, subs := range []int{1, 100} {
			for _, history := range []int{0, 100} {
				b.Run(fmt.Sprintf("size=%d/subs=%d/history=%d", size, subs, history), func(b *testing.B) {
					benchCrossNode(b, srv, size, subs, Options{HistorySize: history})
				})
			}
		}
	}
}

func benchCrossNode(b *testing.B, srv *redistest.Server, size, subs int, o Options) {
	a := startNode(b, srv.URL(), "a", o)
	n := startNode(b, srv.URL(), "b", o)
	dest := fmt.Sprintf("/topic/bench-%d-%d-%d", size, subs, o.HistorySize)
	counts := make([]atomic.Int64, subs)
	var readers sync.WaitGroup
	for i := range subs {
		c := n.dial(b, "sub")
		subscribe(c, "1", dest)
		readers.Go(func() { countFrames(c.Conn, &counts[i], int64(b.N)) })
	}
	waitSubscribers(b, []*redistest.Server{srv}, dest, 1)
	pub := a.dial(b, "pub")
	frame := []byte(stomptest.Frame("SEND", strings.Repeat("x", size), "destination:"+dest))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var chunk []byte
	for i := range b.N {
		for int64(i)-slowest(counts) > window {
			time.Sleep(20 * time.Microsecond)
		}
		if chunk = append(chunk, frame...); len(chunk) >= 32<<10 || i == b.N-1 {
			pub.Conn.SetWriteDeadline(time.Now().Add(wait)) // a run may last longer than the client's own
			if _, err := pub.Conn.Write(chunk); err != nil {
				b.Fatal(err)
			}
			chunk = chunk[:0]
		}
	}
	readers.Wait()
	b.StopTimer()
	if d := a.dropped(metrics.DropClusterBacklog) + a.dropped(metrics.DropClusterUnavailable); d > 0 {
		b.Fatalf("%v messages dropped", d)
	}
}

// countFrames counts the frames (their NULs) read from nc into count until
// there are want of them, or the connection fails.
func countFrames(nc net.Conn, count *atomic.Int64, want int64) {
	buf := make([]byte, 64<<10)
	for count.Load() < want {
		nc.SetReadDeadline(time.Now().Add(wait))
		k, err := nc.Read(buf)
		count.Add(int64(bytes.Count(buf[:k], []byte{0})))
		if err != nil {
			return
		}
	}
}

// slowest returns the smallest of counts.
func slowest(counts []atomic.Int64) int64 {
	low := counts[0].Load()
	for i := range counts[1:] {
		low = min(low, counts[i+1].Load())
	}
	return low
}
