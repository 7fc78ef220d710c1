package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"testing/synctest"
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

// pipeSession serves one connection of a broker made with o over net.Pipe,
// for the tests below, which run in a synctest bubble: time there is fake,
// and moves once every goroutine of the bubble is blocked, which a
// goroutine blocked on a pipe is and one blocked on a socket is not. The
// broker shuts down when the test ends.
func pipeSession(t *testing.T, o Options) (*conn, *client) {
	t.Helper()
	b := anonymousBroker(o)
	srv, cli := net.Pipe()
	c := b.newConn(&tcpTransport{nc: srv}, transportTCP, "127.0.0.1:1", "")
	if !b.track(c) {
		t.Fatal("track refused the connection")
	}
	go c.serve()
	t.Cleanup(func() {
		if err := b.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return c, newClient(t, cli)
}

// TestTimerSendsHeartBeats checks that the timer has an idle session sent
// an EOL every agreed interval, late by at most a tick (a quarter of it).
func TestTimerSendsHeartBeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cl := pipeSession(t, Options{})
		cl.write(frame("CONNECT", "", "accept-version:1.2", "heart-beat:0,1000"))
		cl.expect("CONNECTED", "heart-beat:1000,10000")
		last := time.Now()
		for range 3 {
			if b, err := cl.ReadBytes(); err != nil || string(b) != "\n" {
				t.Fatalf("read %q, %v; want a heart-beat", b, err)
			}
			if gap := time.Since(last); gap < time.Second || gap > time.Second+time.Second/4 {
				t.Fatalf("a heart-beat %v after the last write, want 1s to 1.25s", gap)
			}
			last = time.Now()
		}
	})
}

// TestTimerCutsSilentClient checks that a client that promised a heart-beat
// every second stays connected while it sends one every 1.5 s, and is cut
// once silent for more than twice the interval, within a tick.
func TestTimerCutsSilentClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cl := pipeSession(t, Options{})
		cl.write(frame("CONNECT", "", "accept-version:1.2", "heart-beat:1000,0"))
		cl.expect("CONNECTED", "heart-beat:10000,1000")
		for range 5 {
			time.Sleep(1500 * time.Millisecond)
			cl.write("\n")
		}
		cl.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:alive"))
		cl.expect("RECEIPT", "receipt-id:alive")
		silent := time.Now()
		cl.expectClosed()
		if d := time.Since(silent); d <= 2*time.Second || d > 2*time.Second+time.Second/4 {
			t.Fatalf("cut after %v of silence, want more than 2s and at most 2.25s", d)
		}
	})
}

// TestTimerEndsExpiredSession checks that a silent session is sent ERROR
// token-expired and closed at its identity's deadline, within a tick, and
// not before.
func TestTimerEndsExpiredSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		expires := time.Now().Add(90 * time.Second)
		hooks := &testHooks{connect: func(Request) (Identity, error) {
			return Identity{Subject: "alice", Expires: expires}, nil
		}}
		c, cl := pipeSession(t, Options{Authorizer: hooks})
		cl.write(frame("CONNECT", "", "accept-version:1.2"))
		cl.expect("CONNECTED")
		time.Sleep(time.Until(expires) - time.Nanosecond)
		synctest.Wait()
		if c.closing.Load() {
			t.Fatal("the session ended before its deadline")
		}
		cl.expectError(CodeTokenExpired, "token expired")
		if late := time.Since(expires); late > c.b.tickMax {
			t.Fatalf("ended %v after the deadline, want at most %v", late, c.b.tickMax)
		}
	})
}

// TestTimerRetiresParkedWriter checks a writer run's life on a session
// without deadlines: a run needed again at once parks rather than ends, the
// timer's first tick after it wrote leaves it parked, the next one (nothing
// written for a whole tick) ends it, and a later frame starts a new run.
func TestTimerRetiresParkedWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cl := pipeSession(t, Options{})
		cl.write(frame("CONNECT", "", "accept-version:1.2"))
		cl.expect("CONNECTED")
		cl.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:1"))
		cl.expect("RECEIPT", "receipt-id:1")
		expectWriter := func(want writerState) {
			t.Helper()
			synctest.Wait()
			if got := stateOf(&c.out); got != want {
				t.Fatalf("at %v: the writer is %s, want %s", time.Since(c.opened), got, want)
			}
		}
		expectWriter(parked)
		tick := c.tickPeriod()
		time.Sleep(tick + time.Millisecond)
		expectWriter(parked)
		time.Sleep(tick)
		expectWriter(idle)
		cl.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:2"))
		cl.expect("RECEIPT", "receipt-id:2")
	})
}
