package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// stompClient connects to c's STOMP listener as ada.
func (c *child) stompClient(t *testing.T, ada *testUser) *stomptest.Client {
	t.Helper()
	p := stomptest.Dial(t, c.stompAddr)
	p.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	return p
}

// resumeFrom subscribes p to /topic/h with the x-stream headers given and
// returns the RECEIPT.
func resumeFrom(p *stomptest.Client, headers ...string) *stomp.Frame {
	p.Send(stomp.SUBSCRIBE, "", append([]string{"id:h", "destination:/topic/h", "receipt:h"}, headers...)...)
	return p.Expect(stomp.RECEIPT, "receipt-id:h")
}

// stop ends c with sig and waits for it to exit.
func (c *child) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { c.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(childStart):
		t.Fatalf("stompd did not exit after %v", sig)
	}
}

// TestTopicHistoryOutlivesAGracefulRestartOnly publishes to a topic, stops
// the server with SIGTERM and starts it again: a subscriber resumes with
// the same epoch and gets what it missed. Then it kills the server with
// SIGKILL: after that restart the epoch is new and the resume is refused,
// with nothing replayed.
func TestTopicHistoryOutlivesAGracefulRestartOnly(t *testing.T) {
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir)
	p := c.stompClient(t, ada)
	for _, body := range []string{"m1", "m2", "m3"} {
		p.Send(stomp.SEND, body, "destination:/topic/h", "receipt:"+body)
		p.Expect(stomp.RECEIPT)
	}
	epoch := resumeFrom(c.stompClient(t, ada), "x-stream-offset:next").Value("x-stream-epoch")
	c.stop(t, syscall.SIGTERM)

	c = startChild(t, dir)
	s := c.stompClient(t, ada)
	if f := resumeFrom(s, "x-stream-offset:offset=1", "x-stream-epoch:"+epoch); f.Value("x-recovered") != "true" || f.Value("x-stream-offset") != "3" {
		t.Fatalf("after a graceful restart: %s, want x-recovered:true at offset 3", stomptest.Dump(f))
	}
	for i, body := range []string{"m2", "m3"} {
		f := s.Expect(stomp.MESSAGE, "x-stream-epoch:"+epoch)
		if string(f.Body) != body || f.Value("x-stream-offset") != []string{"2", "3"}[i] {
			t.Fatalf("after a graceful restart, replayed %s, want %s at offset %d", stomptest.Dump(f), body, i+2)
		}
	}
	p = c.stompClient(t, ada)
	p.Send(stomp.SEND, "m4", "destination:/topic/h")
	s.Expect(stomp.MESSAGE, "x-stream-offset:4", "x-stream-epoch:"+epoch)
	c.stop(t, syscall.SIGKILL)

	c = startChild(t, dir)
	s = c.stompClient(t, ada)
	f := resumeFrom(s, "x-stream-offset:offset=4", "x-stream-epoch:"+epoch)
	if f.Value("x-recovered") != "false" || f.Value("x-stream-epoch") == epoch || f.Value("x-stream-offset") != "0" {
		t.Fatalf("after kill -9: %s, want x-recovered:false, a new epoch and offset 0", stomptest.Dump(f))
	}
	s.ExpectNothing(100 * time.Millisecond)
}
