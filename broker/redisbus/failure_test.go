package redisbus

import (
	"context"
	"fmt"
	"runtime"
	"slices"
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
// It keeps what it read in got.
type reader struct {
	last atomic.Int64
	done sync.WaitGroup
	err  error

	mu  sync.Mutex
	got []arrival
}

// arrival is a message a reader read: its number, its history's epoch and
// offset (none for one not numbered) and when it arrived.
type arrival struct {
	n      int64
	epoch  string
	offset uint64
	at     time.Time
}

// arrivals returns what r read so far.
func (r *reader) arrivals() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
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
			n, _ := strconv.ParseInt(string(f.Body), 10, 64)
			if n <= r.last.Load() {
				r.err = fmt.Errorf("message %d after %d", n, r.last.Load())
			}
			offset, _ := strconv.ParseUint(f.Value("x-stream-offset"), 10, 64)
			r.mu.Lock()
			r.got = append(r.got, arrival{n, f.Value("x-stream-epoch"), offset, time.Now()})
			r.mu.Unlock()
			r.last.Store(n)
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

func TestAMessageStoredWhileANodeSubscribesAgainReachesItsSubscribersOnceInOrder(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	o := Options{HistorySize: 1 << 20}
	a, b := startNode(t, srv.URL(), "a", o), startNode(t, srv.URL(), "b", o)
	const dest = "/topic/kept"
	local, remote := a.dial(t, "local"), b.dial(t, "remote")
	subscribe(local, "1", dest)
	subscribe(remote, "1", dest)
	waitSubscribers(t, []*redistest.Server{srv}, dest, 2)
	pub := startPublisher(t, a.dial(t, "pub"), dest)
	atLocal, atRemote := startReader(t, local), startReader(t, remote)
	waitFor(t, "cross-node delivery", func() bool { return atRemote.last.Load() >= 100 })

	srv.Kill()
	down := pub.sent.Load()
	waitFor(t, "local delivery with Redis down", func() bool { return atLocal.last.Load() >= down+500 })
	srv.Restart()
	back := pub.sent.Load()
	waitFor(t, "cross-node delivery after Redis came back", func() bool { return atRemote.last.Load() >= back+500 })
	pub.halt()
	last := pub.sent.Load()
	waitFor(t, "every message locally", func() bool { return atLocal.last.Load() == last })

	sr, err := a.bus.Read(context.Background(), dest, 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]uint64, len(sr.Entries))
	for i, e := range sr.Entries {
		stored[i] = e.Offset
	}
	for name, r := range map[string]*reader{"local": atLocal, "remote": atRemote} {
		waitFor(t, name+" has the last stored message", func() bool { return hasOffset(r.arrivals(), sr.Epoch, sr.Last) })
		got := r.arrivals()
		if numbered := offsetsOf(got, sr.Epoch); !slices.Equal(numbered, stored) {
			i := firstDifference(numbered, stored)
			t.Errorf("%s received %d offsets of epoch %s, want the %d stored, each once in order; from the %dth on: %v, want %v",
				name, len(numbered), sr.Epoch, len(stored), i, numbered[i:min(i+5, len(numbered))], stored[i:min(i+5, len(stored))])
		}
	}
	slowest := slowestBetween(atLocal.arrivals(), down+500, back)
	t.Logf("messages %d to %d while Redis was down, %d stored in epoch %s; slowest local message while down: %v",
		down, back, len(stored), sr.Epoch, slowest)
	if slowest >= 500*time.Millisecond {
		t.Errorf("a local message took %v while Redis was down: it waited for the writer's backoff", slowest)
	}
}

// hasOffset reports whether got holds offset of epoch.
func hasOffset(got []arrival, epoch string, offset uint64) bool {
	return slices.ContainsFunc(got, func(a arrival) bool { return a.epoch == epoch && a.offset == offset })
}

// offsetsOf returns the offsets of epoch in got, in the order received.
func offsetsOf(got []arrival, epoch string) []uint64 {
	var offsets []uint64
	for _, a := range got {
		if a.epoch == epoch {
			offsets = append(offsets, a.offset)
		}
	}
	return offsets
}

// firstDifference returns the first index where a and b differ.
func firstDifference(a, b []uint64) int {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return i
}

// slowestBetween returns the longest time between two messages in a row
// of got numbered from to to (the publisher sends one a millisecond).
func slowestBetween(got []arrival, from, to int64) time.Duration {
	var slowest time.Duration
	for i := 1; i < len(got); i++ {
		if got[i-1].n >= from && got[i].n <= to {
			slowest = max(slowest, got[i].at.Sub(got[i-1].at))
		}
	}
	return slowest
}

func TestAMessageSentOnceRedisIsBackReachesEveryNodeNumbered(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	o := Options{HistorySize: 1 << 20}
	a, b := startNode(t, srv.URL(), "a", o), startNode(t, srv.URL(), "b", o)
	const dest = "/topic/back"
	local, remote := a.dial(t, "local"), b.dial(t, "remote")
	subscribe(local, "1", dest)
	subscribe(remote, "1", dest)
	waitSubscribers(t, []*redistest.Server{srv}, dest, 2)
	pub := startPublisher(t, a.dial(t, "pub"), dest)
	atLocal, atRemote := startReader(t, local), startReader(t, remote)
	waitFor(t, "cross-node delivery", func() bool { return atRemote.last.Load() >= 100 })

	srv.Kill()
	down := pub.sent.Load()
	time.Sleep(2500 * time.Millisecond) // long enough for a writer's backoff to reach its longest
	srv.Restart()
	back := pub.sent.Load()
	waitFor(t, "cross-node delivery after Redis came back", func() bool { return atRemote.last.Load() >= back+300 })
	pub.halt()
	last := pub.sent.Load()
	waitFor(t, "every message on both nodes", func() bool { return atLocal.last.Load() == last && atRemote.last.Load() == last })

	unnumbered := 0
	for _, m := range atLocal.arrivals() {
		if m.offset == 0 {
			unnumbered++
		}
		if m.n > back && m.offset == 0 {
			t.Fatalf("message %d, sent after Redis came back (at message %d), reached only local subscribers", m.n, back)
		}
	}
	got := atRemote.arrivals()
	if i := slices.IndexFunc(got, func(m arrival) bool { return m.n > back }); i < 0 || len(got)-i != int(last-back) {
		t.Errorf("the remote node received %d of the %d messages sent after Redis came back", len(got)-i, last-back)
	}
	t.Logf("messages %d to %d while Redis was down; %d delivered locally only", down, back, unnumbered)
}
