package redisbus

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp/stomptest"
)

// publisher sends sequence-numbered messages to dest on c, one a
// millisecond, until stop is closed; sent is the last number sent.
type publisher struct {
	sent atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
}

func startPublisher(t *testing.T, c *stomptest.Client, dest string) *publisher {
	p := &publisher{stop: make(chan struct{})}
	p.sent.Store(-1)
	p.done.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(time.Millisecond):
			}
			if _, err := c.Conn.Write([]byte(stomptest.Frame("SEND", strconv.Itoa(i), "destination:"+dest))); err != nil {
				t.Errorf("publisher: %v", err)
				return
			}
			p.sent.Store(int64(i))
		}
	})
	t.Cleanup(p.halt)
	return p
}

func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.done.Wait()
}

// reader reads a subscriber's messages until its connection closes; last
// is the number of the last one, and any number out of order is an error.
type reader struct {
	last atomic.Int64
	done sync.WaitGroup
	err  error
}

func startReader(t *testing.T, c *stomptest.Client) *reader {
	r := &reader{}
	r.last.Store(-1)
	c.Timeout = time.Minute // a remote subscriber hears nothing while Redis is down
	r.done.Go(func() {
		for {
			f, err := c.Next()
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(string(f.Body))
			if int64(n) <= r.last.Load() {
				r.err = fmt.Errorf("message %d after %d", n, r.last.Load())
			}
			r.last.Store(int64(n))
		}
	})
	t.Cleanup(func() {
		c.Conn.Close()
		r.done.Wait()
		if r.err != nil {
			t.Error(r.err)
		}
	})
	return r
}

// footprint is the goroutines and live heap bytes after a collection.
func footprint() (goroutines int, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

func TestRedisDownKeepsLocalDeliveryWithoutGrowthAndCrossNodeDeliveryResumes(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{MaxBacklog: 64 << 10})
	b := startNode(t, srv.URL(), "b", Options{})
	const dest = "/topic/live"
	local, remote := a.dial(t, "local"), b.dial(t, "remote")
	subscribe(local, "1", dest)
	subscribe(remote, "1", dest)
	waitSubscribers(t, []*redistest.Server{srv}, dest, 2)
	onB := b.dial(t, "local-b") // b's own traffic, on another destination
	subscribe(onB, "1", "/topic/b")
	pub := startPublisher(t, a.dial(t, "pub"), dest)
	pubB := startPublisher(t, b.dial(t, "pub-b"), "/topic/b")
	atLocal, atRemote, atB := startReader(t, local), startReader(t, remote), startReader(t, onB)
	waitFor(t, "cross-node delivery", func() bool { return atRemote.last.Load() >= 100 })

	srv.Kill()
	down, downB := pub.sent.Load(), pubB.sent.Load()
	waitFor(t, "local delivery on each node with Redis down", func() bool {
		return atLocal.last.Load() >= down+200 && atB.last.Load() >= downB+200
	})
	g1, h1 := footprint()
	time.Sleep(2 * time.Second) // traffic goes on, with Redis down
	waitFor(t, "more local delivery on each node", func() bool {
		return atLocal.last.Load() >= down+1000 && atB.last.Load() >= downB+1000
	})
	g2, h2 := footprint()
	if g2 > g1+5 {
		t.Errorf("goroutines grew from %d to %d while Redis was down", g1, g2)
	}
	if h2 > h1+4<<20 {
		t.Errorf("heap grew from %d to %d bytes while Redis was down", h1, h2)
	}
	if a.dropped(metrics.DropClusterBacklog)+a.dropped(metrics.DropClusterUnavailable) == 0 {
		t.Error("nothing counted as dropped while Redis was down")
	}

	srv.Restart()
	back := pub.sent.Load()
	waitFor(t, "cross-node delivery after Redis came back", func() bool { return atRemote.last.Load() > back })
	t.Logf("down for messages %d to %d; goroutines %d then %d, heap %d then %d; dropped: backlog %v, unavailable %v",
		down, back, g1, g2, h1, h2, a.dropped(metrics.DropClusterBacklog), a.dropped(metrics.DropClusterUnavailable))
}
