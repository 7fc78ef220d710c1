package redisstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestThrottleCountsSharedAcrossNodes: five wrong passwords for one
// account from one address, some on node A and some on B, lock that pair
// on both, even for the right password; Unlock on Redis (what `stompd
// user unlock --redis` does) clears it for every node.
func TestThrottleCountsSharedAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)
	mustAddUser(t, a.store, "alice@example.com")
	wrong := map[string]string{"email": "alice@example.com", "password": "wrong"}
	for i, n := range []*node{a, b, a, b, a} {
		if s, _ := n.post(t, "/auth/login", "", wrong); s != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, s)
		}
	}
	right := map[string]string{"email": "alice@example.com", "password": password}
	for name, n := range map[string]*node{"A": a, "B": b} {
		if s, out := n.post(t, "/auth/login", "", right); s != http.StatusTooManyRequests || out.Error != "too_many_attempts" {
			t.Errorf("node %s after 5 failures on A and B: %d %s, want 429 too_many_attempts", name, s, out.Error)
		}
	}
	admin := New(redistest.Client(t, r.URL()), Options{})
	n, err := admin.Unlock(auth.AccountKey("alice@example.com"), auth.ThrottleLimits{Window: auth.DefaultThrottleWindow}, admin.opts.Now())
	if err != nil || n != 5 {
		t.Errorf("Unlock: %d, %v; want 5 failures forgotten", n, err)
	}
	b.login(t, "alice@example.com")
}

// TestThrottleBurstAcrossNodes sends 20 wrong passwords for one pair at
// once over two nodes: the check and the count being one step, exactly 5
// reach the password check (401) and the others are refused (429).
func TestThrottleBurstAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*node{startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)}
	mustAddUser(t, nodes[0].store, "alice@example.com")
	count := burstAcrossNodes(t, nodes, 20, "wrong")
	if count[http.StatusUnauthorized] != auth.DefaultAccountAddressFailures || count[http.StatusTooManyRequests] != 20-auth.DefaultAccountAddressFailures {
		t.Errorf("statuses %v; want %d × 401 and the rest 429", count, auth.DefaultAccountAddressFailures)
	}
}

// TestRightBurstAcrossNodes sends 12 right passwords for one pair at once
// over two nodes: more are in flight at once than the pair may fail, yet
// none failed, so every one logs in.
func TestRightBurstAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*node{startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)}
	mustAddUser(t, nodes[0].store, "alice@example.com")
	if count := burstAcrossNodes(t, nodes, 12, password); count[http.StatusOK] != 12 {
		t.Errorf("statuses %v; want 12 × 200", count)
	}
}

// burstAcrossNodes sends n logins for alice with pw at once, in turn to
// each of nodes, and counts their statuses.
func burstAcrossNodes(t *testing.T, nodes []*node, n int, pw string) map[int]int {
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			statuses[i], _ = nodes[i%len(nodes)].post(t, "/auth/login", "", map[string]string{"email": "alice@example.com", "password": pw})
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	return count
}

// TestStaleAttemptsInFlightCountAsFailures: attempts reserved and never
// settled, as by a node that died during the password check, hold the
// rest of the limit at first and count as failures once stale.
func TestStaleAttemptsInFlightCountAsFailures(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	l := auth.ThrottleLimits{Pair: 5, Address: 30, Account: 50, Window: auth.DefaultThrottleWindow}
	acc, addr, now := auth.AccountKey("alice@example.com"), [32]byte{1}, s.opts.Now()
	for range 5 {
		if _, _, err := s.Reserve(acc, addr, l, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Reserve(acc, addr, l, now); !errors.Is(err, auth.ErrAttemptsInFlight) {
		t.Errorf("with 5 attempts in flight: %v, want ErrAttemptsInFlight", err)
	}
	later := now.Add(inFlightStale)
	if _, wait, err := s.Reserve(acc, addr, l, later); err != nil || wait != auth.DefaultThrottleWindow-inFlightStale {
		t.Errorf("once they are stale: wait %v, %v; want %v", wait, err, auth.DefaultThrottleWindow-inFlightStale)
	}
}

// TestThrottleWithoutAccountLimitOnRedis: the Redis throttle, under a
// client's limits (Account 0), neither checks nor counts the account: 12
// addresses with 5 failures each lock themselves only, and Unlock (what
// `stompd client unlock --redis` does) forgets the failures of every pair.
func TestThrottleWithoutAccountLimitOnRedis(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	l := auth.ThrottleLimits{Pair: 5, Address: 30, Window: auth.DefaultThrottleWindow}
	acc, now := auth.ClientAccountKey("billing"), s.opts.Now()
	addr := func(i int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "10.0.0.%d", i)) }
	for i := range 65 {
		a, wait, err := s.Reserve(acc, addr(i/5), l, now)
		if err != nil || wait != 0 {
			t.Fatalf("failure %d: wait %v, %v", i+1, wait, err)
		}
		if err := s.Settle(a, auth.Failed); err != nil {
			t.Fatal(err)
		}
	}
	if _, wait, _ := s.Reserve(acc, addr(0), l, now); wait == 0 {
		t.Error("a pair with 5 failures was let in")
	}
	n, err := s.Unlock(acc, l, now)
	if err != nil || n != 65 {
		t.Errorf("Unlock: %d, %v; want the 65 failures of its pairs", n, err)
	}
	if _, wait, err := s.Reserve(acc, addr(0), l, now); err != nil || wait != 0 {
		t.Errorf("a pair after Unlock: wait %v, %v", wait, err)
	}
}
