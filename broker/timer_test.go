package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestTimerNotStartedAfterSessionEnded replays Shutdown ending a session
// between accept's track and the start of its serve goroutine: the writer's
// last run stops a timer that does not exist yet, and serve must not start
// one that nothing would ever stop.
func TestTimerNotStartedAfterSessionEnded(t *testing.T) {
	b := anonymousBroker(Options{})
	b.tickMax = 5 * time.Millisecond
	srv, cli := net.Pipe()
	defer cli.Close()
	go io.Copy(io.Discard, cli)
	c := b.newConn(&tcpTransport{nc: srv}, transportTCP, "127.0.0.1:1", "")
	if !b.track(c) {
		t.Fatal("track refused the connection")
	}
	c.fail(&frameError{code: CodeServerShutdown, message: "server shutting down"}, nil) // as Shutdown does
	<-c.writerDone
	c.serve() // the goroutine accept started, running late
	c.timerMu.Lock()
	armed := c.timer != nil
	c.timerMu.Unlock()
	if armed {
		t.Fatal("serve started a timer for a session that had ended")
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
