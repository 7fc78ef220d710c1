package redisbus

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
)

// TestBacklogAfterOutageReachesEveryNode sends 20,000 messages over 1,000
// topics on node a while Redis is down: a's own subscribers get them at
// once, and once Redis is back node b, which listens to every topic, gets
// every one, numbered, in order per topic. It logs how long that took
// after Redis came back; it asserts nothing on time but the generous wait.
func TestBacklogAfterOutageReachesEveryNode(t *testing.T) {
	const topics, perTopic = 1000, 20
	srv := redistest.Start(t)
	o := Options{HistorySize: 100}
	a, local := startBus(t, srv.URL(), "a", o)
	var warned logCount
	o.Logger = slog.New(&warned)
	b, remote := startBus(t, srv.URL(), "b", o)
	dests := make([]string, topics)
	for i := range dests {
		dests[i] = "/topic/backlog-" + strconv.Itoa(i)
		listen(t, a, dests[i])
		listen(t, b, dests[i])
	}
	srv.Kill()
	for n := range perTopic {
		for _, dest := range dests {
			a.Append(dest, []byte(dest+" "+strconv.Itoa(n)), nil)
		}
	}
	waitFor(t, "local delivery of the backlog", func() bool { return len(local.delivered()) == topics*perTopic })
	srv.Restart()
	back := time.Now()
	waitFor(t, "the backlog on the other node", func() bool { return len(remote.numbered()) >= topics*perTopic })
	t.Logf("%d messages over %d topics reached the other node %v after Redis came back; %d catch-ups let held messages go",
		topics*perTopic, topics, time.Since(back).Round(time.Millisecond), warned.count("passed MaxHeld"))
	next := make(map[string]int)
	for _, m := range remote.numbered() {
		dest := m.msg[:strings.LastIndexByte(m.msg, ' ')]
		if want := dest + " " + strconv.Itoa(next[dest]); m.msg != want {
			t.Fatalf("the other node got %q, want %q", m.msg, want)
		}
		next[dest]++
	}
	if got := len(remote.numbered()); got != topics*perTopic {
		t.Fatalf("the other node got %d messages, want %d", got, topics*perTopic)
	}
}
