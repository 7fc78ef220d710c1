package broker

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stompd/stompd/stomp"
)

// topicWith returns a broker whose topic /topic/t has n subscribers, which
// are not connected to anything: only routing is exercised.
func topicWith(n int) *Broker {
	b := anonymousBroker(Options{})
	for range n {
		b.r.subscribe(&subscription{kind: kindTopic, key: "/topic/t"})
	}
	return b
}

// subscribeChurn subscribes one more subscriber to the topic of b and
// unsubscribes it again, rounds times.
func subscribeChurn(b *Broker, rounds int) {
	for range rounds {
		s := &subscription{kind: kindTopic, key: "/topic/t"}
		b.r.subscribe(s)
		b.r.unsubscribe(s)
	}
}

// TestTopicSubscribeCostIsFlat checks that subscribing to a topic and
// unsubscribing again costs the same work however many subscribers the
// topic has, measured in bytes allocated per round (not in time, which the
// shared machine makes noisy): copying the subscriber list on every change
// made a round at 30,000 subscribers allocate 30 times what one at 1,000
// did, and building a topic quadratic.
func TestTopicSubscribeCostIsFlat(t *testing.T) {
	const rounds = 500
	perRound := func(n int) float64 {
		b := topicWith(n)
		subscribeChurn(b, rounds) // settle any growth of the list
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		subscribeChurn(b, rounds)
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(b)
		return float64(after.TotalAlloc-before.TotalAlloc) / rounds
	}
	small, large := perRound(1000), perRound(30000)
	t.Logf("bytes allocated per subscribe and unsubscribe: %.0f at 1,000 subscribers, %.0f at 30,000", small, large)
	// A round allocates its subscription and nothing that grows with the
	// topic: allow a little for what the runtime allocates meanwhile.
	if large > small+256 {
		t.Fatalf("a subscribe and unsubscribe allocates %.0f bytes at 30,000 subscribers, %.0f at 1,000: the work grows with the topic", large, small)
	}
}

// BenchmarkTopicSubscribe subscribes one more subscriber to a topic of
// 1,000, 10,000 and 30,000 and unsubscribes it: ns/op must not grow with
// the topic.
func BenchmarkTopicSubscribe(b *testing.B) {
	for _, n := range []int{1000, 10000, 30000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			br := topicWith(n)
			b.ReportAllocs()
			b.ResetTimer()
			subscribeChurn(br, b.N)
		})
	}
}

// TestTopicChurnWhilePublishing checks the fan-out's reading of a topic's
// list while other subscriptions come and go, growing and shrinking it: a
// subscriber present throughout gets every message once and in order, and
// no subscription gets a message twice.
func TestTopicChurnWhilePublishing(t *testing.T) {
	const dest, stableSubs, messages, rounds, burst = "/topic/churn", 5, 2000, 50, 40
	h := newHarness(t, Options{})
	stable := h.connect(t, "stable")
	for i := range stableSubs {
		stable.write(frame("SUBSCRIBE", "", fmt.Sprintf("id:s%d", i), "destination:"+dest))
	}
	stable.write(frame("SEND", "", "destination:/sys/auth/refresh", "receipt:subscribed"))
	stable.expect("RECEIPT")
	churn, pub := h.connect(t, "churn"), h.connect(t, "pub")
	errs := make(chan error, 2)
	go func() {
		var sb strings.Builder
		for i := range messages {
			sb.WriteString(frame("SEND", strconv.Itoa(i), "destination:"+dest))
		}
		_, err := io.WriteString(pub.Conn, sb.String())
		errs <- err
	}()
	go func() {
		var sb strings.Builder
		for r := range rounds {
			for j := range burst {
				sb.WriteString(frame("SUBSCRIBE", "", fmt.Sprintf("id:c%d-%d", r, j), "destination:"+dest))
			}
			for j := range burst {
				sb.WriteString(frame("UNSUBSCRIBE", "", fmt.Sprintf("id:c%d-%d", r, j)))
			}
		}
		sb.WriteString(frame("DISCONNECT", "", "receipt:bye"))
		_, err := io.WriteString(churn.Conn, sb.String())
		errs <- err
	}()
	seen := make(map[string]bool)
	for f := churn.read(); f.Command != stomp.RECEIPT; f = churn.read() {
		key := f.Value("subscription") + " " + f.Value("message-id")
		if seen[key] {
			t.Fatalf("subscription and message-id %s delivered twice", key)
		}
		seen[key] = true
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	next := make(map[string]int)
	for range stableSubs * messages {
		f := stable.expect("MESSAGE")
		sub := f.Value("subscription")
		if want := strconv.Itoa(next[sub]); string(f.Body) != want {
			t.Fatalf("subscription %s got message %q, want %q", sub, f.Body, want)
		}
		next[sub]++
	}
	t.Logf("the churning subscriptions got %d messages", len(seen))
}
