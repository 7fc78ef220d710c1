package broker

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// destinationsHeld returns the keys of the topics and queues the router
// holds, sorted.
func destinationsHeld(b *Broker) []string {
	b.r.mu.RLock()
	defer b.r.mu.RUnlock()
	var keys []string
	for key := range b.r.topics {
		keys = append(keys, key)
	}
	for key := range b.r.queues {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

func expectHeld(t *testing.T, b *Broker, want ...string) {
	t.Helper()
	if got := destinationsHeld(b); !slices.Equal(got, want) {
		t.Fatalf("destinations held: %q, want %q", got, want)
	}
}

// TestFullTableEvictsTopicsWithOnlyHistory: one session fills
// MaxDestinations with topics that nobody subscribes to and that keep a
// message each; another session can still SUBSCRIBE to a new topic and
// SEND to a new queue, each evicting the least recently active of them (a
// publish or a subscriber leaving makes a topic active), counted, with
// its history let go.
func TestFullTableEvictsTopicsWithOnlyHistory(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 100, MaxDestinations: 4})
	p := h.connect(t, "p")
	p.publish("/topic/a", "m")
	p.publish("/topic/b", "m")
	p.publish("/topic/c", "m")
	p.publish("/topic/d", "m")
	p.publish("/topic/a", "again") // a is now more recent than b, c and d
	left := h.subscriber(t, "s", "/topic/c")
	left.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:left"))
	left.expect("RECEIPT") // c lost its subscriber after a was published to
	expectHeld(t, h.b, "/topic/a", "/topic/b", "/topic/c", "/topic/d")

	q := h.subscriber(t, "q", "/topic/new")
	expectHeld(t, h.b, "/topic/a", "/topic/c", "/topic/d", "/topic/new")
	sendAll(q, "/queue/new", "kept")
	expectHeld(t, h.b, "/queue/new", "/topic/a", "/topic/c", "/topic/new")
	if evicted, refused := value(t, h.m.DestinationsEvicted), value(t, h.m.DestinationsRefused); evicted != 2 || refused != 0 {
		t.Fatalf("evicted %v, refused %v: want 2 and 0", evicted, refused)
	}
	if held := value(t, h.m.HistoryMessages); held != 3 {
		t.Fatalf("history holds %v messages, want 3 (a's two, c's one)", held)
	}
	h.connect(t, "p").publish("/topic/new", "to new")
	q.expect("MESSAGE", "x-stream-offset:1")
}

// TestTopicsInUseAreNeverEvicted: a topic with a subscriber (whatever its
// history holds), a queue, a queue's buffered messages and a user
// destination are not evicted; a destination beyond them is refused.
func TestTopicsInUseAreNeverEvicted(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 100, MaxDestinations: 4})
	s := h.subscriber(t, "s", "/topic/a")
	s.write(frame("SUBSCRIBE", "", "id:2", "destination:/queue/q"))
	s.write(frame("SUBSCRIBE", "", "id:3", "destination:/user/queue/u", "receipt:subscribed"))
	s.expect("RECEIPT", "receipt-id:subscribed")
	p := h.connect(t, "p")
	p.publish("/topic/a", "kept in a's history")
	sendAll(p, "/queue/buffered", "waiting")
	expectBodies(s, "kept in a's history")

	p.write(frame("SEND", "m", "destination:/topic/b"))
	p.expectError(CodeLimitExceeded, "too many destinations")
	if evicted, refused := value(t, h.m.DestinationsEvicted), value(t, h.m.DestinationsRefused); evicted != 0 || refused != 1 {
		t.Fatalf("evicted %v, refused %v: want 0 and 1", evicted, refused)
	}
	expectHeld(t, h.b, "/queue/buffered", "/queue/q", "/topic/a", "/user/s/queue/u")
}

// TestResumeOnAnEvictedTopicIsNotRecovered: a topic evicted and made again
// has a new epoch, so that a resume from the old one's epoch and offset
// gets x-recovered:false and replays nothing, though the new topic has
// messages at that offset.
func TestResumeOnAnEvictedTopicIsNotRecovered(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 100, MaxDestinations: 1})
	p := h.connect(t, "p")
	p.publish("/topic/a", "old 1", "old 2")
	c := h.connect(t, "c")
	recovered, epoch, last := c.resume("/topic/a", "x-stream-offset:last")
	c.expectMessages("old 2")
	if recovered != "true" || last != "2" {
		t.Fatalf("first resume: x-recovered:%s, offset %s; want true and 2", recovered, last)
	}
	c.write(frame("UNSUBSCRIBE", "", "id:r", "receipt:left"))
	c.expect("RECEIPT", "receipt-id:left")

	p.publish("/topic/b", "evicts a")
	p.publish("/topic/a", "new 1", "new 2", "new 3") // evicts b
	r := h.connect(t, "r")
	recovered, again, last := r.resume("/topic/a", "x-stream-offset:offset=1", "x-stream-epoch:"+epoch)
	if recovered != "false" || again == epoch || last != "3" {
		t.Fatalf("resume after eviction: x-recovered:%s, epoch %s (was %s), offset %s; want false, a new epoch, 3", recovered, again, epoch, last)
	}
	p.publish("/topic/a", "live")
	r.expectMessages("live")
	if evicted := value(t, h.m.DestinationsEvicted); evicted != 2 {
		t.Fatalf("evicted %v, want 2", evicted)
	}
}

// TestSubscribesRaceEviction: in each round a burst of SUBSCRIBEs to a
// topic with only history races a SEND that makes a new destination in a
// full table, which evicts the topic if it is still without subscribers.
// Every subscriber must end on the topic that is routed to: each gets the
// message published once all are subscribed.
func TestSubscribesRaceEviction(t *testing.T) {
	const rounds, subscribers = 30, 6
	h := newHarness(t, Options{HistorySize: 10, MaxDestinations: 1})
	p := h.connect(t, "p")
	subs := make([]*client, subscribers)
	for i := range subs {
		subs[i] = h.connect(t, "s"+strconv.Itoa(i))
	}
	for round := range rounds {
		id := "id:" + strconv.Itoa(round)
		p.publish("/topic/victim", "history")
		f := h.connect(t, "f")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A RECEIPT, or an ERROR when the subscribers came first.
			if _, err := io.WriteString(f.Conn, frame("SEND", "", "destination:/topic/filler."+strconv.Itoa(round), "receipt:f")); err == nil {
				f.Next()
			}
		}()
		for _, s := range subs {
			s.write(frame("SUBSCRIBE", "", id, "destination:/topic/victim", "receipt:"+id))
		}
		for _, s := range subs {
			s.expect("RECEIPT", "receipt-id:"+id)
		}
		wg.Wait()
		p.publish("/topic/victim", "live "+strconv.Itoa(round))
		for _, s := range subs {
			expectBodies(s, "live "+strconv.Itoa(round))
			s.write(frame("UNSUBSCRIBE", "", id, "receipt:left"))
			s.expect("RECEIPT", "receipt-id:left")
		}
	}
	t.Logf("evicted %v, refused %v", value(t, h.m.DestinationsEvicted), value(t, h.m.DestinationsRefused))
}

// TestSubscriberOfAnEvictedTopicLooksAgain: a SUBSCRIBE that found the
// topic just before it was evicted is not added to it (it would never get
// a message), and looks again, making the topic anew.
func TestSubscriberOfAnEvictedTopicLooksAgain(t *testing.T) {
	h := newHarness(t, Options{HistorySize: 10, MaxDestinations: 1})
	p := h.connect(t, "p")
	p.publish("/topic/victim", "history")
	found, err := h.b.r.topic("/topic/victim", kindTopic)
	if err != nil {
		t.Fatal(err)
	}
	p.publish("/topic/filler", "evicts the victim")
	if found.add(&subscription{kind: kindTopic, key: "/topic/victim"}) {
		t.Fatal("a subscriber was added to an evicted topic")
	}
	s := h.subscriber(t, "s", "/topic/victim")
	expectHeld(t, h.b, "/topic/victim")
	p.publish("/topic/victim", "live")
	s.expectMessages("live")
}

// TestRestoredTopicsAreEvictedOldestFirst: the histories a broker restores
// come in the order of their destinations; they are listed in the order of
// their newest message, so that the one idle longest is evicted first.
func TestRestoredTopicsAreEvictedOldestFirst(t *testing.T) {
	a := anonymousBroker(Options{HistorySize: 10})
	now := time.Now()
	for _, m := range []struct {
		dest string
		at   time.Time
	}{{"/topic/b", now.Add(-time.Minute)}, {"/topic/a", now}} {
		f := &stomp.Frame{Command: stomp.SEND, Body: []byte("m")}
		if err := a.r.publish(newMessage(f, m.dest, kindTopic, 1, m.at), new(stores), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{HistorySize: 10, MaxDestinations: 2, Histories: a.Histories()})
	expectHeld(t, h.b, "/topic/a", "/topic/b")
	h.subscriber(t, "s", "/topic/c")
	expectHeld(t, h.b, "/topic/a", "/topic/c")

	var logged bytes.Buffer // one fewer place: the oldest goes, and is logged
	small := newHarness(t, Options{HistorySize: 10, MaxDestinations: 1, Histories: a.Histories(),
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	expectHeld(t, small.b, "/topic/a")
	if !strings.Contains(logged.String(), "evicted=1 no_room=0") {
		t.Errorf("log %q, want evicted=1 no_room=0", logged.String())
	}
}

// TestStreamsTopicsAreNeverEvicted: with Streams (cluster mode) a topic
// keeps no history on the node, so SENDs to new topics take no place
// among MaxDestinations, a topic goes with its last subscriber, and a
// topic with a subscriber is not evicted: nothing changes there.
func TestStreamsTopicsAreNeverEvicted(t *testing.T) {
	s := &memStreams{epoch: "e1"}
	h := newHarness(t, Options{HistorySize: 100, Streams: s, MaxDestinations: 1})
	s.b = h.b
	p := h.connect(t, "p")
	p.publish("/topic/a", "m")
	p.publish("/topic/b", "m")
	expectHeld(t, h.b)
	sub := h.subscriber(t, "s", "/topic/a")
	other := h.connect(t, "t")
	other.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/b"))
	other.expectError(CodeLimitExceeded, "too many destinations")
	if evicted := value(t, h.m.DestinationsEvicted); evicted != 0 {
		t.Fatalf("evicted %v, want 0", evicted)
	}
	sub.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:left"))
	sub.expect("RECEIPT", "receipt-id:left")
	expectHeld(t, h.b)
}

// BenchmarkEvictingAdmission publishes to a new topic in a router full of
// topics kept only by their history, each publish evicting one: its cost
// must not grow with the number of topics (a scan for the one to evict
// would make it a hundred times dearer at 100,000 than at 1,000).
func BenchmarkEvictingAdmission(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(strconv.Itoa(n)+" topics", func(b *testing.B) {
			br := anonymousBroker(Options{HistorySize: 1, MaxDestinations: n})
			defer br.Shutdown(context.Background())
			f := &stomp.Frame{Command: stomp.SEND, Body: []byte("m")}
			publish := func(i int) {
				if err := br.r.publish(newMessage(f, "/topic/t"+strconv.Itoa(i), kindTopic, 1, time.Now()), new(stores), ""); err != nil {
					b.Fatal(err)
				}
			}
			for i := range n {
				publish(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				publish(n + i)
			}
			b.StopTimer()
			if evicted := value(b, br.m.destinationsEvicted); evicted != float64(b.N) {
				b.Fatalf("evicted %v, want %d", evicted, b.N)
			}
		})
	}
}

// TestQueuesPerUserAreBounded: queues, which never make room as a topic
// kept by its history does, are bounded per user who made them: past
// MaxQueuesPerUser that user's SEND or SUBSCRIBE to a new queue is refused
// and counted, while another user still makes queues and topics; a queue
// of the first that is drained and left makes room for it again.
func TestQueuesPerUserAreBounded(t *testing.T) {
	h := newHarness(t, Options{MaxQueuesPerUser: 2, MaxDestinations: 10})
	a := h.connect(t, "a")
	sendAll(a, "/queue/a1", "m")
	sendAll(a, "/queue/a2", "m")
	a.write(frame("SEND", "m", "destination:/queue/a3"))
	a.expectError(CodeLimitExceeded, "too many queues made by one user")
	a = h.connect(t, "a")
	a.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/a3"))
	a.expectError(CodeLimitExceeded, "too many queues made by one user")
	if refused := value(t, h.m.DestinationsRefused); refused != 2 {
		t.Fatalf("refused %v, want 2", refused)
	}

	b := h.connect(t, "b")
	sendAll(b, "/queue/b1", "m")
	h.subscriber(t, "b", "/topic/t")
	expectHeld(t, h.b, "/queue/a1", "/queue/a2", "/queue/b1", "/topic/t")

	a = h.subscriber(t, "a", "/queue/a1")
	expectBodies(a, "m")
	a.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:left"))
	a.expect("RECEIPT", "receipt-id:left") // a1 is drained and left: removed
	sendAll(a, "/queue/a3", "m")
	expectHeld(t, h.b, "/queue/a2", "/queue/a3", "/queue/b1", "/topic/t")
}

// TestHistoriesWithoutRoomAtRestartAreLoggedNotRefused: when the queues
// restored from the journal fill MaxDestinations, the saved histories that
// find no room are logged at start, and not counted as refusals, which no
// client met.
func TestHistoriesWithoutRoomAtRestartAreLoggedNotRefused(t *testing.T) {
	j := newMemJournal(t)
	a := newHarness(t, Options{HistorySize: 10, Journal: j})
	p := a.connect(t, "p")
	p.publish("/topic/a", "m")
	p.write(frame("SEND", "kept", "destination:/queue/q", "persistent:true", "receipt:r"))
	p.expect("RECEIPT", "receipt-id:r")
	if err := a.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	h := newHarness(t, Options{HistorySize: 10, Journal: j, MaxDestinations: 1, Histories: a.b.Histories(),
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	expectHeld(t, h.b, "/queue/q")
	if refused := value(t, h.m.DestinationsRefused); refused != 0 {
		t.Errorf("%v destinations refused at start, want 0", refused)
	}
	if want := "saved topic histories not restored"; !strings.Contains(logged.String(), want) ||
		!strings.Contains(logged.String(), "no_room=1") {
		t.Errorf("log %q, want %q with no_room=1", logged.String(), want)
	}
}
