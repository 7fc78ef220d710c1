package broker

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memJournal is a Journal in memory: one goroutine stores the appends in
// their order, after hold is closed when there is one, and fails them
// while fail is set. persist's Journal is the other implementation.
type memJournal struct {
	ops  chan func()
	done chan struct{}

	mu      sync.Mutex
	next    uint64
	msgs    map[uint64][]byte
	hold    chan struct{}
	fail    error
	removed int
}

func newMemJournal(t testing.TB) *memJournal {
	j := &memJournal{ops: make(chan func(), 10000), done: make(chan struct{}), msgs: map[uint64][]byte{}}
	go func() {
		defer close(j.done)
		for op := range j.ops {
			op()
		}
	}()
	t.Cleanup(func() {
		close(j.ops)
		<-j.done
	})
	return j
}

func (j *memJournal) Append(msg []byte, stored func(uint64, error)) {
	msg = bytes.Clone(msg)
	j.ops <- func() {
		j.mu.Lock()
		hold := j.hold
		j.mu.Unlock()
		if hold != nil {
			<-hold
		}
		j.mu.Lock()
		id, err := j.next+1, j.fail
		if err == nil {
			j.next, j.msgs[id] = id, msg
		}
		j.mu.Unlock()
		if err != nil {
			id = 0
		}
		stored(id, err)
	}
}

func (j *memJournal) Remove(ids []uint64, removed func(error)) {
	j.ops <- func() {
		j.mu.Lock()
		err := j.fail
		if err == nil {
			for _, id := range ids {
				delete(j.msgs, id)
			}
			j.removed += len(ids)
		}
		j.mu.Unlock()
		removed(err)
	}
}

func (j *memJournal) Load(each func(uint64, []byte)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	ids := make([]uint64, 0, len(j.msgs))
	for id := range j.msgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		each(id, bytes.Clone(j.msgs[id]))
	}
	return nil
}

// bodies returns the bodies of the messages the journal holds, in order.
func (j *memJournal) bodies(t *testing.T) []string {
	t.Helper()
	var got []string
	if err := j.Load(func(_ uint64, msg []byte) {
		i := bytes.Index(msg, []byte("\n\n"))
		got = append(got, string(msg[i+2:len(msg)-1]))
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// waitBodies waits until the journal holds exactly want.
func (j *memJournal) waitBodies(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for got := j.bodies(t); !slices.Equal(got, want); got = j.bodies(t) {
		if time.Now().After(deadline) {
			t.Fatalf("the journal holds %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (j *memJournal) setHold(c chan struct{}) {
	j.mu.Lock()
	j.hold = c
	j.mu.Unlock()
}

func (j *memJournal) setFail(err error) {
	j.mu.Lock()
	j.fail = err
	j.mu.Unlock()
}

func TestPersistentSendIsStoredBeforeItsReceiptAndItsDelivery(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j})
	sub := h.subscriber(t, "c", "/queue/q")
	hold := make(chan struct{})
	j.setHold(hold)
	p := h.connect(t, "p")
	p.write(frame("SEND", "kept", "destination:/queue/q", "persistent:true", "receipt:r"))
	p.write(frame("SEND", "after it", "destination:/queue/q"))
	p.expectNothing(200 * time.Millisecond)
	sub.expectNothing(0)
	close(hold)
	p.expect("RECEIPT", "receipt-id:r")
	if f := sub.expect("MESSAGE", "persistent:true"); string(f.Body) != "kept" {
		t.Errorf("first message %q, want the persistent one", f.Body)
	}
	if f := sub.expect("MESSAGE"); string(f.Body) != "after it" {
		t.Errorf("second message %q, want the one sent after it", f.Body)
	}
}

func TestSettledPersistentMessagesLeaveTheJournalBeforeTheReceipt(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j})
	p := h.connect(t, "p")
	for i := range 4 {
		p.write(frame("SEND", strconv.Itoa(i), "destination:/queue/q", "persistent:true"))
	}
	p.write(frame("SEND", "memory", "destination:/queue/q", "receipt:r"))
	p.expect("RECEIPT", "receipt-id:r")
	j.waitBodies(t, "0", "1", "2", "3")

	c := h.subscriber(t, "c", "/queue/q", "ack:client-individual")
	acks := make([]string, 5)
	for i := range acks {
		acks[i] = c.expect("MESSAGE").Value("ack")
	}
	c.write(frame("ACK", "", "id:"+acks[0], "receipt:a"))
	c.expect("RECEIPT", "receipt-id:a")
	if got := j.bodies(t); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("after the ACK's RECEIPT the journal holds %q", got)
	}
	c.write(frame("NACK", "", "id:"+acks[1], "requeue:false", "receipt:n"))
	c.expect("RECEIPT", "receipt-id:n")
	c.write(frame("NACK", "", "id:"+acks[2], "receipt:n2"))
	c.expect("MESSAGE", "redelivered:true")
	c.expect("RECEIPT", "receipt-id:n2")
	if got := j.bodies(t); !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("after NACK requeue:false and NACK the journal holds %q", got)
	}
	c.write(frame("ACK", "", "id:"+acks[4], "receipt:m"))
	c.expect("RECEIPT", "receipt-id:m")
	c.Conn.Close()

	auto := h.subscriber(t, "d", "/queue/q")
	for range 2 {
		auto.expect("MESSAGE", "redelivered:true")
	}
	j.waitBodies(t)
}

func TestLoadedPersistentMessagesWaitInOrderForALaterConsumer(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j})
	p := h.connect(t, "p")
	for i := range 5 {
		p.write(frame("SEND", strconv.Itoa(i), "destination:/queue/q", "persistent:true"))
		p.write(frame("SEND", "other "+strconv.Itoa(i), "destination:/queue/other", "persistent:true"))
		p.write(frame("SEND", "memory", "destination:/queue/q"))
	}
	p.write(frame("DISCONNECT", "", "receipt:bye"))
	p.expect("RECEIPT", "receipt-id:bye")

	again := newHarness(t, Options{Journal: j})
	c := again.subscriber(t, "c", "/queue/q", "ack:client")
	var last string
	for i := range 5 {
		f := c.expect("MESSAGE", "persistent:true")
		if string(f.Body) != strconv.Itoa(i) {
			t.Fatalf("message %d after a restart: %q", i, f.Body)
		}
		last = f.Value("ack")
	}
	c.expectNothing(100 * time.Millisecond)
	c.write(frame("ACK", "", "id:"+last, "receipt:a"))
	c.expect("RECEIPT", "receipt-id:a")
	j.waitBodies(t, "other 0", "other 1", "other 2", "other 3", "other 4")
}

func TestJournalFailureIsAnErrorCountedAndPassing(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j})
	j.setFail(errors.New("disk on fire"))
	p := h.connect(t, "p")
	p.write(frame("SEND", "lost", "destination:/queue/q", "persistent:true", "receipt:r"))
	p.expectError(CodeUnavailable, "was not stored")
	if n := value(t, h.m.MessagesDropped.WithLabelValues("not_stored")); n != 1 {
		t.Errorf("dropped not_stored = %v, want 1", n)
	}
	if n := value(t, h.m.QueueDepth); n != 0 {
		t.Errorf("queue depth %v after a failed store, want 0", n)
	}

	j.setFail(nil)
	p = h.connect(t, "p")
	p.write(frame("SEND", "kept", "destination:/queue/q", "persistent:true", "receipt:r"))
	p.expect("RECEIPT", "receipt-id:r")
	c := h.subscriber(t, "c", "/queue/q")
	if f := c.expect("MESSAGE"); string(f.Body) != "kept" {
		t.Errorf("after the disk recovered: %q", f.Body)
	}
	j.waitBodies(t)
}

func TestPersistentMessagesAreBoundedLikeTheOthers(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j, MaxQueueLength: 2})
	p := h.connect(t, "p")
	p.write(frame("SEND", "a", "destination:/queue/q", "persistent:true"))
	p.write(frame("SEND", "b", "destination:/queue/q"))
	p.write(frame("SEND", "c", "destination:/queue/q", "persistent:true", "receipt:r"))
	p.expectError(CodeLimitExceeded, "full")
	j.waitBodies(t, "a")
}

// TestPersistentMessageNoConsumerCanCarryLeavesTheJournal: a persistent
// message dropped because its queue's only consumer (SockJS, text only)
// cannot carry it is removed from the Journal too, so that it does not
// come back after a restart.
func TestPersistentMessageNoConsumerCanCarryLeavesTheJournal(t *testing.T) {
	j := newMemJournal(t)
	h := newHarness(t, Options{Journal: j})
	c, _ := connectSockJS(t, h.sockjsServer(t), "")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/queue/bin", "receipt:s"))
	c.expect("RECEIPT")
	p := h.connect(t, "p")
	p.write(frame("SEND", "\xff\xfe", "destination:/queue/bin", "persistent:true"))
	p.write(frame("SEND", "text", "destination:/queue/bin", "persistent:true", "receipt:r"))
	p.expect("RECEIPT", "receipt-id:r")
	expectBodies(c, "text")
	j.waitBodies(t)
}
