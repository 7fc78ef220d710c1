package broker

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// publishSequences publishes perPublisher sequence-numbered messages
// ("<publisher>.<n>") to dest from each of publishers at once, and returns
// when each one's last was acknowledged.
func publishSequences(t *testing.T, publishers []*client, dest string, perPublisher int) {
	var wg sync.WaitGroup
	for p, c := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perPublisher {
				c.Write(frame("SEND", fmt.Sprintf("%d.%d", p, n), "destination:"+dest))
			}
			c.Write(frame("SEND", "", "destination:/topic/elsewhere", "receipt:last"))
			if f, err := c.Next(); err != nil || f.Value("receipt-id") != "last" {
				t.Errorf("publisher %d: want its last RECEIPT, got %v, %v", p, f, err)
			}
		}()
	}
	wg.Wait()
}

// resumeThrough publishes perPublisher messages from each of publishers
// to a topic, while one subscriber reads them through sessions of up to
// every messages each, dropping each session and resuming from its last
// offset: it must end with every message exactly once, in order.
func resumeThrough(t *testing.T, o Options, publishers, perPublisher, every int) {
	h := newHarness(t, o)
	r := &resumer{t: t, h: h, dest: "/topic/seq", next: make(map[string]int)}
	r.session(0) // the topic exists, with its epoch, before anything is published
	var pubs []*client
	for p := range publishers {
		pubs = append(pubs, h.connect(t, "p"+strconv.Itoa(p)))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishSequences(t, pubs, r.dest, perPublisher)
	}()
	for total := publishers * perPublisher; r.got < total; {
		r.session(min(every, total-r.got))
	}
	<-done
}

// resumer reads a topic through subscriptions it drops and resumes, and
// checks every message against the one before. It keeps the epoch and
// offset of the last message it received, as a client would.
type resumer struct {
	t      *testing.T
	h      *harness
	dest   string
	epoch  string
	offset uint64         // the latest offset received
	next   map[string]int // by publisher, the sequence number expected next
	got    int
}

// session subscribes (resuming after r.offset), reads up to n messages,
// then drops the connection without a word.
func (r *resumer) session(n int) {
	c := r.h.connect(r.t, "s")
	headers := []string{"x-stream-offset:offset=" + strconv.FormatUint(r.offset, 10)}
	if r.epoch != "" {
		headers = append(headers, "x-stream-epoch:"+r.epoch)
	}
	recovered, epoch, _ := c.resume(r.dest, headers...)
	if recovered != "true" || r.epoch != "" && epoch != r.epoch {
		r.t.Fatalf("resuming after %d: x-recovered:%s x-stream-epoch:%s (was %s)", r.offset, recovered, epoch, r.epoch)
	}
	for range n {
		f := c.expect("MESSAGE")
		r.take(f.Value("x-stream-offset"), string(f.Body))
		r.epoch = f.Value("x-stream-epoch")
	}
	c.Conn.Close()
}

func (r *resumer) take(offset, body string) {
	if off, _ := strconv.ParseUint(offset, 10, 64); off != r.offset+1 {
		r.t.Fatalf("got offset %s after %d: a gap or a duplicate", offset, r.offset)
	}
	r.offset++
	pub, seq, _ := strings.Cut(body, ".")
	if n, _ := strconv.Atoi(seq); n != r.next[pub] {
		r.t.Fatalf("publisher %s: got %d, want %d", pub, n, r.next[pub])
	}
	r.next[pub]++
	r.got++
}

// TestResumeUnderConcurrentPublishingHasNoGapNoDuplicate drops and resumes
// a subscription every few dozen messages while four publishers publish at
// once: the race between reading the history and joining the live stream.
func TestResumeUnderConcurrentPublishingHasNoGapNoDuplicate(t *testing.T) {
	resumeThrough(t, Options{HistorySize: 10000, MaxHistoryBytes: 64 << 20}, 4, 1000, 37)
}

// TestResumeOf10000MessagesOverTCP drops a subscriber once, mid-stream,
// while 10,000 messages are published: it resumes with its last offset and
// ends with every message once.
func TestResumeOf10000MessagesOverTCP(t *testing.T) {
	resumeThrough(t, Options{HistorySize: 10000, MaxHistoryBytes: 64 << 20}, 1, 10000, 5000)
}
