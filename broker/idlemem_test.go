package broker

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp/stomptest"
)

// idleConns is how many idle connections TestIdleConnMemory opens: enough
// for what each holds to dwarf the broker's fixed costs.
const idleConns = 2000

// maxIdleConnBytes bounds what TestIdleConnMemory may find an idle TCP
// connection holding, in live heap and goroutine stacks, its own topic
// (with one message of history) and the test's end of the socket
// included. Measured at about 11 KiB (4 to 5 of it the reader's stack);
// generous, so that runtime versions and layouts do not make the test
// fail, while one more buffer or goroutine per idle connection would.
const maxIdleConnBytes = 14 << 10

// TestIdleConnMemory opens idleConns TCP connections as the conns scenario
// of stompbench does (each subscribed to a topic of its own, which then
// receives one message), lets them go idle, and measures the live heap and
// stacks they hold: the part of the broker's RSS per connection that it
// controls.
func TestIdleConnMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens thousands of connections; the race detector's shadow memory distorts the count")
	}
	h := newHarness(t, Options{HistorySize: 100})
	pub := h.connect(t, "pub")
	base := liveBytes(runtime.NumGoroutine())
	conns := make([]net.Conn, idleConns)
	for i := range conns {
		conns[i] = idleSubscriber(t, h.addr, i)
	}
	for i := range conns {
		pub.write(frame("SEND", "hello", fmt.Sprintf("destination:/topic/idle.%d", i)))
	}
	for _, nc := range conns {
		readFrames(t, nc, 1) // the MESSAGE
	}
	waitGoroutines(t, base.goroutines+idleConns)
	per := (liveBytes(0).bytes - base.bytes) / idleConns
	t.Logf("%d idle TCP connections: %.2f KiB each (live heap and stacks)", idleConns, float64(per)/1024)
	if per > maxIdleConnBytes {
		t.Errorf("an idle connection holds %d bytes, want at most %d", per, maxIdleConnBytes)
	}
}

// live is what the process holds after a collection.
type live struct {
	bytes      int64 // live heap plus goroutine stacks
	goroutines int
}

func liveBytes(goroutines int) live {
	runtime.GC()
	runtime.GC() // the first may leave objects that finalizers freed
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return live{int64(ms.HeapAlloc + ms.StackInuse), goroutines}
}

// waitGoroutines waits until the writers of the idle connections ended,
// leaving at most want goroutines, or until the test's bound.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("goroutines: %d, of which %d before the idle connections", runtime.NumGoroutine(), want-idleConns)
}

// idleSubscriber opens a raw connection that subscribes to /topic/idle.i
// and waits for its receipt. It holds no goroutine or buffer of its own.
func idleSubscriber(t *testing.T, addr string, i int) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	raw := frame("CONNECT", "", "accept-version:1.2", "host:test", "login:idle") +
		frame("SUBSCRIBE", "", "id:1", fmt.Sprintf("destination:/topic/idle.%d", i), "receipt:r")
	if _, err := nc.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	readFrames(t, nc, 2) // CONNECTED, RECEIPT
	return nc
}

// readFrames reads from nc until n frames (NULs) arrived.
func readFrames(t *testing.T, nc net.Conn, n int) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(stomptest.Timeout))
	var buf [256]byte
	for n > 0 {
		k, err := nc.Read(buf[:])
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		n -= bytes.Count(buf[:k], []byte{0})
	}
}
