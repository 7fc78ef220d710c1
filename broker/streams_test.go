package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStreams is Streams in memory, delivering each Append to one broker at
// once: the seam's second implementation, beside the Redis one. Its Read
// can be held at a gate, so that a test publishes while a subscriber reads
// the history.
type memStreams struct {
	b *Broker

	mu      sync.Mutex
	epoch   string
	entries []StreamEntry
	gate    chan struct{} // when not nil, Read waits for it to close...
	reading chan struct{} // ...after closing this one
	snapAt  bool          // Read takes what is kept when called, not once let through
}

func (s *memStreams) Append(dest string, msg []byte, done Appended) {
	s.mu.Lock()
	e := StreamEntry{Offset: uint64(len(s.entries) + 1), At: time.Now(), Msg: msg}
	s.entries = append(s.entries, e)
	s.mu.Unlock()
	// A real one delivers to every node in offset order per destination;
	// this one's callers are serialised by the test.
	s.b.DeliverAt(append([]byte(nil), msg...), s.epoch, e.Offset, e.At)
	done.Appended(dest, nil)
}

func (s *memStreams) Read(ctx context.Context, dest string, after uint64) (StreamRead, error) {
	snap := s.read(after)
	if s.gate != nil {
		close(s.reading)
		select {
		case <-s.gate:
		case <-ctx.Done():
			return StreamRead{}, ctx.Err()
		}
		if !s.snapAt {
			snap = s.read(after)
		}
	}
	return snap, nil
}

func (s *memStreams) read(after uint64) StreamRead {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := StreamRead{Epoch: s.epoch, Last: uint64(len(s.entries))}
	if len(s.entries) > 0 {
		r.First = 1
	}
	for _, e := range s.entries {
		if e.Offset > after {
			r.Entries = append(r.Entries, StreamEntry{Offset: e.Offset, At: e.At, Msg: append([]byte(nil), e.Msg...)})
		}
	}
	return r
}

// TestStreamsJoinHoldsLiveMessagesWhileReading publishes while a resuming
// subscriber reads the history from the streams: the messages published
// meanwhile are held, and the subscriber receives the replay, then what it
// held beyond the replay, each once, after its RECEIPT.
func TestStreamsJoinHoldsLiveMessagesWhileReading(t *testing.T) {
	for _, snapAt := range []bool{true, false} {
		t.Run("read before the publishes="+strconv.FormatBool(snapAt), func(t *testing.T) {
			s := &memStreams{epoch: "e1", snapAt: snapAt}
			h := newHarness(t, Options{HistorySize: 100, Streams: s})
			s.b = h.b
			p := h.connect(t, "p")
			p.publish("/topic/a", "m1", "m2", "m3")
			s.gate, s.reading = make(chan struct{}), make(chan struct{})
			c := h.connect(t, "c")
			c.write(frame("SUBSCRIBE", "", "id:r", "destination:/topic/a", "receipt:r", "x-stream-offset:offset=1", "x-stream-epoch:e1"))
			<-s.reading
			p.publish("/topic/a", "m4", "m5")
			close(s.gate)
			f := c.expect("RECEIPT", "receipt-id:r", "x-recovered:true", "x-stream-epoch:e1")
			if last := f.Value("x-stream-offset"); snapAt && last != "3" || !snapAt && last != "5" {
				t.Fatalf("RECEIPT x-stream-offset:%s", last)
			}
			for i, body := range []string{"m2", "m3", "m4", "m5"} {
				if f := c.expect("MESSAGE", "x-stream-offset:"+strconv.Itoa(i+2), "x-stream-epoch:e1"); string(f.Body) != body {
					t.Fatalf("MESSAGE %d has body %q, want %q", i+2, f.Body, body)
				}
			}
			p.publish("/topic/a", "m6")
			c.expect("MESSAGE", "x-stream-offset:6")
			c.expectNothing(20 * time.Millisecond)
		})
	}
}

func TestStreamsCarryTopicMessagesNotUserMessages(t *testing.T) {
	s := &memStreams{epoch: "e1"}
	h := newHarness(t, Options{HistorySize: 100, Streams: s})
	s.b = h.b
	sub := h.subscriber(t, "u", "/user/queue/q")
	h.connect(t, "p").publish("/user/u/queue/q", "direct")
	sub.expect("MESSAGE")
	if len(s.entries) != 0 {
		t.Fatalf("a user destination's message went to the streams")
	}
	if hs := h.b.Histories(); len(hs) != 0 {
		t.Fatalf("Histories with Streams = %v, want none: the streams keep them", hs)
	}
}

// TestStreamsJoinHoldingTooMuchIsASlowConsumer publishes more than
// MaxPendingBytes while a subscriber reads the history: it is cut as a
// slow consumer once it joins, rather than left with a gap.
func TestStreamsJoinHoldingTooMuchIsASlowConsumer(t *testing.T) {
	s := &memStreams{epoch: "e1", snapAt: true} // the replay is empty: what it holds is too much
	h := newHarness(t, Options{HistorySize: 100, Streams: s, MaxPendingBytes: 16 << 10})
	s.b = h.b
	s.gate, s.reading = make(chan struct{}), make(chan struct{})
	c := h.connect(t, "c")
	c.write(frame("SUBSCRIBE", "", "id:r", "destination:/topic/a", "x-stream-offset:first"))
	<-s.reading
	p := h.connect(t, "p")
	for range 40 {
		p.publish("/topic/a", strings.Repeat("x", 1<<10))
	}
	close(s.gate)
	c.expectError("slow-consumer", "slow consumer")
}

// heldStreams is memStreams whose Appends are answered only when the test
// says so, oldest first.
type heldStreams struct {
	memStreams
	mu   sync.Mutex
	held []Appended
}

// ignored is an Appended that forgets the answer.
type ignored struct{}

func (ignored) Appended(string, error) {}

func (s *heldStreams) Append(dest string, msg []byte, done Appended) {
	s.memStreams.Append(dest, msg, ignored{})
	s.mu.Lock()
	s.held = append(s.held, done)
	s.mu.Unlock()
}

// heldHarness starts a harness whose broker has o and heldStreams, of
// epoch e1, as its Streams.
func heldHarness(t *testing.T, o Options) (*heldStreams, *harness) {
	s := &heldStreams{memStreams: memStreams{epoch: "e1"}}
	o.Streams = s
	h := newHarness(t, o)
	s.b = h.b
	return s, h
}

// answer answers the oldest Append held with err, once there is one.
func (s *heldStreams) answer(t *testing.T, err error) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		if len(s.held) > 0 {
			done := s.held[0]
			s.held = s.held[1:]
			s.mu.Unlock()
			done.Appended("/topic/a", err)
			return
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no Append to answer")
		}
	}
}

func TestStreamsReceiptWaitsUntilEveryEarlierTopicMessageIsKept(t *testing.T) {
	s, h := heldHarness(t, Options{HistorySize: 100})
	c := h.subscriber(t, "c", "/topic/a")
	p := h.connect(t, "p")
	p.write(frame("SEND", "m1", "destination:/topic/a"))
	p.write(frame("SEND", "m2", "destination:/topic/a", "receipt:r"))
	c.expect("MESSAGE", "x-stream-offset:1") // delivered before it is kept, as the streams do
	c.expect("MESSAGE", "x-stream-offset:2")
	p.expectNothing(50 * time.Millisecond)
	s.answer(t, nil)
	p.expectNothing(50 * time.Millisecond)
	s.answer(t, nil)
	p.expect("RECEIPT", "receipt-id:r")
}

func TestStreamsReceiptOfAMessageNotKeptIsAnError(t *testing.T) {
	s, h := heldHarness(t, Options{HistorySize: 100})
	p := h.connect(t, "p")
	p.write(frame("SEND", "m1", "destination:/topic/a"))
	p.write(frame("SEND", "m2", "destination:/topic/a", "receipt:r"))
	s.answer(t, errors.New("the outbox overflowed"))
	f := p.expectError(CodeUnavailable, "the message to /topic/a was not stored: the outbox overflowed")
	if id := f.Value("receipt-id"); id != "r" {
		t.Fatalf("ERROR receipt-id:%s, want r", id)
	}
}

// TestStreamsReceiptWaitIsNoHeartBeatTimeout holds a DISCONNECT's RECEIPT,
// which the reader waits for, for longer than twice the client's
// heart-beat interval: the reader, which reads nothing meanwhile, does not
// cut the client for silence.
func TestStreamsReceiptWaitIsNoHeartBeatTimeout(t *testing.T) {
	s, h := heldHarness(t, Options{HistorySize: 100, MinHeartBeat: 20 * time.Millisecond})
	p := h.connect(t, "p", "heart-beat:20,0")
	p.write(frame("SEND", "m1", "destination:/topic/a"))
	p.write(frame("DISCONNECT", "", "receipt:r"))
	time.Sleep(200 * time.Millisecond) // the client's heart-beats would wait in the socket
	s.answer(t, nil)
	p.expect("RECEIPT", "receipt-id:r")
}

// TestStreamsReceiptWaitHoldsNoLaterFrame sends while the streams keep
// nothing, as while Redis is down: the RECEIPTs wait, in order, but the
// SENDs after them are read and delivered to this node's subscribers at
// once (SPEC §6: local fan-out goes on), and a message not kept fails the
// first RECEIPT that waits for it.
func TestStreamsReceiptWaitHoldsNoLaterFrame(t *testing.T) {
	s, h := heldHarness(t, Options{HistorySize: 100})
	c := h.subscriber(t, "c", "/topic/a")
	p := h.connect(t, "p")
	p.write(frame("SEND", "m1", "destination:/topic/a", "receipt:r1"))
	p.write(frame("SEND", "m2", "destination:/topic/a", "receipt:r2"))
	p.write(frame("BEGIN", "", "transaction:t", "receipt:r3"))
	p.write(frame("SEND", "m3", "destination:/topic/a"))
	for i := range 3 {
		c.expect("MESSAGE", "x-stream-offset:"+strconv.Itoa(i+1))
	}
	p.expectNothing(50 * time.Millisecond)
	s.answer(t, nil)
	p.expect("RECEIPT", "receipt-id:r1")
	p.expectNothing(50 * time.Millisecond)
	s.answer(t, nil)
	p.expect("RECEIPT", "receipt-id:r2")
	p.expect("RECEIPT", "receipt-id:r3")
	p.write(frame("SEND", "m4", "destination:/topic/a", "receipt:r4"))
	c.expect("MESSAGE", "x-stream-offset:4")
	s.answer(t, errors.New("the outbox overflowed"))
	f := p.expectError(CodeUnavailable, "the message to /topic/a was not stored: the outbox overflowed")
	if id := f.Value("receipt-id"); id != "r4" {
		t.Fatalf("ERROR receipt-id:%s, want r4", id)
	}
}

// TestStreamsReceiptsWaitingPastTheBoundHoldTheReader sends more SENDs
// asking for a RECEIPT than may wait while the streams keep nothing: the
// one past maxReceiptsDue makes the reader wait, so that the frames after
// it wait too, until the streams answer.
func TestStreamsReceiptsWaitingPastTheBoundHoldTheReader(t *testing.T) {
	s, h := heldHarness(t, Options{HistorySize: maxReceiptsDue + 10})
	c := h.subscriber(t, "c", "/topic/a")
	p := h.connect(t, "p")
	const n = maxReceiptsDue + 1
	for i := range n {
		p.write(frame("SEND", "m", "destination:/topic/a", "receipt:r"+strconv.Itoa(i)))
	}
	p.write(frame("SEND", "after", "destination:/topic/a"))
	for range n {
		c.expect("MESSAGE")
	}
	c.expectNothing(50 * time.Millisecond)
	for i := range n {
		s.answer(t, nil)
		p.expect("RECEIPT", "receipt-id:r"+strconv.Itoa(i))
	}
	if f := c.expect("MESSAGE"); string(f.Body) != "after" {
		t.Fatalf("MESSAGE %q, want after", f.Body)
	}
}
