package broker

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// historyHarness is a broker keeping size messages per topic, on clock.
func historyHarness(t *testing.T, size int, clock *stomptest.Clock) *harness {
	o := Options{HistorySize: size}
	if clock != nil {
		o.Now = clock.Now
	}
	return newHarness(t, o)
}

// publish sends bodies to dest from c, each acknowledged by its RECEIPT.
func (c *client) publish(dest string, bodies ...string) {
	c.t.Helper()
	for i, body := range bodies {
		r := "p" + strconv.Itoa(i)
		c.write(frame("SEND", body, "destination:"+dest, "receipt:"+r))
		c.expect("RECEIPT", "receipt-id:"+r)
	}
}

// resume subscribes c to dest with the x-stream headers given, and
// returns the RECEIPT, which must come first.
func (c *client) resume(dest string, headers ...string) (recovered string, epoch string, last string) {
	c.t.Helper()
	c.write(frame("SUBSCRIBE", "", append([]string{"id:r", "destination:" + dest, "receipt:r"}, headers...)...))
	f := c.expect("RECEIPT", "receipt-id:r")
	return f.Value("x-recovered"), f.Value("x-stream-epoch"), f.Value("x-stream-offset")
}

// expectMessages reads MESSAGEs with the bodies given, in order, and
// returns the last one's offset.
func (c *client) expectMessages(bodies ...string) (offset string) {
	c.t.Helper()
	for _, body := range bodies {
		f := c.expect("MESSAGE")
		if string(f.Body) != body {
			c.t.Fatalf("got body %q, want %q (%s)", f.Body, body, dump(f))
		}
		offset = f.Value("x-stream-offset")
	}
	return offset
}

func TestTopicMessagesCarryOffsetAndEpoch(t *testing.T) {
	h := historyHarness(t, 100, nil)
	sub := h.subscriber(t, "s", "/topic/a")
	h.connect(t, "p").publish("/topic/a", "one", "two")
	first := sub.expect("MESSAGE", "x-stream-offset:1")
	second := sub.expect("MESSAGE", "x-stream-offset:2")
	epoch := first.Value("x-stream-epoch")
	if epoch == "" || second.Value("x-stream-epoch") != epoch || strings.ContainsAny(epoch, ":\\ \t\n") {
		t.Fatalf("epochs %q and %q: want one, without ':', '\\' or whitespace", epoch, second.Value("x-stream-epoch"))
	}
}

func TestForgedStreamHeadersAreNotPassedOn(t *testing.T) {
	for _, size := range []int{0, 100} {
		t.Run("history="+strconv.Itoa(size), func(t *testing.T) {
			h := historyHarness(t, size, nil)
			sub := h.subscriber(t, "s", "/topic/a")
			p := h.connect(t, "p")
			p.write(frame("SEND", "x", "destination:/topic/a", "x-stream-offset:999", "x-stream-epoch:forged", "x-stream-other:1", "x-recovered:true", "receipt:s"))
			p.expect("RECEIPT")
			f := sub.expect("MESSAGE")
			if f.Value("x-stream-epoch") == "forged" || f.Value("x-stream-offset") == "999" || f.Value("x-stream-other") != "" || f.Value("x-recovered") != "" {
				t.Fatalf("forged x-stream headers passed on: %s", dump(f))
			}
		})
	}
}

func TestResumeForms(t *testing.T) {
	clock := stomptest.NewClock()
	h := historyHarness(t, 100, clock)
	p := h.connect(t, "p")
	p.publish("/topic/a", "m1", "m2")
	clock.Advance(10 * time.Second)
	p.publish("/topic/a", "m3")
	since := strconv.FormatInt(clock.Now().Unix(), 10)
	sub := h.subscriber(t, "s", "/topic/a")
	sub.expectNothing(0)
	_, epoch, _ := h.connect(t, "e").resume("/topic/a")
	for _, tc := range []struct {
		name    string
		headers []string
		replay  []string
	}{
		{"first", []string{"x-stream-offset:first"}, []string{"m1", "m2", "m3"}},
		{"last", []string{"x-stream-offset:last"}, []string{"m3"}},
		{"next", []string{"x-stream-offset:next"}, nil},
		{"default", nil, nil},
		{"epoch alone", []string{"x-stream-epoch:" + epoch}, nil},
		{"offset", []string{"x-stream-offset:offset=1", "x-stream-epoch:" + epoch}, []string{"m2", "m3"}},
		{"offset=0", []string{"x-stream-offset:offset=0"}, []string{"m1", "m2", "m3"}},
		{"offset at the latest", []string{"x-stream-offset:offset=3", "x-stream-epoch:" + epoch}, nil},
		{"timestamp", []string{"x-stream-offset:timestamp=" + since}, []string{"m3"}},
		{"timestamp before all", []string{"x-stream-offset:timestamp=1"}, []string{"m1", "m2", "m3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.connect(t, "c")
			recovered, gotEpoch, last := c.resume("/topic/a", tc.headers...)
			if recovered != "true" || gotEpoch != epoch || last != "3" {
				t.Fatalf("RECEIPT x-recovered:%s x-stream-epoch:%s x-stream-offset:%s, want true, %s, 3", recovered, gotEpoch, last, epoch)
			}
			c.expectMessages(tc.replay...)
			c.expectNothing(50 * time.Millisecond)
		})
	}
	p.publish("/topic/a", "m4")
	if off := sub.expectMessages("m4"); off != "4" {
		t.Fatalf("live message after the resumes has offset %s, want 4", off)
	}
}

func TestResumeThatCannotBeMetReplaysNothing(t *testing.T) {
	h := historyHarness(t, 3, nil)
	p := h.connect(t, "p")
	p.publish("/topic/a", "m1", "m2", "m3", "m4", "m5")
	_, epoch, _ := h.connect(t, "e").resume("/topic/a")
	for i, tc := range []struct {
		name    string
		headers []string
	}{
		{"offset older than history", []string{"x-stream-offset:offset=1", "x-stream-epoch:" + epoch}},
		{"offset beyond the latest", []string{"x-stream-offset:offset=9", "x-stream-epoch:" + epoch}},
		{"wrong epoch", []string{"x-stream-offset:offset=4", "x-stream-epoch:other"}},
		{"wrong epoch, first", []string{"x-stream-offset:first", "x-stream-epoch:other"}},
		{"timestamp older than history", []string{"x-stream-offset:timestamp=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.connect(t, "c")
			recovered, _, last := c.resume("/topic/a", tc.headers...)
			if want := strconv.Itoa(5 + i); recovered != "false" || last != want {
				t.Fatalf("RECEIPT x-recovered:%s x-stream-offset:%s, want false and %s", recovered, last, want)
			}
			c.expectNothing(50 * time.Millisecond)
			p.publish("/topic/a", "live")
			c.expectMessages("live")
		})
	}
	if got := value(t, h.m.Resumes.WithLabelValues("lost")); got != 5 {
		t.Fatalf("resumes lost = %v, want 5", got)
	}
}

func TestResumeWithoutHistoryIsNotRecovered(t *testing.T) {
	h := historyHarness(t, 0, nil)
	h.connect(t, "p").publish("/topic/a", "m1")
	for _, tc := range []struct{ from, recovered string }{{"first", "false"}, {"offset=0", "false"}, {"next", "true"}} {
		c := h.connect(t, "c")
		recovered, epoch, _ := c.resume("/topic/a", "x-stream-offset:"+tc.from)
		if recovered != tc.recovered || epoch != "" {
			t.Fatalf("%s without history: x-recovered:%s x-stream-epoch:%q, want %s and none", tc.from, recovered, epoch, tc.recovered)
		}
		c.expectNothing(20 * time.Millisecond)
	}
}

func TestResumeBadHeadersAreRefused(t *testing.T) {
	h := historyHarness(t, 100, nil)
	for _, tc := range []struct{ dest, header, msg string }{
		{"/topic/a", "x-stream-offset:offset=-1", "invalid x-stream-offset"},
		{"/topic/a", "x-stream-offset:oldest", "invalid x-stream-offset"},
		{"/topic/a", "x-stream-offset:timestamp=soon", "invalid x-stream-offset"},
		{"/topic/a", "x-stream-offset:timestamp=99999999999999999999", "invalid x-stream-offset"},
		{"/topic/a", "x-stream-epoch:" + strings.Repeat("e", 129), "invalid x-stream-epoch"},
		{"/queue/a", "x-stream-offset:first", "/topic/ destinations only"},
		{"/user/queue/a", "x-stream-offset:first", "/topic/ destinations only"},
	} {
		c := h.connect(t, "c")
		c.write(frame("SUBSCRIBE", "", "id:1", "destination:"+tc.dest, tc.header))
		c.expectError("protocol-error", tc.msg)
	}
}

// TestResumeAcceptsWhatAReceiptMaySay: an empty x-stream-epoch (what a
// cluster's RECEIPT says of a topic that has given no offset yet) is no
// epoch, and a timestamp far in the future replays nothing.
func TestResumeAcceptsWhatAReceiptMaySay(t *testing.T) {
	h := historyHarness(t, 100, nil)
	h.connect(t, "p").publish("/topic/a", "m1")
	c := h.connect(t, "c")
	if recovered, _, _ := c.resume("/topic/a", "x-stream-offset:offset=0", "x-stream-epoch:"); recovered != "true" {
		t.Fatalf("offset=0 with an empty epoch: x-recovered:%s, want true", recovered)
	}
	c.expectMessages("m1")
	d := h.connect(t, "d")
	if recovered, _, _ := d.resume("/topic/a", "x-stream-offset:timestamp=9999999999"); recovered != "true" {
		t.Fatalf("a timestamp in 2286: x-recovered:%s, want true", recovered)
	}
	d.expectNothing(20 * time.Millisecond)
}

func TestHistoryExpiresAfterTTL(t *testing.T) {
	clock := stomptest.NewClock()
	h := newHarness(t, Options{HistorySize: 100, HistoryTTL: time.Minute, Now: clock.Now})
	p := h.connect(t, "p")
	p.publish("/topic/a", "old")
	clock.Advance(40 * time.Second)
	p.publish("/topic/a", "new")
	clock.Advance(30 * time.Second)
	c := h.connect(t, "c")
	if recovered, _, _ := c.resume("/topic/a", "x-stream-offset:first"); recovered != "true" {
		t.Fatalf("first: x-recovered:%s, want true", recovered)
	}
	c.expectMessages("new")
	c.expectNothing(20 * time.Millisecond)
	if recovered, _, _ := h.connect(t, "d").resume("/topic/a", "x-stream-offset:offset=0"); recovered != "false" {
		t.Fatalf("offset=0 after the first message expired: x-recovered:%s, want false", recovered)
	}
}

func TestIdleTopicGoesWhenItsHistoryExpires(t *testing.T) {
	clock := stomptest.NewClock()
	h := newHarness(t, Options{HistorySize: 100, HistoryTTL: time.Minute, Now: clock.Now})
	h.connect(t, "p").publish("/topic/a", "m1")
	topics := h.m.Destinations.WithLabelValues("topic")
	if got := value(t, topics); got != 1 {
		t.Fatalf("topics with a message kept and no subscriber = %v, want 1", got)
	}
	h.b.r.sweepHistories()
	if got := value(t, topics); got != 1 {
		t.Fatalf("topics after a sweep within the TTL = %v, want 1", got)
	}
	clock.Advance(2 * time.Minute)
	h.b.r.sweepHistories()
	if got, held := value(t, topics), value(t, h.m.HistoryMessages); got != 0 || held != 0 {
		t.Fatalf("after the TTL: %v topics, %v messages held, want none", got, held)
	}
}

func TestHistoryBoundedInBytes(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 100, MaxHistoryBytes: 8 << 10})
	body := strings.Repeat("x", 3000)
	h.connect(t, "p").publish("/topic/a", body, body, body, body)
	if held := value(t, h.m.HistoryBytes); held > 8<<10 || held == 0 {
		t.Fatalf("history holds %v bytes, want some, at most 8 KiB", held)
	}
	c := h.connect(t, "c")
	if recovered, _, _ := c.resume("/topic/a", "x-stream-offset:offset=0"); recovered != "false" {
		t.Fatalf("offset=0 after trimming: x-recovered:%s, want false", recovered)
	}
}

// TestHistoriesTogetherBoundedInBytes: many topics, each within its own
// bound, cannot together hold more than MaxHistoryTotalBytes (beyond one
// message): the topic taking a message lets its own oldest go, counted,
// and a resume that reaches back to them is not recovered.
func TestHistoriesTogetherBoundedInBytes(t *testing.T) {
	const total = 64 << 10
	h := newHarness(t, Options{HistorySize: 100, MaxHistoryBytes: 32 << 10, MaxHistoryTotalBytes: total})
	body := strings.Repeat("x", 3000)
	p := h.connect(t, "p")
	for i := range 10 {
		p.publish("/topic/t"+strconv.Itoa(i), body, body, body, body)
		if held := value(t, h.m.HistoryBytes); held > total+4<<10 {
			t.Fatalf("after %d topics the histories hold %v bytes, want at most %d and one message", i+1, held, total)
		}
	}
	if evicted := value(t, h.m.HistoryEvicted); evicted == 0 {
		t.Fatal("no message counted as evicted")
	}
	c := h.connect(t, "c")
	if recovered, _, _ := c.resume("/topic/t9", "x-stream-offset:offset=0"); recovered != "false" {
		t.Fatalf("offset=0 on the topic that made room: x-recovered:%s, want false", recovered)
	}
}

func TestHistoriesCarryOverToTheNextBroker(t *testing.T) {
	a := anonymousBroker(Options{HistorySize: 100})
	for _, body := range []string{"m1", "m2"} {
		f := &stomp.Frame{Command: stomp.SEND, Body: []byte(body)}
		if err := a.r.publish(newMessage(f, "/topic/a", kindTopic, 1, time.Now()), new(stores), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := a.Histories()
	if len(hs) != 1 || hs[0].Last != 2 || len(hs[0].Entries) != 2 {
		t.Fatalf("Histories = %+v, want /topic/a with 2 messages", hs)
	}
	b := newHarness(t, Options{HistorySize: 100, Histories: hs})
	c := b.connect(t, "c")
	recovered, epoch, last := c.resume("/topic/a", "x-stream-offset:offset=1", "x-stream-epoch:"+hs[0].Epoch)
	if recovered != "true" || epoch != hs[0].Epoch || last != "2" {
		t.Fatalf("after restore: x-recovered:%s x-stream-epoch:%s x-stream-offset:%s, want true, %s, 2", recovered, epoch, last, hs[0].Epoch)
	}
	c.expectMessages("m2")
	b.connect(t, "p").publish("/topic/a", "m3")
	if off := c.expectMessages("m3"); off != "3" {
		t.Fatalf("the offset after a restore is %s, want 3", off)
	}
}

// TestHistoryCostMatchesHeap fills topic histories the way SENDs do and
// checks that what the broker accounts for the messages they keep is
// within a tenth of what the heap grew by; it also reports what a topic
// with a full default history of 128-byte messages costs.
func TestHistoryCostMatchesHeap(t *testing.T) {
	for _, tc := range []struct {
		name           string
		topics, perTop int
	}{
		{"one topic of 16,384 messages", 1, 1 << 14},
		{"1,000 topics of 100 messages", 1000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(prometheus.NewRegistry())
			b := anonymousBroker(Options{HistorySize: tc.perTop, MaxHistoryBytes: 1 << 30, Metrics: m})
			frames := make([]*stomp.Frame, tc.topics*tc.perTop)
			for i := range frames {
				frames[i] = &stomp.Frame{Command: stomp.SEND, Body: make([]byte, 128)}
				frames[i].Add("content-type", "text/plain")
			}
			before := heapInUse()
			for i, f := range frames {
				dest := fmt.Sprintf("/topic/t%d", i%tc.topics)
				msg := newMessageFor(f, dest, kindTopic, uint64(i+1), time.Time{}, b.r.numbers(kindTopic))
				if err := b.r.publish(msg, new(stores), ""); err != nil {
					t.Fatal(err)
				}
				msg.common(stomp.V12) // as its delivery would
			}
			grown := heapInUse() - before
			runtime.KeepAlive(frames)
			accounted := int64(value(t, m.HistoryBytes))
			t.Logf("per message: heap %.0f bytes, accounted %.0f; per topic with its messages: heap %.0f bytes",
				float64(grown)/float64(len(frames)), float64(accounted)/float64(len(frames)), float64(grown)/float64(tc.topics))
			if d := float64(accounted-grown) / float64(grown); tc.topics == 1 && (d < -0.1 || d > 0.1) {
				t.Fatalf("accounted %d bytes for %d messages, the heap grew by %d", accounted, len(frames), grown)
			}
		})
	}
}

// TestReplayFitsTheDefaultBounds replays a full history of large messages,
// as much as the default MaxHistoryBytes keeps, to a subscriber that reads
// nothing meanwhile: under the default MaxPendingBytes it is not cut.
func TestReplayFitsTheDefaultBounds(t *testing.T) {
	h := historyHarness(t, 100, nil)
	body := strings.Repeat("x", 60<<10)
	bodies := make([]string, 100)
	for i := range bodies {
		bodies[i] = body
	}
	h.connect(t, "p").publish("/topic/big", bodies...)
	c := h.connect(t, "c")
	if recovered, _, _ := c.resume("/topic/big", "x-stream-offset:first"); recovered != "true" {
		t.Fatalf("first: x-recovered:%s", recovered)
	}
	kept := int(value(t, h.m.HistoryMessages))
	if kept < 20 || kept == 100 {
		t.Fatalf("the history keeps %d messages of 60 KiB: want as many as 2 MiB holds", kept)
	}
	c.expectMessages(bodies[:kept]...)
	if cuts := value(t, h.m.SlowConsumerDisconnects); cuts != 0 {
		t.Fatalf("%v slow-consumer cuts replaying a full default history", cuts)
	}
}

// TestReplayBeyondTheOutboxBoundIsASlowConsumer replays more than a
// subscriber's outbox may hold: it is cut as a slow consumer, and counted.
func TestReplayBeyondTheOutboxBoundIsASlowConsumer(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 100, MaxPendingBytes: 16 << 10})
	body := strings.Repeat("x", 1<<10)
	p := h.connect(t, "p")
	for range 40 {
		p.publish("/topic/a", body)
	}
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:r", "destination:/topic/a", "x-stream-offset:first"))
	c.expectError("slow-consumer", "slow consumer")
	// The cut is counted by the reader once the outbox refused the replay,
	// which may be after the writer sent the ERROR.
	waitFor(t, "the slow-consumer cut counted", func() bool { return value(t, h.m.SlowConsumerDisconnects) == 1 })
}
