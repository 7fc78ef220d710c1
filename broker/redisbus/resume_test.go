package redisbus

import (
	"strconv"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// resumer is a subscriber that reconnects now and then and resumes from
// the last offset it received.
type resumer struct {
	t      *testing.T
	n      *node
	dest   string
	c      *stomptest.Client
	epoch  string
	offset string
	got    []int // the bodies received, as numbers
}

// subscribe connects and subscribes, resuming after r's last offset once
// it has one, and checks that the RECEIPT says the history was recovered.
func (r *resumer) subscribe() {
	r.c = r.n.dial(r.t, "resumer")
	headers := []string{"id:1", "destination:" + r.dest, "receipt:sub"}
	if r.offset != "" {
		headers = append(headers, "x-stream-offset:offset="+r.offset, "x-stream-epoch:"+r.epoch)
	}
	r.c.Send(stomp.SUBSCRIBE, "", headers...)
	f := r.c.Expect(stomp.RECEIPT, "receipt-id:sub")
	if r.offset != "" {
		if v, _ := f.Get("x-recovered"); string(v) != "true" {
			r.t.Fatalf("resuming after %s of %s: %s", r.offset, r.epoch, stomptest.Dump(f))
		}
	}
}

// read reads n messages, keeping their bodies and the last offset.
func (r *resumer) read(n int) {
	for range n {
		f := r.c.Expect(stomp.MESSAGE)
		k, err := strconv.Atoi(string(f.Body))
		if err != nil {
			r.t.Fatalf("body %q", f.Body)
		}
		r.got = append(r.got, k)
		offset, _ := f.Get("x-stream-offset")
		epoch, _ := f.Get("x-stream-epoch")
		if r.epoch == "" {
			r.epoch = string(epoch)
		}
		if string(epoch) != r.epoch {
			r.t.Fatalf("message of epoch %s, want %s", epoch, r.epoch)
		}
		r.offset = string(offset)
	}
}

func TestSubscriberResumingOnAnotherNodeGetsEveryMessageOnceWhilePublishingGoesOn(t *testing.T) {
	onRedisAndCluster(t, func(t *testing.T, url string) {
		const total = 10000
		o := Options{HistorySize: total}
		a := startNode(t, url, "a", o)
		b := startNode(t, url, "b", o)
		const dest = "/topic/resume"
		r := &resumer{t: t, n: b, dest: dest}
		r.subscribe()
		pub := a.dial(t, "pub")
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for i := 0; i < total; i += 50 {
				var batch string
				for k := i; k < i+50; k++ {
					batch += stomptest.Frame("SEND", strconv.Itoa(k), "destination:"+dest)
				}
				pub.Write(batch)
				time.Sleep(time.Millisecond)
			}
		}()
		resumes := 0
		for len(r.got) < total {
			r.read(min(700, total-len(r.got)))
			r.c.Conn.Close() // gone without a DISCONNECT
			r.subscribe()
			resumes++
		}
		<-sent
		for i, k := range r.got {
			if k != i {
				t.Fatalf("message %d is %d: want every number once, in order", i, k)
			}
		}
		r.c.ExpectNothing(100 * time.Millisecond)
		t.Logf("%d messages, %d resumes", total, resumes)
	})
}

func TestTopicWithHistoryKeepsItsLocalFanOutWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	const dest = "/topic/down"
	sub := a.dial(t, "sub")
	subscribe(sub, "1", dest)
	pub := a.dial(t, "pub")
	pub.Send(stomp.SEND, "up", "destination:"+dest)
	if f := sub.Expect(stomp.MESSAGE, "x-stream-offset:1"); string(f.Body) != "up" {
		t.Fatalf("got %q", f.Body)
	}

	srv.Kill()
	pub.Send(stomp.SEND, "down", "destination:"+dest)
	f := sub.Expect(stomp.MESSAGE)
	if _, numbered := f.Get("x-stream-offset"); string(f.Body) != "down" || numbered {
		t.Fatalf("with Redis down: %s, want the message without an offset", stomptest.Dump(f))
	}
	if d := a.dropped(metrics.DropClusterUnavailable); d != 0 {
		t.Errorf("%v counted as dropped (cluster_unavailable), want 0: it waits in the outbox", d)
	}
}

func TestLiveSubscriberTakesTheNewEpochAfterRedisLostItsData(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, srv.URL(), "a", Options{HistorySize: 100})
	b := startNode(t, srv.URL(), "b", Options{HistorySize: 100})
	const dest = "/topic/epochs"
	sub := b.dial(t, "sub")
	subscribe(sub, "1", dest)
	pub := a.dial(t, "pub")
	publishSequence(pub, dest, 5)
	if err := receiveSequence(sub, 5); err != nil {
		t.Fatal(err)
	}
	old := sub.Expect(stomp.MESSAGE, "x-stream-offset:6") // "end"
	epoch, _ := old.Get("x-stream-epoch")

	srv.Restart() // without its data
	waitFor(t, "b listening again", func() bool { return listening(t, srv, dest) })
	sub.Timeout = 200 * time.Millisecond
	var f *stomp.Frame
	waitFor(t, "a message after the restart", func() bool {
		pub.Send(stomp.SEND, "after", "destination:"+dest) // the first may meet a's broken connection
		var err error
		f, err = sub.Next()
		return err == nil
	})
	if e, _ := f.Get("x-stream-epoch"); string(f.Body) != "after" || string(e) == string(epoch) {
		t.Fatalf("after the restart: %s, want a message of a new epoch", stomptest.Dump(f))
	}
	if o, _ := f.Get("x-stream-offset"); string(o) != "1" {
		t.Fatalf("after the restart: %s, want offset 1, the new epoch's first: none passed over", stomptest.Dump(f))
	}
}
