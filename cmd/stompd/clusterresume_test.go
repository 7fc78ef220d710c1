package main

import (
	"strconv"
	"testing"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestResumeOnAnotherNodeAfterItsNodeIsKilled: while ada publishes 10,000
// sequence-numbered messages through node A, a subscriber on node B (a
// child process) loses B to kill -9 mid-stream, reconnects to node C and
// resumes from the last offset it saw, while the second half is still
// being published: it ends with every number exactly once, in order.
func TestResumeOnAnotherNodeAfterItsNodeIsKilled(t *testing.T) {
	const n = 10_000
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess, inProcess}, "--history-size", strconv.Itoa(n))
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	ada := c.users["ada"]

	sub := b.connectTCP(t, b.login(t, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/topic/seq", "id:1", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s", "x-recovered:true")
	pub := a.connectTCP(t, a.login(t, ada).Access)
	killed := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			if i == n/2 {
				<-killed
			}
			pub.Send(stomp.SEND, strconv.Itoa(i), "destination:/topic/seq")
		}
		pub.Send(stomp.SEND, "end", "destination:/topic/seq", "receipt:end")
	}()

	seen := &sequence{t: t, n: n}
	seen.read(sub, n/4)
	b.kill(t)
	close(killed)
	seen.drain(sub)
	before := seen.next

	resumed := cc.connectTCP(t, cc.login(t, ada).Access)
	resumed.Send(stomp.SUBSCRIBE, "", "destination:/topic/seq", "id:1", "receipt:r",
		"x-stream-offset:offset="+strconv.FormatUint(seen.offset, 10), "x-stream-epoch:"+seen.epoch)
	resumed.Expect(stomp.RECEIPT, "receipt-id:r", "x-recovered:true", "x-stream-epoch:"+seen.epoch)
	seen.read(resumed, n+1)
	<-published
	pub.Expect(stomp.RECEIPT, "receipt-id:end")
	t.Logf("%d messages read on %v before kill -9, %d on %v after resuming", before, b, n+1-before, cc)
}

// sequence checks that messages numbered 0 to n-1, then "end", arrive once
// each and in order, across the subscriptions that read them, and keeps the
// position (epoch and offset) of the last one.
type sequence struct {
	t      *testing.T
	n      int
	next   int  // how many were read; the number expected next
	done   bool // "end" arrived
	epoch  string
	offset uint64
}

// read reads from s until upto messages ("end" included) were read in all.
func (q *sequence) read(s *stomptest.Client, upto int) {
	q.t.Helper()
	for q.next < upto && !q.done {
		f, err := s.Next()
		if err != nil {
			q.t.Fatalf("after %d messages: %v", q.next, err)
		}
		q.take(f)
	}
}

// drain reads what s still delivers until its connection ends.
func (q *sequence) drain(s *stomptest.Client) {
	q.t.Helper()
	for {
		f, err := s.Next()
		if err != nil {
			return
		}
		q.take(f)
	}
}

func (q *sequence) take(f *stomp.Frame) {
	q.t.Helper()
	if f.Command != stomp.MESSAGE {
		q.t.Fatalf("after %d messages: %s, want MESSAGE", q.next, stomptest.Dump(f))
	}
	want := strconv.Itoa(q.next)
	if q.next == q.n {
		want = "end"
	}
	if string(f.Body) != want {
		q.t.Fatalf("message %d is %q: lost, repeated or out of order", q.next, f.Body)
	}
	epoch, _ := f.Get("x-stream-epoch")
	at, _ := f.Get("x-stream-offset")
	offset, err := strconv.ParseUint(string(at), 10, 64)
	if err != nil || len(epoch) == 0 {
		q.t.Fatalf("message %d without its position: %s", q.next, stomptest.Dump(f))
	}
	q.epoch, q.offset = string(epoch), offset
	q.done = want == "end"
	q.next++
}
