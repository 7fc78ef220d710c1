package redisbus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
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

// outageRun is a run of two nodes, a and b, on one Redis with an
// append-only file: a publisher on a sends one message a millisecond to a
// topic with history, subscribed on both nodes, while Redis is killed and
// restarted. Messages down to back were sent while it was down (from its
// kill to its restart, which began after message restarting), and last is
// the last one sent.
type outageRun struct {
	a, b                         *node
	dest                         string
	local, remote                *reader
	down, restarting, back, last int64
}

// runOutage runs an outageRun with o on both nodes, Redis down for at
// least downFor and 500 local messages.
func runOutage(t *testing.T, o Options, downFor time.Duration) *outageRun {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	run := &outageRun{a: startNode(t, srv.URL(), "a", o), b: startNode(t, srv.URL(), "b", o), dest: "/topic/kept"}
	local, remote := run.a.dial(t, "local"), run.b.dial(t, "remote")
	subscribe(local, "1", run.dest)
	subscribe(remote, "1", run.dest)
	waitSubscribers(t, []*redistest.Server{srv}, run.dest, 2)
	pub := startPublisher(t, run.a.dial(t, "pub"), run.dest)
	run.local, run.remote = startReader(t, local), startReader(t, remote)
	waitFor(t, "cross-node delivery", func() bool { return run.remote.last.Load() >= 100 })

	srv.Kill()
	run.down = pub.sent.Load()
	time.Sleep(downFor)
	waitFor(t, "local delivery with Redis down", func() bool { return run.local.last.Load() >= run.down+500 })
	run.restarting = pub.sent.Load()
	srv.Restart()
	run.back = pub.sent.Load()
	waitFor(t, "cross-node delivery after Redis came back", func() bool { return run.remote.last.Load() >= run.back+500 })
	pub.halt()
	run.last = pub.sent.Load()
	waitFor(t, "every message on both nodes", func() bool {
		return run.local.last.Load() == run.last && run.remote.last.Load() == run.last
	})
	return run
}

// storedOnceInOrder checks that both subscribers of run received every
// message of the topic's history once and in order (their readers check
// the order), the remote one with its offset, and returns how many the
// history holds. The local one may have had a stored message without its
// offset: delivered at once when the script that stored it seemed to fail.
func (run *outageRun) storedOnceInOrder(t *testing.T) int {
	sr, err := run.a.bus.Read(context.Background(), run.dest, 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := make([]uint64, len(sr.Entries))
	for i, e := range sr.Entries {
		stored[i] = e.Offset
	}
	if numbered := offsetsOf(run.remote.arrivals(), sr.Epoch); !slices.Equal(numbered, stored) {
		i := firstDifference(numbered, stored)
		t.Errorf("remote received %d offsets of epoch %s, want the %d stored, each once in order; from the %dth on: %v, want %v",
			len(numbered), sr.Epoch, len(stored), i, numbered[i:min(i+5, len(numbered))], stored[i:min(i+5, len(stored))])
	}
	got := make(map[int64]bool)
	for _, m := range run.local.arrivals() {
		got[m.n] = true
	}
	for _, e := range sr.Entries {
		if n := bodyNumber(e.Msg); !got[n] {
			t.Errorf("local did not receive message %d, stored at offset %d", n, e.Offset)
		}
	}
	return len(stored)
}

// bodyNumber returns the number in the body of msg, a MESSAGE frame.
func bodyNumber(msg []byte) int64 {
	_, body, _ := bytes.Cut(msg, []byte("\n\n"))
	n, _ := strconv.ParseInt(string(bytes.TrimRight(body, "\x00")), 10, 64)
	return n
}

func TestAMessageStoredWhileANodeSubscribesAgainReachesItsSubscribersOnceInOrder(t *testing.T) {
	run := runOutage(t, Options{HistorySize: 1 << 20}, 0)
	stored := run.storedOnceInOrder(t)
	// Messages sent once Redis is back wait for this node to subscribe again.
	slowest := slowestBetween(run.local.arrivals(), run.down+500, run.restarting)
	t.Logf("messages %d to %d while Redis was down, %d stored; slowest local message while down: %v",
		run.down, run.back, stored, slowest)
	if slowest >= 500*time.Millisecond {
		t.Errorf("a local message took %v while Redis was down: it waited for the writer's backoff", slowest)
	}
}

func TestAMessageSentOnceRedisIsBackReachesEveryNodeNumbered(t *testing.T) {
	// Down long enough for the reconnections' backoff to reach its longest.
	run := runOutage(t, Options{HistorySize: 1 << 20}, 2500*time.Millisecond)
	unnumbered := 0
	for _, m := range run.local.arrivals() {
		if m.offset == 0 {
			unnumbered++
		}
		if m.n > run.back && m.offset == 0 {
			t.Fatalf("message %d, sent after Redis came back (at message %d), reached only local subscribers", m.n, run.back)
		}
	}
	stored := run.storedOnceInOrder(t)
	t.Logf("messages %d to %d while Redis was down, %d delivered locally only; %d stored", run.down, run.back, unnumbered, stored)
}

func TestLiveMessagesHeldPastMaxHeldAreReadAgainFromTheStream(t *testing.T) {
	var warned logCount
	o := Options{HistorySize: 1 << 20, MaxHeld: 300, Logger: slog.New(&warned)}
	run := runOutage(t, o, 2500*time.Millisecond)
	stored := run.storedOnceInOrder(t)
	t.Logf("%d stored; held messages let go in %d catch-ups", stored, warned.count("passed MaxHeld"))
}

// logCount is a slog.Handler that counts the records logged by message.
type logCount struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCount) WithGroup(string) slog.Handler            { return l }

func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}

// count returns how many records logged so far hold s.
func (l *logCount) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
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

func TestATopicsFirstMessageStoredWhileANodeSubscribesAgainIsCaughtUp(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	o := Options{HistorySize: 100}
	a, b := startNode(t, srv.URL(), "a", o), startNode(t, srv.URL(), "b", o)
	const dest = "/topic/first"
	remote := b.dial(t, "remote")
	subscribe(remote, "1", dest)
	waitSubscribers(t, []*redistest.Server{srv}, dest, 1)
	pub := a.dial(t, "pub")

	srv.Kill()
	time.Sleep(2500 * time.Millisecond) // long enough for b's reconnection backoff to reach its longest
	srv.Restart()
	pub.Send(stomp.SEND, "first", "destination:"+dest)
	waitFor(t, "the message stored", func() bool {
		sr, err := a.bus.Read(context.Background(), dest, 0)
		return err == nil && sr.Last == 1
	})
	if listening(t, srv, dest) {
		t.Log("b subscribed again before the message was stored: this run does not test the catch-up")
	}
	f, err := remote.Next()
	if err != nil || string(f.Body) != "first" || f.Value("x-stream-offset") != "1" {
		t.Fatalf("the remote subscriber got %v, %v; want the first message, at offset 1", f, err)
	}
}
