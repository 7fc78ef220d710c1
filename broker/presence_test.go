package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// presenceBody is a presence MESSAGE's body: a snapshot or an event.
type presenceBody struct {
	Members []Member `json:"members"`
	Event   string   `json:"event"`
	Member
}

// expectPresence reads the next MESSAGE, checks that it is a presence
// MESSAGE of dest, and decodes its body.
func expectPresence(c *client, dest string) presenceBody {
	c.t.Helper()
	f := c.expect("MESSAGE", "destination:"+dest, "content-type:application/json", "subscription:p")
	var b presenceBody
	if err := json.Unmarshal(f.Body, &b); err != nil {
		c.t.Fatalf("presence body %q: %v", f.Body, err)
	}
	return b
}

// expectEvent reads the next presence MESSAGE and checks that it is the
// event ev (join or leave) of sub, shown as name.
func expectEvent(c *client, dest, ev, sub, name string) {
	c.t.Helper()
	b := expectPresence(c, dest)
	if b.Event != ev || b.Sub != sub || b.Name != name {
		c.t.Fatalf("got %+v, want %s of %s (%s)", b, ev, sub, name)
	}
}

// expectSnapshot reads the snapshot and checks it lists want.
func expectSnapshot(c *client, dest string, want ...Member) {
	c.t.Helper()
	b := expectPresence(c, dest)
	if b.Event != "" || b.Members == nil || fmt.Sprint(b.Members) != fmt.Sprint(want) {
		c.t.Fatalf("got %+v, want the snapshot %v", b, want)
	}
}

// watch connects as login and subscribes (id p) to dest's presence,
// checking that the RECEIPT comes first; it returns before the snapshot is
// read.
func (h *harness) watch(t *testing.T, login, dest string) *client {
	t.Helper()
	c := h.connect(t, login)
	c.write(frame("SUBSCRIBE", "", "id:p", "destination:"+dest, "receipt:w"))
	c.expect("RECEIPT", "receipt-id:w")
	return c
}

func TestPresenceSnapshotThenJoinsAndLeaves(t *testing.T) {
	h := newHarness(t, Options{})
	w := h.watch(t, "watcher", "/presence/topic/room")
	expectSnapshot(w, "/presence/topic/room")

	alice := h.subscriber(t, "alice", "/topic/room")
	expectEvent(w, "/presence/topic/room", "join", "alice", "alice")
	h.subscriber(t, "bob", "/topic/room")
	expectEvent(w, "/presence/topic/room", "join", "bob", "bob")
	h.subscriber(t, "carol", "/topic/other")
	alice.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u"))
	alice.expect("RECEIPT", "receipt-id:u")
	expectEvent(w, "/presence/topic/room", "leave", "alice", "alice")

	late := h.watch(t, "late", "/presence/topic/room")
	expectSnapshot(late, "/presence/topic/room", Member{"bob", "bob"})
	w.expectNothing(50 * time.Millisecond)
	// Watching makes no destination: stompd_destinations has no presence kind.
	if n := testutil.CollectAndCount(h.m.Destinations); n != 3 {
		t.Errorf("stompd_destinations has %d kinds, want 3: topic, queue and user", n)
	}
}

// TestPresenceCountsAUserOnceAndLeavesAfterItsLastSession: two sessions
// of alice count once, and she leaves only when the last subscription of
// the last one goes (UNSUBSCRIBE, DISCONNECT, then a lost connection);
// bob leaves when his session is cut.
func TestPresenceCountsAUserOnceAndLeavesAfterItsLastSession(t *testing.T) {
	h := newHarness(t, Options{})
	w := h.watch(t, "watcher", "/presence/topic/room")
	expectSnapshot(w, "/presence/topic/room")

	first := h.subscriber(t, "alice", "/topic/room")
	expectEvent(w, "/presence/topic/room", "join", "alice", "alice")
	second := h.subscriber(t, "alice", "/topic/room")
	second.write(frame("SUBSCRIBE", "", "id:2", "destination:/topic/room", "receipt:s2"))
	second.expect("RECEIPT", "receipt-id:s2")

	first.write(frame("DISCONNECT", "", "receipt:d"))
	first.expect("RECEIPT", "receipt-id:d")
	second.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u"))
	second.expect("RECEIPT", "receipt-id:u")
	w.expectNothing(100 * time.Millisecond)

	second.Conn.Close() // connection lost: its last subscription goes with it
	expectEvent(w, "/presence/topic/room", "leave", "alice", "alice")
	if got := value(t, h.m.PresenceMembers); got != 0 {
		t.Errorf("presence_members %v after everyone left, want 0", got)
	}

	cut := h.subscriber(t, "bob", "/topic/room")
	expectEvent(w, "/presence/topic/room", "join", "bob", "bob")
	h.b.CloseSessions(func(id Identity) bool { return id.Subject == "bob" }, CodeSessionRevoked, "session revoked")
	cut.expectError(CodeSessionRevoked, "session revoked")
	expectEvent(w, "/presence/topic/room", "leave", "bob", "bob")
}

// namedGrant lets everyone in as the subject its login names, shown as
// "Name of <subject>", and refuses every SUBSCRIBE to /topic/secret.
type namedGrant struct {
	mu   sync.Mutex
	seen []string // destinations of the SUBSCRIBEs asked about
}

func (g *namedGrant) Authorize(_ context.Context, r Request) (Identity, error) {
	switch r.Action {
	case ActionConnect:
		return Identity{Subject: r.Login, Name: "Name of " + r.Login}, nil
	case ActionSubscribe:
		g.mu.Lock()
		g.seen = append(g.seen, r.Destination)
		g.mu.Unlock()
		if r.Destination == "/topic/secret" {
			return Identity{}, denied(CodeForbidden)
		}
	}
	return r.Session, nil
}

func TestPresenceShowsNamesAndIsAuthorizedAsItsTopic(t *testing.T) {
	g := &namedGrant{}
	h := newHarness(t, Options{Authorizer: g})
	h.subscriber(t, "alice", "/topic/room")
	w := h.watch(t, "watcher", "/presence/topic/room")
	expectSnapshot(w, "/presence/topic/room", Member{"alice", "Name of alice"})
	h.subscriber(t, "bob", "/topic/room")
	expectEvent(w, "/presence/topic/room", "join", "bob", "Name of bob")

	c := h.connect(t, "mallory")
	c.write(frame("SUBSCRIBE", "", "id:p", "destination:/presence/topic/secret", "receipt:w"))
	c.expectError(CodeForbidden, "/presence/topic/secret shows who reads /topic/secret, and so needs the right to read it: denied by test")
	g.mu.Lock()
	defer g.mu.Unlock()
	if last := g.seen[len(g.seen)-1]; last != "/topic/secret" {
		t.Errorf("the Authorizer was asked about %q, want /topic/secret", last)
	}
}

func TestPresenceRefusesSendsAndOtherDestinations(t *testing.T) {
	h := newHarness(t, Options{})
	tests := []struct{ cmd, dest, code, msg string }{
		{"SEND", "/presence/topic/room", CodeForbidden, "presence destinations are read-only"},
		{"SUBSCRIBE", "/presence/queue/work", CodeProtocolError, "use /presence/topic/<name>"},
		{"SUBSCRIBE", "/presence/topic/", CodeProtocolError, "use /presence/topic/<name>"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+tt.dest, func(t *testing.T) {
			c := h.connect(t, "alice")
			c.write(frame(tt.cmd, "", "id:p", "destination:"+tt.dest))
			c.expectError(tt.code, tt.msg)
		})
	}
}

// TestPresenceSnapshotAndEventsAgreeUnderChurn subscribes to a topic's
// presence again and again while users join and leave it: each presence
// subscriber's snapshot followed by its events must never join a member
// shown already nor leave one not shown, and must end on the members left.
func TestPresenceSnapshotAndEventsAgreeUnderChurn(t *testing.T) {
	h := newHarness(t, Options{})
	const dest, users, rounds = "/presence/topic/churn", 8, 20
	var wg sync.WaitGroup
	for u := range users {
		login := fmt.Sprintf("u%d", u)
		c := h.connect(t, login)
		wg.Go(func() {
			for i := range rounds {
				c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/churn"))
				c.write(frame("UNSUBSCRIBE", "", "id:1", fmt.Sprintf("receipt:%d", i)))
				c.expect("RECEIPT")
			}
			if u%2 == 0 {
				c.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/churn", "receipt:last"))
				c.expect("RECEIPT", "receipt-id:last")
			}
		})
	}
	var watchers []*client
	for i := range 6 {
		watchers = append(watchers, h.watch(t, fmt.Sprintf("w%d", i), dest))
	}
	wg.Wait()
	want := map[string]bool{}
	for u := 0; u < users; u += 2 {
		want[fmt.Sprintf("u%d", u)] = true
	}
	for i, w := range watchers {
		replay(t, i, w, dest, want)
	}
}

// replay applies w's snapshot and events until they show want.
func replay(t *testing.T, i int, w *client, dest string, want map[string]bool) {
	t.Helper()
	shown := map[string]bool{}
	for _, m := range expectPresence(w, dest).Members {
		shown[m.Sub] = true
	}
	for !maps.Equal(shown, want) {
		b := expectPresence(w, dest)
		if shown[b.Sub] == (b.Event == "join") {
			t.Fatalf("watcher %d: %s of %s while showing %v", i, b.Event, b.Sub, shown)
		}
		if b.Event == "join" {
			shown[b.Sub] = true
		} else {
			delete(shown, b.Sub)
		}
	}
}

// fakePresence records what the broker tells a cluster's Presence, and
// lets the test say when a Watch is answered.
type fakePresence struct {
	mu      sync.Mutex
	sets    []string // "dest sub count"
	watched map[string]chan struct{}
}

func (f *fakePresence) Set(dest string, m Member, count int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, fmt.Sprintf("%s %s %d", dest, m.Sub, count))
}

func (f *fakePresence) Watch(dest string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ready := make(chan struct{})
	f.watched[dest] = ready
	return ready
}

func (f *fakePresence) Unwatch(dest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, dest)
}

// answer waits for dest to be watched, then shows members as its members
// and tells the broker so.
func (f *fakePresence) answer(t *testing.T, b *Broker, dest string, members ...Member) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		f.mu.Lock()
		ready := f.watched[dest]
		f.mu.Unlock()
		if ready != nil {
			b.SetMembers(dest, members)
			close(ready)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never watched", dest)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPresenceInAClusterShowsWhatThePresenceSays(t *testing.T) {
	f := &fakePresence{watched: map[string]chan struct{}{}}
	h := newHarness(t, Options{Presence: f})
	alice := h.subscriber(t, "alice", "/topic/room")
	alice.write(frame("SUBSCRIBE", "", "id:2", "destination:/topic/room", "receipt:s2"))
	alice.expect("RECEIPT", "receipt-id:s2")
	alice.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:u"))
	alice.expect("RECEIPT", "receipt-id:u")

	w := h.connect(t, "watcher")
	w.write(frame("SUBSCRIBE", "", "id:p", "destination:/presence/topic/room", "receipt:w"))
	f.answer(t, h.b, "/topic/room", Member{"alice", "alice"}, Member{"zed", "Zed"})
	w.expect("RECEIPT", "receipt-id:w")
	expectSnapshot(w, "/presence/topic/room", Member{"alice", "alice"}, Member{"zed", "Zed"})

	h.b.MemberChanged("/topic/room", Member{"zed", "Zed"}, true) // shown already
	h.b.MemberChanged("/topic/room", Member{"yan", "Yan"}, true)
	expectEvent(w, "/presence/topic/room", "join", "yan", "Yan")
	h.b.SetMembers("/topic/room", []Member{{"yan", "Yan"}})
	expectEvent(w, "/presence/topic/room", "leave", "alice", "alice")
	expectEvent(w, "/presence/topic/room", "leave", "zed", "Zed")
	h.b.MemberChanged("/topic/unwatched", Member{"yan", "Yan"}, true)
	w.expectNothing(50 * time.Millisecond)

	f.mu.Lock()
	defer f.mu.Unlock()
	want := []string{"/topic/room alice 1", "/topic/room alice 2", "/topic/room alice 1"}
	if fmt.Sprint(f.sets) != fmt.Sprint(want) {
		t.Errorf("Set calls %q, want %q", f.sets, want)
	}
}

// TestSlowPresenceSubscriberIsCut has a presence subscriber stop reading
// while a user with a long name joins and leaves a topic again and again:
// it is cut as a slow consumer once its pending bytes pass the bound, and
// the user's session goes on.
func TestSlowPresenceSubscriberIsCut(t *testing.T) {
	h := newHarness(t, Options{MaxPendingBytes: 64 << 10, WriteTimeout: wait})
	slow := h.dial(t)
	slow.Conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	slow.write(frame("CONNECT", "", "accept-version:1.2", "host:h", "login:slow"))
	slow.expect("CONNECTED")
	slow.write(frame("SUBSCRIBE", "", "id:p", "destination:/presence/topic/busy", "receipt:w"))
	slow.expect("RECEIPT", "receipt-id:w")
	expectSnapshot(slow, "/presence/topic/busy")

	churn := h.connect(t, "u-"+strings.Repeat("x", 4000))
	for round := 0; value(t, h.m.SlowConsumerDisconnects) == 0; round++ {
		if round == 20000 {
			t.Fatal("the stalled presence subscriber was not cut")
		}
		churn.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/busy"))
		churn.write(frame("UNSUBSCRIBE", "", "id:1", "receipt:"+strconv.Itoa(round)))
		churn.expect("RECEIPT")
	}
	churn.write(frame("SUBSCRIBE", "", "id:1", "destination:/topic/busy", "receipt:still"))
	churn.expect("RECEIPT", "receipt-id:still")
}
