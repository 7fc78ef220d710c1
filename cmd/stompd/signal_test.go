package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// TestSecondSignalForcesExit stalls a graceful shutdown behind a
// subscriber that never reads, and checks that a second SIGINT ends the
// process at once, long before the shutdown grace period would.
func TestSecondSignalForcesExit(t *testing.T) {
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir, "--shutdown-grace", "10m", "--write-timeout", "10m", "--max-pending-bytes", "268435456")
	tok := login(t, c.url, ada)

	// A subscriber that never reads, and enough messages to fill its socket
	// buffers, so its writer blocks until the write timeout.
	stalled := stomptest.Dial(t, c.stompAddr)
	stalled.Connect("Authorization:Bearer " + tok.Access)
	stalled.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/flood", "receipt:s")
	stalled.Expect(stomp.RECEIPT)
	pub := stomptest.Dial(t, c.stompAddr)
	pub.Connect("Authorization:Bearer " + tok.Access)
	body := strings.Repeat("x", 1<<20)
	for range 32 {
		pub.Send(stomp.SEND, body, "destination:/topic/flood")
	}
	pub.Send(stomp.SEND, "", "destination:/topic/flood", "receipt:p")
	pub.Expect(stomp.RECEIPT)

	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	c.waitLog(t, "shutting down")
	select {
	case err := <-exited:
		t.Fatalf("the first signal ended the process (%v) although a writer was stalled", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	c.waitLog(t, "second signal, exiting now")
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
	case <-time.After(childStart):
		t.Fatal("the second signal did not end the process")
	}
}
