package redisstore

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// TestMain checks for leaked goroutines (see redistest.VerifyNoLeaks).
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }

// TestRotationRaceAcrossThreeNodes rotates one refresh token 50 times at
// once, spread over three nodes with their own Redis clients: at most one
// rotation succeeds, the reuse revokes the family (the winner's new token
// no longer rotates), and every node ends the login's sessions within a
// second.
func TestRotationRaceAcrossThreeNodes(t *testing.T) {
	r := redistest.Start(t)
	nodes := []*node{startNode(t, r.URL(), nil), startNode(t, r.URL(), nil), startNode(t, r.URL(), nil)}
	mustAddUser(t, nodes[0].store, "alice@example.com")
	tk := nodes[0].login(t, "alice@example.com")
	c, err := nodes[0].svc.VerifyAccess(tk.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	statuses := make([]int, 50)
	winners := make([]string, 50)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			var out tokens
			statuses[i], out = nodes[i%3].post(t, "/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken})
			winners[i] = out.RefreshToken
		})
	}
	wg.Wait()
	ok := 0
	var winner string
	for i, s := range statuses {
		if s == http.StatusOK {
			ok, winner = ok+1, winners[i]
		} else if s != http.StatusUnauthorized {
			t.Errorf("rotation %d: status %d, want 200 or 401", i, s)
		}
	}
	t.Logf("50 concurrent rotations over 3 nodes: %d succeeded", ok)
	if ok > 1 {
		t.Fatalf("%d rotations of one token succeeded, want at most 1", ok)
	}
	if winner != "" {
		if s, _ := nodes[1].post(t, "/auth/refresh", "", map[string]string{"refresh_token": winner}); s != http.StatusUnauthorized {
			t.Errorf("the winner's token after the reuse: status %d, want 401 (family revoked)", s)
		}
	}
	for i, n := range nodes {
		if !within(time.Second, func() bool { return n.loggedOut(c.SID) }) {
			t.Errorf("node %d: the reused login's sessions not ended within 1 s", i)
		}
		if _, err := n.svc.VerifyAccess(tk.AccessToken); err == nil {
			t.Errorf("node %d still accepts the reused login's access token", i)
		}
	}
}

// TestRefreshKeysExpireWithTheirTokens: Redis sweeps refresh tokens and
// families itself, each key expiring when what it holds does.
func TestRefreshKeysExpireWithTheirTokens(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	now := time.Now()
	h := [32]byte{1}
	rt, err := s.CreateRefresh(h, "u1", now.Add(time.Hour), now.Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Time{
		refreshKey(h):                rt.Expires,
		authTag + "fam:" + rt.Family: rt.Expires,
		authTag + "ufam:u1":          rt.Expires,
	} {
		got, err := r.Do("PEXPIRETIME", key)
		if err != nil || got != strconv.FormatInt(want.UnixMilli(), 10) {
			t.Errorf("%s expires at %s (%v), want %d", key, got, err, want.UnixMilli())
		}
	}
	if _, err := s.CreateRefresh([32]byte{2}, "u1", now.Add(-time.Second), now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupRefresh([32]byte{2}); err != auth.ErrRefreshNotFound {
		t.Errorf("an expired token: %v, want ErrRefreshNotFound (Redis dropped it)", err)
	}
}

// TestRefreshStoreCases goes through a family's life on Redis: rotation,
// reuse (family revoked, sid denied and published), revocation.
func TestRefreshStoreCases(t *testing.T) {
	r := redistest.Start(t)
	s := New(redistest.Client(t, r.URL()), Options{})
	now := time.Now()
	exp, acc := now.Add(time.Hour), now.Add(15*time.Minute)
	a, b, c := [32]byte{1}, [32]byte{2}, [32]byte{3}
	first, err := s.CreateRefresh(a, "u1", exp, acc)
	if err != nil {
		t.Fatal(err)
	}
	next, err := s.RotateRefresh(a, b, exp, acc)
	if err != nil || next.Family != first.Family || next.UserID != "u1" || next.Hash != b {
		t.Fatalf("rotation: %+v, %v", next, err)
	}
	if got, err := s.LookupRefresh(a); err != nil || got.Family != first.Family {
		t.Errorf("a rotated token is still found: %+v, %v", got, err)
	}
	if _, err := s.RotateRefresh(a, c, exp, acc); err != auth.ErrRefreshReused {
		t.Fatalf("reuse: %v, want ErrRefreshReused", err)
	}
	if _, err := s.RotateRefresh(b, c, exp, acc); err != auth.ErrRefreshRevoked {
		t.Errorf("the live token after a reuse: %v, want ErrRefreshRevoked", err)
	}
	denied, err := s.Denied()
	if err != nil || denied[first.Family].UnixMilli() != acc.UnixMilli() {
		t.Errorf("denials after the reuse: %v, %v; want the sid until %v", denied, err, acc)
	}
	if _, err := s.RotateRefresh([32]byte{9}, c, exp, acc); err != auth.ErrRefreshNotFound {
		t.Errorf("unknown token: %v", err)
	}
	if err := s.RevokeFamily("nope"); err != auth.ErrRefreshNotFound {
		t.Errorf("revoking an unknown family: %v", err)
	}
}
