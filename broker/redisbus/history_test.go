package redisbus

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
)

// numbered is a message a recorder received through DeliverAt.
type numbered struct {
	msg    string
	epoch  string
	offset uint64
}

// recorder is a Receiver that keeps what it is handed.
type recorder struct {
	mu    sync.Mutex
	plain []string   // Deliver's
	at    []numbered // DeliverAt's
}

func (r *recorder) Deliver(msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plain = append(r.plain, string(msg))
	return nil
}

func (r *recorder) DeliverAt(msg []byte, epoch string, offset uint64, at time.Time) error {
	if time.Since(at) > time.Minute || time.Until(at) > time.Minute {
		return fmt.Errorf("message %q appended at %v", msg, at)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, numbered{string(msg), epoch, offset})
	return nil
}

func (r *recorder) numbered() []numbered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]numbered(nil), r.at...)
}

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.plain...)
}

// startBus runs a Bus of node id on the Redis at url, handing what it
// receives to a recorder, until the test ends.
func startBus(t testing.TB, url, id string, o Options) (*Bus, *recorder) {
	t.Helper()
	client := redistest.Client(t, url)
	o.Node, o.Metrics = id, metrics.New(prometheus.NewRegistry())
	bus, err := New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { bus.Run(ctx, rec); close(ran) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		client.Close()
	})
	return bus, rec
}

// listen makes bus listen on dest and waits until it does.
func listen(t testing.TB, bus *Bus, dest string) {
	t.Helper()
	waitFor(t, "listening on "+dest, func() bool {
		select {
		case <-bus.Listen(dest):
			p := bus.parts[partitionOf(dest)]
			p.mu.Lock()
			defer p.mu.Unlock()
			return !p.down
		case <-time.After(wait):
			return false
		}
	})
}

// read is Read, tried again after an error (a connection that Redis's
// restart broke) until the test's deadline.
func read(t testing.TB, bus *Bus, dest string, after uint64) broker.StreamRead {
	t.Helper()
	var sr broker.StreamRead
	var err error
	waitFor(t, "a Read", func() bool {
		sr, err = bus.Read(context.Background(), dest, after)
		return err == nil
	})
	return sr
}

// appendN appends messages "<prefix>-0" to "<prefix>-<n-1>" to dest.
func appendN(bus *Bus, dest, prefix string, n int) {
	for i := range n {
		bus.Append(dest, []byte(prefix+"-"+strconv.Itoa(i)), nil)
	}
}

// checkNumbered checks that got holds offsets 1 to n in order, all of one
// epoch, and each publisher's messages in its order.
func checkNumbered(t *testing.T, who string, got []numbered, n int) {
	t.Helper()
	next := make(map[string]int)
	for i, m := range got {
		if m.offset != uint64(i+1) || m.epoch != got[0].epoch {
			t.Fatalf("%s: message %d is %+v, want offset %d of epoch %s", who, i, m, i+1, got[0].epoch)
		}
		pub, seq, _ := strings.Cut(m.msg, "-")
		if k, _ := strconv.Atoi(seq); k != next[pub] {
			t.Fatalf("%s: %q at offset %d, want %s-%d", who, m.msg, m.offset, pub, next[pub])
		}
		next[pub]++
	}
	if len(got) != n {
		t.Fatalf("%s: %d messages, want %d", who, len(got), n)
	}
}

func TestAppendNumbersConcurrentPublishersInOneOrderOnEveryNode(t *testing.T) {
	onRedisAndCluster(t, func(t *testing.T, url string) {
		o := Options{HistorySize: 100}
		a, atA := startBus(t, url, "a", o)
		b, atB := startBus(t, url, "b", o)
		dests := []string{"/topic/one", "/topic/two", "/topic/three"}
		for _, dest := range dests {
			listen(t, a, dest)
			listen(t, b, dest)
		}
		const n = 2000
		var wg sync.WaitGroup
		for _, dest := range dests {
			wg.Go(func() { appendN(a, dest, "a"+dest, n) })
			wg.Go(func() { appendN(b, dest, "b"+dest, n) })
		}
		wg.Wait()
		for who, rec := range map[string]*recorder{"a": atA, "b": atB} {
			waitFor(t, who+" received everything", func() bool { return len(rec.numbered()) == len(dests)*2*n })
			for _, dest := range dests {
				var got []numbered
				for _, m := range rec.numbered() {
					if strings.HasPrefix(m.msg, "a"+dest+"-") || strings.HasPrefix(m.msg, "b"+dest+"-") {
						got = append(got, m)
					}
				}
				checkNumbered(t, who+" "+dest, got, 2*n)
			}
			if d := rec.delivered(); len(d) != 0 {
				t.Errorf("%s: %d messages through Deliver, want none", who, len(d))
			}
		}
		if last := read(t, b, dests[0], 0).Last; last != 2*n {
			t.Errorf("Read's Last = %d, want %d", last, 2*n)
		}
	})
}

func TestReadReturnsTheEntriesAfterAnOffsetWithTheEpochFirstAndLast(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/read"
	start := read(t, bus, dest, 0)
	if start.Epoch == "" || start.First != 0 || start.Last != 0 || len(start.Entries) != 0 {
		t.Fatalf("Read of a topic without history = %+v, want a new epoch and nothing else", start)
	}
	listen(t, bus, dest)
	before := time.Now().Add(-time.Second) // Redis's clock and ours, in ms
	appendN(bus, dest, "m", 10)
	waitFor(t, "the messages delivered", func() bool { return len(rec.numbered()) == 10 })
	epoch := rec.numbered()[0].epoch
	if epoch != start.Epoch || strings.ContainsAny(epoch, ":\\ \t\r\n") {
		t.Fatalf("epoch %q, want %q, a token without ':', '\\' or white space", epoch, start.Epoch)
	}
	for _, tc := range []struct {
		after uint64
		want  []int
	}{
		{0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{7, []int{7, 8, 9}},
		{10, nil},
		{12, nil},
		{math.MaxUint64, nil}, // the broker's "next": the epoch and the latest offset only
	} {
		sr := read(t, bus, dest, tc.after)
		if sr.Epoch != epoch || sr.First != 1 || sr.Last != 10 || len(sr.Entries) != len(tc.want) {
			t.Fatalf("Read after %d = epoch %s, first %d, last %d, %d entries; want %s, 1, 10, %d",
				tc.after, sr.Epoch, sr.First, sr.Last, len(sr.Entries), epoch, len(tc.want))
		}
		for i, e := range sr.Entries {
			if e.Offset != uint64(tc.want[i]+1) || string(e.Msg) != "m-"+strconv.Itoa(tc.want[i]) || e.At.Before(before) || e.At.After(time.Now().Add(time.Second)) {
				t.Fatalf("Read after %d: entry %d = %d %q at %v", tc.after, i, e.Offset, e.Msg, e.At)
			}
		}
	}
}

func TestHistoryKeepsTheLatestSizeMessagesAndExpiresWhenIdle(t *testing.T) {
	srv := redistest.Start(t)
	bus, _ := startBus(t, srv.URL(), "a", Options{HistorySize: 10, HistoryTTL: time.Minute})
	const dest = "/topic/trim"
	appendN(bus, dest, "m", 1000)
	waitFor(t, "1000 messages appended", func() bool { return read(t, bus, dest, 0).Last == 1000 })
	sr := read(t, bus, dest, 0)
	if sr.First != 991 || len(sr.Entries) != 10 || sr.Entries[0].Offset != 991 || string(sr.Entries[9].Msg) != "m-999" {
		t.Fatalf("Read = first %d, %d entries from %v; want the 10 latest, 991 to 1000", sr.First, len(sr.Entries), sr.Entries[0].Offset)
	}
	if got := read(t, bus, dest, 500); len(got.Entries) != 10 || got.Entries[0].Offset != 991 {
		t.Fatalf("Read after 500 = %d entries, want the 10 kept", len(got.Entries))
	}
	n, _ := srv.Do("XLEN", historyKey(dest))
	if k, _ := strconv.Atoi(n); k < 10 || k > 300 {
		t.Errorf("the stream holds %s entries, want about 10 (MAXLEN ~)", n)
	}
	for key, limit := range map[string]time.Duration{historyKey(dest): time.Minute, counterKey(dest): counterTTL} {
		out, _ := srv.Do("PTTL", key)
		if ms, _ := strconv.Atoi(out); ms <= 0 || time.Duration(ms)*time.Millisecond > limit {
			t.Errorf("PTTL %s = %s, want at most %v", key, out, limit)
		}
	}
}

func TestRedisRestartedWithoutItsDataGivesANewEpochFromOffsetOne(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/lost"
	listen(t, bus, dest)
	appendN(bus, dest, "old", 5)
	waitFor(t, "5 messages", func() bool { return len(rec.numbered()) == 5 })
	old := read(t, bus, dest, 0)

	srv.Restart() // no persistence: everything is lost
	listen(t, bus, dest)
	waitFor(t, "a message numbered after the restart", func() bool {
		bus.Append(dest, []byte("new"), nil)
		time.Sleep(50 * time.Millisecond)
		return len(rec.numbered()) > 5
	})
	// An Append whose batch found the connection the restart broke was
	// delivered here at once, without an offset, and is passed over once
	// numbered: the first numbered message received follows those.
	after, plain := rec.numbered()[5], uint64(len(rec.delivered()))
	if after.epoch == old.Epoch || after.offset != 1+plain {
		t.Fatalf("after the restart: %+v, want offset %d of an epoch other than %s", after, 1+plain, old.Epoch)
	}
	if sr := read(t, bus, dest, 0); sr.Epoch != after.epoch || sr.First != 1 || string(sr.Entries[0].Msg) != "new" {
		t.Fatalf("Read after the restart = %+v, want the new epoch's entries only", sr)
	}

	bus.Append(dest, []byte("synced"), nil) // numbered after every "new" still on its way
	waitFor(t, "every message numbered before FLUSHALL", func() bool {
		got := rec.numbered()
		return got[len(got)-1].msg == "synced"
	})
	if _, err := srv.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	bus.Append(dest, []byte("flushed"), nil)
	waitFor(t, "a message numbered after FLUSHALL", func() bool { return read(t, bus, dest, 0).Last == 1 })
	if sr := read(t, bus, dest, 0); sr.Epoch == after.epoch || string(sr.Entries[0].Msg) != "flushed" {
		t.Fatalf("Read after FLUSHALL = %+v, want a third epoch", sr)
	}
}

func TestAppendReachesLocalSubscribersWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/down"
	listen(t, bus, dest)
	srv.Kill()
	bus.Append(dest, []byte("while down"), nil)
	waitFor(t, "the message delivered locally", func() bool { return len(rec.delivered()) == 1 })
	if got := rec.delivered()[0]; got != "while down" {
		t.Fatalf("delivered %q", got)
	}
	if n := testutil.ToFloat64(bus.dropFailed); n != 0 {
		t.Errorf("%v counted as dropped (cluster_unavailable), want 0: it waits in the outbox", n)
	}
	srv.Restart()
	waitFor(t, "the message kept once Redis is back", func() bool {
		n, err := srv.Do("XLEN", historyKey(dest))
		return err == nil && n == "1"
	})
	if got, at := rec.delivered(), rec.numbered(); len(got) != 1 || len(at) != 0 {
		t.Errorf("delivered %q and %v numbered: the node delivered it twice", got, at)
	}
}

func TestAppendWhileRedisIsKnownDownIsDeliveredLocallyWithoutTheBackoff(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/prompt"
	listen(t, bus, dest)
	srv.Kill()
	bus.Append(dest, []byte("0"), nil)
	waitFor(t, "the first message delivered locally (the failed batch)", func() bool { return len(rec.delivered()) == 1 })
	var slowest time.Duration
	for i := 1; i <= 20; i++ {
		start := time.Now()
		bus.Append(dest, []byte(strconv.Itoa(i)), nil)
		waitFor(t, "message "+strconv.Itoa(i), func() bool { return len(rec.delivered()) == i+1 })
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest local delivery with Redis down: %v", slowest)
	if slowest >= 500*time.Millisecond {
		t.Errorf("a message took %v to reach local delivery: it waited for the writer's backoff", slowest)
	}
	if got := rec.delivered(); !slices.Equal(got, numbers(21)) {
		t.Errorf("delivered %q, want 0 to 20 in order", got)
	}
}

// numbers returns "0" to "n-1".
func numbers(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}

func TestOffsetsThatGoBackGiveTheHistoryANewEpochAboveThem(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/failover"
	listen(t, bus, dest)
	appendN(bus, dest, "old", 2)
	waitFor(t, "2 messages", func() bool { return len(rec.numbered()) == 2 })
	replica := snapshot(t, srv.URL(), historyKey(dest), counterKey(dest))
	appendN(bus, dest, "lost", 3)
	waitFor(t, "5 messages", func() bool { return len(rec.numbered()) == 5 })
	old := rec.numbered()[0].epoch
	replica() // what a replica promoted before it had the latest 3 appends holds

	bus.Append(dest, []byte("repeated"), nil) // numbered 3 again, in the old epoch
	waitFor(t, "a message of a new epoch", func() bool {
		bus.Append(dest, []byte("new"), nil)
		time.Sleep(20 * time.Millisecond)
		got := rec.numbered()
		return got[len(got)-1].epoch != old
	})
	got := rec.numbered()
	if got[5].msg != "repeated" || got[5].offset != 3 || got[5].epoch != old {
		t.Fatalf("after the counter went back: %+v, want offset 3 of the old epoch", got[5])
	}
	var first numbered
	for _, m := range got[6:] {
		if m.epoch != old {
			first = m
			break
		}
	}
	if first.offset <= 5 {
		t.Fatalf("the new epoch begins with %+v, want an offset above 5, the latest received", first)
	}
	sr := read(t, bus, dest, 0)
	if sr.Epoch != first.epoch || sr.First != first.offset || string(sr.Entries[0].Msg) != "new" {
		t.Fatalf("Read = %+v, want the new epoch's entries only, from %d", sr, first.offset)
	}
}

// snapshot saves keys (DUMP) and returns a function that puts them back
// as they were (RESTORE), as a replica that had only this much would.
func snapshot(t *testing.T, url string, keys ...string) func() {
	t.Helper()
	c := redistest.Client(t, url)
	ctx := context.Background()
	dumps := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if dumps[i], err = c.Do(ctx, c.B().Dump().Key(k).Build()).ToString(); err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
	}
	return func() {
		for i, k := range keys {
			if err := c.Do(ctx, c.B().Restore().Key(k).Ttl(0).SerializedValue(dumps[i]).Replace().Build()).Error(); err != nil {
				t.Fatalf("RESTORE %s: %v", k, err)
			}
		}
	}
}

func TestLargeMessagesKeepTheirOrderAcrossScriptRuns(t *testing.T) {
	srv := redistest.Start(t)
	bus, rec := startBus(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/large"
	listen(t, bus, dest)
	body := strings.Repeat("x", 100<<10)
	for i := range 40 { // 4 MB: several runs of at most maxScriptBytes
		bus.Append(dest, []byte(strconv.Itoa(i)+"-"+body), nil)
	}
	waitFor(t, "40 messages", func() bool { return len(rec.numbered()) == 40 })
	for i, m := range rec.numbered() {
		if n, _, _ := strings.Cut(m.msg, "-"); n != strconv.Itoa(i) || m.offset != uint64(i+1) {
			t.Fatalf("message %d: %.10q at offset %d", i, m.msg, m.offset)
		}
	}
}
