package broker

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestWriterPoolReusesGoroutines checks that a writer run ends into the
// pool, that the connection's next run takes the goroutine waiting there
// rather than a new one, that a goroutine that waited poolLinger ends, and
// that Shutdown ends those waiting at once.
func TestWriterPoolReusesGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, cl := pipeSession(t, Options{})
		cl.write(frame("CONNECT", "", "accept-version:1.2"))
		cl.expect("CONNECTED")
		synctest.Wait()
		first := idleWriters(c.b)
		if len(first) != 1 {
			t.Fatalf("%d goroutines wait after the first run, want 1", len(first))
		}

		time.Sleep(poolLinger / 2) // past writerLinger: the next run ends too
		cl.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/a", "receipt:r"))
		cl.expect("RECEIPT", "receipt-id:r")
		synctest.Wait()
		if again := idleWriters(c.b); len(again) != 1 || again[0] != first[0] {
			t.Fatalf("after the second run %d goroutines wait, the first among them: %v; want only the first",
				len(again), slices.Contains(again, first[0]))
		}

		time.Sleep(poolLinger)
		synctest.Wait()
		if n := len(idleWriters(c.b)); n != 0 {
			t.Fatalf("%d goroutines still wait %v after their run, want none", n, poolLinger)
		}

		cl.write(frame("SEND", "", "destination:/topic/a"))
		cl.expect("MESSAGE")
		synctest.Wait()
		if err := c.b.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // without moving time: the sweep does not end them
		if n := len(idleWriters(c.b)); n != 0 {
			t.Fatalf("%d goroutines still wait after Shutdown, want none", n)
		}
	})
}

// idleWriters returns the goroutines waiting in b's writer pool.
func idleWriters(b *Broker) []*pooled {
	b.writers.mu.Lock()
	defer b.writers.mu.Unlock()
	return slices.Clone(b.writers.idle)
}
