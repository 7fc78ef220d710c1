package broker

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// BenchmarkQueue routes SENDs to a queue with one auto-mode consumer,
// through the whole broker up to the consumer's socket (an in-memory
// sink): in memory, and persistent:true through a Journal in memory, which
// measures what the broker adds for a persistent message (the disk is
// persist's; see its journal tests and stompbench -persistent).
func BenchmarkQueue(b *testing.B) {
	for _, persistent := range []bool{false, true} {
		for _, size := range []int{128, 4096} {
			b.Run(fmt.Sprintf("persistent=%v/body=%d", persistent, size), func(b *testing.B) {
				o := Options{MaxPendingBytes: 1 << 30}
				if persistent {
					o.Journal = newMemJournal(b)
				}
				benchQueue(b, o, persistent, size)
			})
		}
	}
}

func benchQueue(b *testing.B, o Options, persistent bool, size int) {
	br := anonymousBroker(o)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		br.Shutdown(ctx)
	})
	frames := new(atomic.Int64)
	br.accept(newSinkConn(frame("CONNECT", "", "accept-version:1.2", "login:b")+
		frame("SUBSCRIBE", "", "id:1", "destination:/queue/bench"), frames))
	waitFrames(frames, 1)
	pub := br.newConn(&tcpTransport{nc: newSinkConn("", frames)}, transportTCP, "127.0.0.1:2", "")
	f := &stomp.Frame{Command: stomp.SEND, Body: []byte(strings.Repeat("x", size))}
	f.Add("destination", "/queue/bench")
	if persistent {
		f.Add("persistent", "true")
	}
	rt := route{kindQueue, "/queue/bench"}
	base := frames.Load()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := pub.publish(f, rt); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			waitFrames(frames, base+int64(i-63))
		}
	}
	waitFrames(frames, base+int64(b.N))
	b.StopTimer()
	pub.stores.wait(context.Background())
}
