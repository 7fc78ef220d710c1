package redisqueue_test

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/broker/redisqueue"
	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// BenchmarkQueueAcrossNodes measures a queue between two nodes on one
// Redis: a producer on node A sends b.N messages (the last asks for a
// RECEIPT), a consumer on node B takes them all. It reports messages per
// second end to end and the Redis commands each message cost.
func BenchmarkQueueAcrossNodes(b *testing.B) {
	srv := redistest.Start(b)
	for _, ack := range []string{"auto", "client-individual"} {
		for _, size := range []int{100, 1024} {
			b.Run(fmt.Sprintf("ack=%s/%dB", ack, size), func(b *testing.B) {
				benchQueue(b, srv, ack, size)
			})
		}
	}
}

func benchQueue(b *testing.B, srv *redistest.Server, ack string, size int) {
	f := newFleet(b, srv.URL())
	na, nb := f.start(redisqueue.Options{}), f.start(redisqueue.Options{})
	dest := "/queue/bench-" + strconv.Itoa(b.N)
	c := nb.dial(b)
	subscribe(b, c, "1", dest, "ack:"+ack)
	got := make(chan error, 1)
	go func() { got <- drain(c, b.N, ack != "auto") }()
	p := na.dial(b)
	before := commands(b, srv)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	produce(b, p, dest, size, b.N)
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(commands(b, srv)-before)/float64(b.N), "redis-cmds/msg")
}

// produce sends n messages of size bytes to dest, 64 frames per write, the
// last asking for a RECEIPT, which it waits for.
func produce(b *testing.B, p *stomptest.Client, dest string, size, n int) {
	body := strings.Repeat("x", size)
	one := stomptest.Frame("SEND", body, "destination:"+dest)
	var buf bytes.Buffer
	for i := range n - 1 {
		buf.WriteString(one)
		if i%64 == 63 {
			p.Write(buf.String())
			buf.Reset()
		}
	}
	buf.WriteString(stomptest.Frame("SEND", body, "destination:"+dest, "receipt:last"))
	p.Write(buf.String())
	p.Timeout = time.Minute
	p.Expect(stomp.RECEIPT, "receipt-id:last")
}

// drain reads n MESSAGE frames from c, acknowledging each when ack is set.
func drain(c *stomptest.Client, n int, ack bool) error {
	c.Timeout = time.Minute
	for range n {
		f, err := c.Next()
		if err != nil {
			return err
		}
		if f.Command != stomp.MESSAGE {
			return fmt.Errorf("got %s", stomptest.Dump(f))
		}
		if ack {
			if _, err := c.Conn.Write([]byte(stomptest.Frame("ACK", "", "id:"+f.Value("ack")))); err != nil {
				return err
			}
		}
	}
	return nil
}

// scripted are the commands this package runs only inside its scripts.
var scripted = []string{"xadd", "xlen", "exists", "xack", "xdel", "xrange"}

// commands is how many commands the nodes sent srv, from INFO
// commandstats: a script counts once, not the commands it runs.
func commands(b *testing.B, srv *redistest.Server) int {
	s, err := srv.Do("INFO", "commandstats")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":calls=")
		name = strings.TrimPrefix(name, "cmdstat_")
		if ok && name != "info" && !slices.Contains(scripted, name) {
			calls, _, _ := strings.Cut(rest, ",")
			k, _ := strconv.Atoi(calls)
			n += k
		}
	}
	return n
}
