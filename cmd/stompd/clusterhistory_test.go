package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestResumeOnAnotherNodeAfterKill9GetsEverySequenceNumberOnce: a
// subscriber on node B reads part of 10,000 sequence-numbered messages that
// a client of node A publishes meanwhile; B is killed (kill -9), and the
// subscriber resumes on A from the last offset and epoch it received, with
// x-recovered:true, and ends with every number exactly once, in order.
func TestResumeOnAnotherNodeAfterKill9GetsEverySequenceNumberOnce(t *testing.T) {
	const total = 10000
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{inProcess, childProcess}, "--history-size", strconv.Itoa(total))
	a, b := c.nodes[0], c.nodes[1]
	ada := c.users["ada"]
	const dest = "/topic/resume"
	sub := b.connectTCP(t, b.login(t, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:"+dest, "id:1", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s")

	pub := a.connectTCP(t, a.login(t, ada).Access)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; i < total; i += 20 {
			var batch strings.Builder
			for k := i; k < i+20; k++ {
				batch.WriteString(stomptest.Frame("SEND", strconv.Itoa(k), "destination:"+dest))
			}
			pub.Write(batch.String())
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var got []int
	var offset, epoch string
	read := func(c *stomptest.Client, until int) {
		for len(got) < until {
			f := c.Expect(stomp.MESSAGE)
			k, _ := strconv.Atoi(string(f.Body))
			got = append(got, k)
			o, _ := f.Get("x-stream-offset")
			e, _ := f.Get("x-stream-epoch")
			offset, epoch = string(o), string(e)
		}
	}
	read(sub, 2000)
	b.kill(t)
	select {
	case <-sent:
		t.Log("everything was published before the kill: the resume replays the rest")
	default:
	}

	again := a.connectTCP(t, a.login(t, ada).Access)
	again.Send(stomp.SUBSCRIBE, "", "destination:"+dest, "id:1", "receipt:s",
		"x-stream-offset:offset="+offset, "x-stream-epoch:"+epoch)
	again.Expect(stomp.RECEIPT, "receipt-id:s", "x-recovered:true", "x-stream-epoch:"+epoch)
	read(again, total)
	<-sent
	for i, k := range got {
		if k != i {
			t.Fatalf("message %d is %d: want every number once, in order", i, k)
		}
	}
	again.ExpectNothing(200 * time.Millisecond)
}
