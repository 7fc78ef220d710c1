package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// TestSecondSignalForcesExit stalls a graceful shutdown behind a
// subscriber that never reads, and checks that a second SIGINT ends the
// process at once, long before the shutdown grace period would.
func TestSecondSignalForcesExit(t *testing.T) {
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir, "--shutdown-grace", "10m", "--write-timeout", "10m", "--max-pending-bytes", "268435456")
	tok := c.login(t, ada)

	// A subscriber that never reads, and enough messages to fill its socket
	// buffers, so its writer blocks until the write timeout.
	stalled := dialTCP(t, c.stompAddr)
	stalled.connect("Authorization:Bearer " + tok.Access)
	stalled.send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/flood", "receipt:s")
	stalled.expect(stomp.RECEIPT)
	pub := dialTCP(t, c.stompAddr)
	pub.connect("Authorization:Bearer " + tok.Access)
	body := strings.Repeat("x", 1<<20)
	for range 32 {
		pub.send(stomp.SEND, body, "destination:/topic/flood")
	}
	pub.send(stomp.SEND, "", "destination:/topic/flood", "receipt:p")
	pub.expect(stomp.RECEIPT)

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
