package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/metrics"
)

// linkBus is a Bus between brokers in one process: Publish hands a copy
// of the message at once to every other broker that listens on its
// destination, in the order of the calls. It listens on a destination as
// soon as Listen is called, unless held: then only once released, as a
// bus whose subscription is still on its way.
type linkBus struct {
	net  *busNet
	b    *Broker
	mu   sync.Mutex
	want map[string]int // Listen minus Unlisten calls
	sent int            // Publish calls
	up   chan struct{}  // closed while Listen takes effect at once
}

// closed is a closed channel.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// hold makes Listen take effect only once release is called.
func (l *linkBus) hold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = make(chan struct{})
}

func (l *linkBus) release() { close(l.up) }

// busNet is the brokers that linkBuses join.
type busNet struct {
	mu    sync.Mutex
	buses []*linkBus
}

func (n *busNet) join() *linkBus {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := &linkBus{net: n, want: make(map[string]int), up: closed}
	n.buses = append(n.buses, l)
	return l
}

func (l *linkBus) Publish(dest string, msg []byte) {
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	l.net.mu.Lock()
	others := slices.DeleteFunc(slices.Clone(l.net.buses), func(o *linkBus) bool { return o == l })
	l.net.mu.Unlock()
	for _, o := range others {
		if o.listening(dest) {
			if err := o.b.Deliver(slices.Clone(msg)); err != nil {
				panic(err)
			}
		}
	}
}

func (l *linkBus) Listen(dest string) <-chan struct{} { return l.change(dest, 1) }
func (l *linkBus) Unlisten(dest string)               { l.change(dest, -1) }

func (l *linkBus) change(dest string, d int) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[dest] += d
	return l.up
}

func (l *linkBus) listening(dest string) bool {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	select {
	case <-up:
		return l.count(dest) > 0
	default:
		return false
	}
}

func (l *linkBus) count(dest string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.want[dest]
}

func (l *linkBus) published() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

// linked starts n brokers joined by linkBuses.
func linked(t *testing.T, n int, o Options) ([]*harness, []*linkBus) {
	var net busNet
	hs := make([]*harness, n)
	buses := make([]*linkBus, n)
	for i := range hs {
		buses[i] = net.join()
		o.Bus = buses[i]
		hs[i] = newHarness(t, o)
		buses[i].b = hs[i].b
	}
	return hs, buses
}

func TestBusCarriesMessagesToOtherBrokersOnceWithTheirHeaders(t *testing.T) {
	hs, buses := linked(t, 2, Options{})
	local := hs[0].subscriber(t, "local", "/topic/t")
	remote := hs[1].subscriber(t, "remote", "/topic/t")
	alice := hs[1].subscriber(t, "alice", "/user/queue/dm")
	pub := hs[0].connect(t, "pub")
	pub.write(frame("SEND", "a\x00b", "destination:/topic/t", "content-length:3", "content-type:text/odd",
		`x-note:colon\c and\nnewline`, "receipt:r"))
	pub.expect("RECEIPT", "receipt-id:r")
	pub.write(frame("SEND", "hi", "destination:/user/alice/queue/dm", "receipt:r2"))
	pub.expect("RECEIPT", "receipt-id:r2")
	for _, c := range []*client{local, remote} {
		f := c.expect("MESSAGE", "destination:/topic/t", "content-type:text/odd", "x-note:colon: and\nnewline", "content-length:3")
		if string(f.Body) != "a\x00b" {
			t.Errorf("body %q, want %q", f.Body, "a\x00b")
		}
		c.expectNothing(50 * time.Millisecond)
	}
	alice.expect("MESSAGE", "destination:/user/queue/dm")
	if got := [2]int{buses[0].published(), buses[1].published()}; got != [2]int{2, 0} {
		t.Errorf("Publish calls %v, want [2 0]: a delivered message is never published again", got)
	}
}

func TestBrokerListensOnADestinationWhileItHasSubscribers(t *testing.T) {
	hs, buses := linked(t, 1, Options{})
	const dest = "/topic/flap"
	var wg sync.WaitGroup
	for i := range 8 {
		c := hs[0].connect(t, fmt.Sprint("s", i))
		wg.Go(func() { // subscribers come and go at once, racing
			for j := range 30 {
				_, err := c.Conn.Write([]byte(frame("SUBSCRIBE", "", "id:1", "destination:"+dest) +
					frame("UNSUBSCRIBE", "", "id:1", fmt.Sprint("receipt:", j))))
				if err == nil {
					_, err = c.next()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := buses[0].count(dest); n != 0 {
		t.Fatalf("Listen minus Unlisten = %d after every subscriber left, want 0", n)
	}
	c := hs[0].subscriber(t, "last", dest)
	if !buses[0].listening(dest) {
		t.Fatal("not listening with a subscriber")
	}
	c.write(frame("DISCONNECT", "", "receipt:bye"))
	c.expect("RECEIPT")
	for deadline := time.Now().Add(wait); buses[0].listening(dest); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still listening after the last subscriber left")
		}
	}
}

func TestDeliverRefusesWhatIsNotATopicMessage(t *testing.T) {
	hs, _ := linked(t, 1, Options{})
	for _, msg := range []string{
		"",
		"MESSAGE\ndestination:/topic/t\n\nbody", // no NUL
		"SEND\ndestination:/topic/t\n\nbody\x00",
		"MESSAGE\ndestination:/queue/q\n\nbody\x00",
		"MESSAGE\ndestination:/elsewhere\n\nbody\x00",
		"MESSAGE\ndestination:/topic/t\n\nbody\x00MESSAGE\n",
	} {
		if err := hs[0].b.Deliver([]byte(msg)); !errors.Is(err, ErrNotMessage) {
			t.Errorf("Deliver(%q) = %v, want ErrNotMessage", msg, err)
		}
	}
	if got := value(t, hs[0].m.MessagesDropped.WithLabelValues(metrics.DropClusterMalformed)); got != 6 {
		t.Errorf("dropped{reason=cluster_malformed} = %v, want 6", got)
	}
}

func TestSubscribeIsAnsweredOnceTheBusListensAndThenReceivesFromOtherBrokers(t *testing.T) {
	hs, buses := linked(t, 2, Options{})
	const dest = "/topic/later"
	buses[1].hold()
	first, second := hs[1].connect(t, "first"), hs[1].connect(t, "second")
	first.write(frame("SUBSCRIBE", "", "id:1", "destination:"+dest, "receipt:r1"))
	first.expectNothing(50 * time.Millisecond)
	second.write(frame("SUBSCRIBE", "", "id:1", "destination:"+dest, "receipt:r2")) // while the first waits
	second.expectNothing(50 * time.Millisecond)

	buses[1].release()
	first.expect("RECEIPT", "receipt-id:r1")
	second.expect("RECEIPT", "receipt-id:r2")
	pub := hs[0].connect(t, "pub")
	pub.write(frame("SEND", "hi", "destination:"+dest))
	for _, c := range []*client{first, second} {
		c.expect("MESSAGE", "destination:"+dest)
	}
	if n := buses[1].count(dest); n != 1 {
		t.Errorf("Listen minus Unlisten = %d, want 1: the second subscriber waits on the first one's Listen", n)
	}
}

func TestShutdownEndsTheWaitOfASubscribe(t *testing.T) {
	hs, buses := linked(t, 1, Options{})
	buses[0].hold()
	c := hs[0].connect(t, "waiting")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/never", "receipt:r"))
	c.expectNothing(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), ListenWait/2)
	defer cancel()
	if err := hs[0].b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v; a SUBSCRIBE waiting for the Bus holds it up", err)
	}
}

func TestWaitingForTheBusNeverMakesAClientLookSilent(t *testing.T) {
	hs, buses := linked(t, 1, Options{MinHeartBeat: 100 * time.Millisecond})
	buses[0].hold()
	c := hs[0].connect(t, "beating", "heart-beat:300,0")
	c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/held", "receipt:r"))
	c.expect("RECEIPT", "receipt-id:r") // after one interval of the client's, not ListenWait
}
