package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/redistest"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// sendPersistent sends n persistent messages "p<i>" to dest, each asking
// for a RECEIPT, with a non-persistent "m<i>" after every tenth, and waits
// for all the RECEIPTs.
func sendPersistent(t *testing.T, p *stomptest.Client, dest string, n int) {
	t.Helper()
	for i := range n {
		p.Send(stomp.SEND, "p"+strconv.Itoa(i), "destination:"+dest, "persistent:true", "receipt:"+strconv.Itoa(i))
		if i%10 == 0 {
			p.Send(stomp.SEND, "m"+strconv.Itoa(i), "destination:"+dest)
		}
	}
	for i := range n {
		p.Expect(stomp.RECEIPT, "receipt-id:"+strconv.Itoa(i))
	}
}

// receiveAll reads n messages, checks that they are "p0" to "p<n-1>" each
// once, and returns their ack ids in the order received.
func receiveAll(t *testing.T, c *stomptest.Client, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	acks := make([]string, 0, n)
	for range n {
		f := c.Expect(stomp.MESSAGE)
		body := string(f.Body)
		if !strings.HasPrefix(body, "p") || seen[body] {
			t.Fatalf("received %q: want each persistent message once, and no other", body)
		}
		seen[body] = true
		acks = append(acks, f.Value("ack"))
	}
	return acks
}

func killChild(t *testing.T, c *child) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// TestPersistentMessagesSurviveKill9: a server killed right after the
// RECEIPTs of 1,000 persistent SENDs (mixed with non-persistent ones)
// delivers each persistent one exactly once after a restart, and none of
// the others; after a second kill only the messages left unacknowledged
// come back.
func TestPersistentMessagesSurviveKill9(t *testing.T) {
	const n, acked = 1000, 600
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir)
	p := stomptest.Dial(t, c.stompAddr)
	p.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	sendPersistent(t, p, "/queue/durable", n)
	killChild(t, c)

	c = startChild(t, dir)
	sub := stomptest.Dial(t, c.stompAddr)
	sub.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/durable", "id:1", "ack:client-individual", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s")
	acks := receiveAll(t, sub, n)
	sub.ExpectNothing(200 * time.Millisecond)
	for i, id := range acks[:acked] {
		h := []string{"id:" + id}
		if i == acked-1 {
			h = append(h, "receipt:a")
		}
		sub.Send(stomp.ACK, "", h...)
	}
	sub.Expect(stomp.RECEIPT, "receipt-id:a")
	killChild(t, c)

	c = startChild(t, dir)
	sub = stomptest.Dial(t, c.stompAddr)
	sub.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/durable", "id:1", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s")
	receiveAll(t, sub, n-acked)
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestPersistentMessagesOfAKilledNodeReachAnotherNode: on two nodes of one
// Redis, 1,000 persistent SENDs acknowledged by node A's RECEIPTs all
// reach a consumer on node B exactly once after A is killed, those that
// A's own consumer held unacknowledged included (reclaimed from the dead
// node); in Redis every queue message is stored, so the non-persistent
// ones sent among them arrive too.
func TestPersistentMessagesOfAKilledNodeReachAnotherNode(t *testing.T) {
	const n = 1000
	r := redistest.Start(t)
	c := startCluster(t, r.URL(), []nodeKind{childProcess, inProcess})
	a, b := c.nodes[0], c.nodes[1]
	ada := c.users["ada"]
	held := a.connectTCP(t, a.login(t, ada).Access)
	held.Send(stomp.SUBSCRIBE, "", "destination:/queue/durable", "id:1", "ack:client", "prefetch-count:10", "receipt:s")
	held.Expect(stomp.RECEIPT, "receipt-id:s")
	sendPersistent(t, a.connectTCP(t, a.login(t, ada).Access), "/queue/durable", n)
	for range 10 {
		held.Expect(stomp.MESSAGE)
	}
	a.kill(t)
	killed := time.Now()

	sub := b.connectTCP(t, b.login(t, ada).Access)
	sub.Timeout = 30 * time.Second
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/durable", "id:1", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s")
	seen := map[string]bool{}
	for len(seen) < n+n/10 { // in Redis, the others are stored too
		f := sub.Expect(stomp.MESSAGE)
		body := string(f.Body)
		if seen[body] {
			t.Fatalf("%q received twice", body)
		}
		seen[body] = true
	}
	t.Logf("all %d messages received on node B %v after node A was killed", len(seen), time.Since(killed).Round(time.Millisecond))
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestConcurrentPersistentSendsShareCommits: the persistent SENDs of many
// connections at once are stored in fewer transactions than messages
// (group commit), as the journal metrics show.
func TestConcurrentPersistentSendsShareCommits(t *testing.T) {
	const senders, each = 20, 50
	ts := startServer(t)
	access := ts.login(t, "ada").Access
	var wg sync.WaitGroup
	for w := range senders {
		p := ts.connectTCP(t, access)
		wg.Go(func() {
			for i := range each {
				p.Send(stomp.SEND, fmt.Sprint(w, "/", i), "destination:/queue/many", "persistent:true")
			}
			p.Send(stomp.SEND, "", "destination:/sys/auth/refresh", "Authorization:Bearer "+access, "receipt:done")
			p.Expect(stomp.RECEIPT, "receipt-id:done")
		})
	}
	wg.Wait()
	m := metricsText(t, ts.url)
	if got := sampleValue(m, "stompd_journal_commit_messages_sum"); got != strconv.Itoa(senders*each) {
		t.Errorf("journal messages committed: %s, want %d", got, senders*each)
	}
	commits, _ := strconv.Atoi(sampleValue(m, "stompd_journal_commits_total"))
	t.Logf("%d messages of %d connections in %d commits", senders*each, senders, commits)
	if commits == 0 || commits >= senders*each {
		t.Errorf("%d commits for %d messages: want fewer commits than messages", commits, senders*each)
	}
}

// TestPersistentSendToAClosedStoreIsAnError: when the store cannot be
// written, a persistent SEND gets an ERROR (code unavailable) instead of
// its RECEIPT, counted as a journal error and a dropped message.
func TestPersistentSendToAClosedStoreIsAnError(t *testing.T) {
	ts := startServer(t)
	p := ts.connectTCP(t, ts.login(t, "ada").Access)
	if err := ts.store.Close(); err != nil {
		t.Fatal(err)
	}
	p.Send(stomp.SEND, "lost", "destination:/queue/q", "persistent:true", "receipt:r")
	p.ExpectError("unavailable", "was not stored")
	m := metricsText(t, ts.url)
	for series, want := range map[string]string{
		"stompd_journal_errors_total":                        "1",
		`stompd_messages_dropped_total{reason="not_stored"}`: "1",
	} {
		if got := sampleValue(m, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
}

// TestPersistentMessagesSurviveAGracefulRestart: after SIGTERM and a
// restart, persistent messages are delivered in the order they were sent.
func TestPersistentMessagesSurviveAGracefulRestart(t *testing.T) {
	dir, ada := dataDirWithUser(t)
	c := startChild(t, dir)
	p := stomptest.Dial(t, c.stompAddr)
	p.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	sendPersistent(t, p, "/queue/durable", 100)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()

	c = startChild(t, dir)
	sub := stomptest.Dial(t, c.stompAddr)
	sub.Connect("Authorization:Bearer " + login(t, c.url, ada).Access)
	sub.Send(stomp.SUBSCRIBE, "", "destination:/queue/durable", "id:1", "receipt:s")
	sub.Expect(stomp.RECEIPT, "receipt-id:s")
	for i := range 100 {
		if f := sub.Expect(stomp.MESSAGE, "persistent:true"); string(f.Body) != "p"+strconv.Itoa(i) {
			t.Fatalf("message %d after a restart: %q", i, f.Body)
		}
	}
	sub.ExpectNothing(200 * time.Millisecond)
}
