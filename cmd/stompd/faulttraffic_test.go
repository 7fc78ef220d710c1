//go:build faults

package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// faultTraffic is the traffic of the cluster fault scenario, on a
// faultCluster: topic publishers and resuming subscribers spread over the
// nodes, persistent queue producers and acking consumers. Every client
// reconnects to a live node when its connection fails; every queue SEND
// and every faultReceiptEvery-th topic SEND asks a RECEIPT, which confirms
// the SENDs of its connection before it too, and the ledger keeps what was
// sent, receipted and delivered, by the phase under way when it was sent.
type faultTraffic struct {
	t      *testing.T
	c      *faultCluster
	phase  *atomic.Int32
	access string
	sends  chan struct{} // closed to stop the publishers and producers
	reads  chan struct{} // closed to stop the subscribers and consumers
	sendWG sync.WaitGroup
	readWG sync.WaitGroup

	mu      sync.Mutex
	topics  [][]sent            // by topic, by number
	subs    []*faultSub         // every topic subscriber
	queue   []sent              // by number
	queued  map[int]int         // a queue message's deliveries, by number
	acked   map[int]bool        // queue messages whose ACK was receipted
	qdups   []int               // queue messages delivered after their ACK was receipted
	unknown map[string]struct{} // frames the ledger could not place
}

// sent is a message sent: the phase under way and whether its RECEIPT
// came.
type sent struct {
	phase     int
	at        time.Time
	receipted bool
}

// faultSub is a topic subscriber: what it received, in order, and where
// its history stands, for resuming after its node died.
type faultSub struct {
	topic, prefer int
	epoch         string
	offset        uint64
	got           map[int]bool
	last          int
	dups, reorder []int // numbers received twice, and out of order
	resumed, lost int   // resumes, and those answered x-recovered:false
}

// Traffic shape: topics with one publisher each, a subscriber of each on
// every node, queue producers and consumers; a pause between sends.
const (
	faultTopics    = 2
	faultProducers = 2
	faultConsumers = 3
	faultPause     = 2 * time.Millisecond
)

// A topic publisher asks a RECEIPT of every faultReceiptEvery-th message,
// and waits for one at most faultReceiptWait: it comes once Redis kept the
// message and every one before it, which may be once Redis is back.
const (
	faultReceiptEvery = 25
	faultReceiptWait  = 30 * time.Second
)

func newFaultTraffic(t *testing.T, c *faultCluster, phase *atomic.Int32, access string) *faultTraffic {
	return &faultTraffic{
		t: t, c: c, phase: phase, access: access, sends: make(chan struct{}), reads: make(chan struct{}),
		topics: make([][]sent, faultTopics), queued: map[int]int{}, acked: map[int]bool{}, unknown: map[string]struct{}{},
	}
}

// start starts every client; the subscribers and consumers first, each
// subscribed before the publishers start.
func (tr *faultTraffic) start() {
	var subscribed sync.WaitGroup
	for topic := range faultTopics {
		for node := range tr.c.nodes {
			s := &faultSub{topic: topic, prefer: node, got: map[int]bool{}, last: -1}
			tr.subs = append(tr.subs, s)
			subscribed.Add(1)
			tr.keep(&tr.readWG, tr.reads, node, tr.subscriber(s, subscribed.Done))
		}
	}
	for i := range faultConsumers {
		subscribed.Add(1)
		tr.keep(&tr.readWG, tr.reads, i, tr.consumer(subscribed.Done))
	}
	subscribed.Wait()
	for topic := range faultTopics {
		tr.keep(&tr.sendWG, tr.sends, 2-topic, tr.publisher(topic))
	}
	for i := range faultProducers {
		tr.keep(&tr.sendWG, tr.sends, 1+i, tr.producer())
	}
}

// keep runs session on a connection to a live node, node prefer when it
// is up, again after each failure, until stop is closed.
func (tr *faultTraffic) keep(wg *sync.WaitGroup, stop chan struct{}, prefer int, session func(*stomptest.Client, chan struct{}) error) {
	wg.Go(func() {
		for !closed(stop) {
			cl, err := tr.dial(prefer)
			if err == nil {
				err = session(cl, stop)
				cl.Conn.Close()
			}
			if err != nil && !closed(stop) {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// dial connects to a live node, preferring node prefer, with the
// traffic's access token.
func (tr *faultTraffic) dial(prefer int) (*stomptest.Client, error) {
	nc, err := net.DialTimeout("tcp", tr.c.liveAddr(prefer), 2*time.Second)
	if err != nil {
		return nil, err
	}
	cl := stomptest.NewClient(tr.t, nc)
	cl.Timeout = time.Second
	if err := write(cl, stomp.CONNECT, "", "accept-version:1.2", "host:localhost", "Authorization:Bearer "+tr.access); err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := expect(cl, stomp.CONNECTED); err != nil {
		nc.Close()
		return nil, err
	}
	return cl, nil
}

// write sends a frame, returning the error rather than failing the test.
func write(cl *stomptest.Client, cmd stomp.Command, body string, headers ...string) error {
	f := &stomp.Frame{Command: cmd, Body: []byte(body)}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		f.Add(k, v)
	}
	cl.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := cl.Conn.Write(stomp.AppendFrame(nil, f, stomp.V12))
	return err
}

// errFrame is an ERROR frame, or another frame than expected.
var errFrame = errors.New("unexpected frame")

// expect reads the next frame, which must be cmd.
func expect(cl *stomptest.Client, cmd stomp.Command) (*stomp.Frame, error) {
	f, err := cl.Next()
	if err == nil && f.Command != cmd {
		err = fmt.Errorf("%w: %s, want %s", errFrame, stomptest.Dump(f), cmd)
	}
	return f, err
}

// timedOut reports whether err is a read that timed out: a quiet
// connection, not a failed one.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// publisher sends numbered messages to its topic, without waiting,
// every faultReceiptEvery-th with a RECEIPT, which confirms those sent
// before it on the connection, until stop; then one last with a RECEIPT,
// awaited up to faultReceiptWait. Its RECEIPTs are read as they come
// (confirm).
func (tr *faultTraffic) publisher(topic int) func(*stomptest.Client, chan struct{}) error {
	dest := "destination:/topic/faults-" + strconv.Itoa(topic)
	return func(cl *stomptest.Client, stop chan struct{}) error {
		sent := make(chan int, 1<<20) // numbers sent on the connection, in order
		var last atomic.Int64         // the number of the last message, once sent
		last.Store(-1)
		confirmed := make(chan error, 1)
		go func() { confirmed <- tr.confirm(cl, topic, sent, &last) }()
		for i := 1; ; i++ {
			n := tr.note(&tr.topics[topic])
			sent <- n
			end := closed(stop)
			h := []string{dest}
			if end || i%faultReceiptEvery == 0 {
				h = append(h, "receipt:"+strconv.Itoa(n))
			}
			if end {
				last.Store(int64(n))
			}
			if err := write(cl, stomp.SEND, strconv.Itoa(n), h...); err != nil {
				cl.Conn.Close()
				<-confirmed
				return err
			}
			select {
			case err := <-confirmed:
				return err
			default:
			}
			if end {
				return <-confirmed
			}
			time.Sleep(faultPause)
		}
	}
}

// confirm reads the RECEIPTs of a publisher of topic and records the
// messages sent (in order on sent) up to each as receipted, until the
// one of the last message, or an error, or a read without a RECEIPT for
// faultReceiptWait.
func (tr *faultTraffic) confirm(cl *stomptest.Client, topic int, sent chan int, last *atomic.Int64) error {
	quiet := time.Now()
	for {
		f, err := expect(cl, stomp.RECEIPT)
		if timedOut(err) && time.Since(quiet) < faultReceiptWait {
			continue
		}
		if err != nil {
			return err
		}
		quiet = time.Now()
		upto, err := strconv.Atoi(f.Value("receipt-id"))
		if err != nil {
			return fmt.Errorf("%w: %s", errFrame, stomptest.Dump(f))
		}
		var ns []int
		for n := range sent { // sent before its SEND was written
			ns = append(ns, n)
			if n == upto {
				break
			}
		}
		tr.receipted(&tr.topics[topic], ns...)
		if int64(upto) == last.Load() {
			return nil
		}
	}
}

// producer sends persistent numbered messages to the queue, each with a
// RECEIPT awaited, until stop.
func (tr *faultTraffic) producer() func(*stomptest.Client, chan struct{}) error {
	return func(cl *stomptest.Client, stop chan struct{}) error {
		for !closed(stop) {
			n := tr.note(&tr.queue)
			if err := write(cl, stomp.SEND, strconv.Itoa(n), "destination:/queue/faults", "persistent:true", "receipt:q"); err != nil {
				return err
			}
			if _, err := expect(cl, stomp.RECEIPT); err != nil {
				return err
			}
			tr.receipted(&tr.queue, n)
			time.Sleep(faultPause)
		}
		return nil
	}
}

// note records a message about to be sent on list and returns its number.
func (tr *faultTraffic) note(list *[]sent) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	*list = append(*list, sent{phase: int(tr.phase.Load()), at: time.Now()})
	return len(*list) - 1
}

// receipted records the messages ns on list as receipted.
func (tr *faultTraffic) receipted(list *[]sent, ns ...int) {
	tr.mu.Lock()
	for _, n := range ns {
		(*list)[n].receipted = true
	}
	tr.mu.Unlock()
}

// subscriber subscribes s to its topic, resuming after the last offset it
// received when it had one, and records what it receives until stop.
func (tr *faultTraffic) subscriber(s *faultSub, ready func()) func(*stomptest.Client, chan struct{}) error {
	var once sync.Once
	return func(cl *stomptest.Client, stop chan struct{}) error {
		h := []string{"destination:/topic/faults-" + strconv.Itoa(s.topic), "id:1", "receipt:s"}
		resume := s.epoch != ""
		if resume {
			h = append(h, "x-stream-offset:offset="+strconv.FormatUint(s.offset, 10), "x-stream-epoch:"+s.epoch)
		}
		if err := write(cl, stomp.SUBSCRIBE, "", h...); err != nil {
			return err
		}
		f, err := expect(cl, stomp.RECEIPT)
		if err != nil {
			return err
		}
		once.Do(ready)
		if resume {
			tr.resumed(s, f.Value("x-recovered") == "true")
		}
		return readUntil(cl, stop, func(f *stomp.Frame) error {
			if f.Command != stomp.MESSAGE {
				return fmt.Errorf("%w: %s", errFrame, stomptest.Dump(f))
			}
			tr.received(s, f)
			return nil
		})
	}
}

// readUntil hands handle each frame cl reads until stop is closed, passing
// over read timeouts, and returns the first error.
func readUntil(cl *stomptest.Client, stop chan struct{}, handle func(*stomp.Frame) error) error {
	for !closed(stop) {
		f, err := cl.Next()
		switch {
		case timedOut(err):
			continue
		case err == nil:
			err = handle(f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// resumed records a resume of s.
func (tr *faultTraffic) resumed(s *faultSub, recovered bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s.resumed++
	if !recovered {
		s.lost++
	}
}

// received records a MESSAGE of s's topic.
func (tr *faultTraffic) received(s *faultSub, f *stomp.Frame) {
	n, err := strconv.Atoi(string(f.Body))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		tr.unknown[string(f.Body)] = struct{}{}
		return
	}
	if o, err := strconv.ParseUint(f.Value("x-stream-offset"), 10, 64); err == nil {
		s.epoch, s.offset = f.Value("x-stream-epoch"), o
	}
	switch {
	case s.got[n]:
		s.dups = append(s.dups, n)
	case n < s.last:
		s.reorder = append(s.reorder, n)
	}
	s.got[n], s.last = true, max(s.last, n)
}

// consumer consumes the queue in client-individual mode, acking each
// message with a RECEIPT, until stop.
func (tr *faultTraffic) consumer(ready func()) func(*stomptest.Client, chan struct{}) error {
	var once sync.Once
	return func(cl *stomptest.Client, stop chan struct{}) error {
		if err := write(cl, stomp.SUBSCRIBE, "", "destination:/queue/faults", "id:1", "ack:client-individual", "prefetch-count:20", "receipt:s"); err != nil {
			return err
		}
		if _, err := expect(cl, stomp.RECEIPT); err != nil {
			return err
		}
		once.Do(ready)
		return readUntil(cl, stop, func(f *stomp.Frame) error {
			switch f.Command {
			case stomp.MESSAGE:
				return tr.consume(cl, f)
			case stomp.RECEIPT:
				tr.ackReceipted(f.Value("receipt-id"))
				return nil
			}
			return fmt.Errorf("%w: %s", errFrame, stomptest.Dump(f))
		})
	}
}

// consume records a queue delivery and acks it, asking a RECEIPT.
func (tr *faultTraffic) consume(cl *stomptest.Client, f *stomp.Frame) error {
	n, err := strconv.Atoi(string(f.Body))
	tr.mu.Lock()
	switch {
	case err != nil:
		tr.unknown[string(f.Body)] = struct{}{}
	case tr.acked[n]:
		tr.qdups = append(tr.qdups, n)
	}
	tr.queued[n]++
	tr.mu.Unlock()
	return write(cl, stomp.ACK, "", "id:"+f.Value("ack"), "receipt:"+string(f.Body))
}

// ackReceipted records the ACK of queue message id as taken.
func (tr *faultTraffic) ackReceipted(id string) {
	n, err := strconv.Atoi(id)
	if err != nil {
		return // a SUBSCRIBE's
	}
	tr.mu.Lock()
	tr.acked[n] = true
	tr.mu.Unlock()
}

// settled reports whether every topic subscriber received the last
// receipted message of its topic and every receipted queue message was
// acked.
func (tr *faultTraffic) settled() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range tr.subs {
		msgs := tr.topics[s.topic]
		for n := len(msgs) - 1; n >= 0; n-- {
			if msgs[n].receipted {
				if !s.got[n] {
					return false
				}
				break
			}
		}
	}
	for n, m := range tr.queue {
		if m.receipted && !tr.acked[n] {
			return false
		}
	}
	return true
}

// stop stops the senders, waits up to drain for what was receipted to
// settle, and stops the readers.
func (tr *faultTraffic) stop(drain time.Duration) {
	close(tr.sends)
	tr.sendWG.Wait()
	deadline := time.Now().Add(drain)
	for !tr.settled() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	close(tr.reads)
	tr.readWG.Wait()
}
